package httpapi

import (
	"strings"
	"testing"
)

func TestDefaultConfigIsDocumented(t *testing.T) {
	c := DefaultConfig()
	if c.BasePath != "/api/v1/accounts" || c.MaxBodyBytes != 65536 || len(c.CORSAllowedOrigins) != 0 || c.CORSAllowCredentials || len(c.TrustedProxies) != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

func TestConfigValidateNamesEachProblemOnOneLine(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"base path":   {func(c *Config) { c.BasePath = "api" }, `BASE_PATH must be a path starting with / (got "api")`},
		"query":       {func(c *Config) { c.BasePath = "/api?x=1" }, `BASE_PATH must be a path starting with / (got "/api?x=1")`},
		"body size":   {func(c *Config) { c.MaxBodyBytes = 10 }, "MAX_BODY_BYTES must be at least 1024 (got 10)"},
		"cors origin": {func(c *Config) { c.CORSAllowedOrigins = []string{"app.example.com"} }, `CORS_ALLOWED_ORIGINS entry "app.example.com" must be an origin like https://app.example.com`},
		"cors path":   {func(c *Config) { c.CORSAllowedOrigins = []string{"https://app.example.com/login"} }, `CORS_ALLOWED_ORIGINS entry "https://app.example.com/login" must be an origin like https://app.example.com`},
		"proxies":     {func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "lb.internal"} }, `TRUSTED_PROXIES: "lb.internal" is not an IP address or CIDR range`},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || lines[0] != tc.want {
				t.Fatalf("problems = %q, want exactly %q", lines, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.BasePath, c.MaxBodyBytes = "/", 1024
	c.CORSAllowedOrigins, c.CORSAllowCredentials = []string{"https://app.example.com", "http://localhost:3000/"}, true
	c.TrustedProxies = []string{"10.0.0.0/8", "::1"}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid settings rejected: %v", err)
	}
}
