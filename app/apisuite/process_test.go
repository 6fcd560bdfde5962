package apisuite

import (
	"maps"
	"testing"
)

// A process-based run passes every changed setting, also those of the
// adapters' Configs, and nothing left at its default.
func TestSettingsEnvNamesEveryChangedSettingAtAnyDepth(t *testing.T) {
	s := DefaultSettings()
	s.RegisterVerificationOneTimeUse = true
	s.HTTP.CORSAllowedOrigins = []string{AllowedOrigin, "http://localhost:3000"}
	s.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
	s.Hashing.Argon2idMemoryKiB = 64
	s.RateLimitBackend = "off"
	got, err := settingsEnv(s)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"REGISTER_VERIFICATION_ONE_TIME_USE": "true",
		"CORS_ALLOWED_ORIGINS":               AllowedOrigin + ",http://localhost:3000",
		"TRUSTED_PROXIES":                    "127.0.0.0/8",
		"ARGON2ID_MEMORY_KIB":                "64",
		"RATE_LIMIT_BACKEND":                 "off",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("settingsEnv = %v, want %v", got, want)
	}
}
