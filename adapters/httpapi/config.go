package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/restreg/restreg/core"
)

// Config is the shape of the HTTP contract the Server serves: where the
// account operations live, how large a body may be, which browser origins
// may call them, and whose X-Forwarded-For header names the client.
type Config struct {
	// BasePath is the path the account operations live under.
	BasePath string `setting:"BASE_PATH"`
	// MaxBodyBytes bounds a request body; larger ones are answered 413.
	MaxBodyBytes int64 `setting:"MAX_BODY_BYTES"`
	// CORSAllowedOrigins are the browser origins allowed to call the API.
	CORSAllowedOrigins []string `setting:"CORS_ALLOWED_ORIGINS"`
	// CORSAllowCredentials lets those origins send cookies and credentials.
	CORSAllowCredentials bool `setting:"CORS_ALLOW_CREDENTIALS"`
	// TrustedProxies are the addresses (IPs and CIDR ranges) whose
	// X-Forwarded-For header is believed.
	TrustedProxies []string `setting:"TRUSTED_PROXIES"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{BasePath: "/api/v1/accounts", MaxBodyBytes: 65536}
}

// Validate returns one error per problem (joined), each a single line that
// names the setting; nil when New accepts c.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, err := core.ParsePrefixes(c.TrustedProxies); err != nil {
		add("TRUSTED_PROXIES: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if !strings.HasPrefix(c.BasePath, "/") || strings.ContainsAny(c.BasePath, " ?#") {
		add("BASE_PATH must be a path starting with / (got %q)", c.BasePath)
	}
	if c.MaxBodyBytes < 1024 {
		add("MAX_BODY_BYTES must be at least %d (got %d)", 1024, c.MaxBodyBytes)
	}
	for _, o := range c.CORSAllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			add("CORS_ALLOWED_ORIGINS entry %q must be an origin like https://app.example.com", o)
		}
	}
	return errors.Join(errs...)
}
