package restreg_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
)

// BenchmarkProfileVsHealthz measures, inside the server's handler (no
// client, no network), authenticated GET profile/ — the token check every
// authenticated request makes, one store read — next to GET /healthz, a
// trivial handler of the same server, on SQLite. The ratio of the two
// ns/op is the server's share of what the load tool's profile scenario
// shows.
func BenchmarkProfileVsHealthz(b *testing.B) {
	s := restreg.DefaultConfig()
	s.SecretKey = apisuite.SecretKey
	s.ListenAddr = "127.0.0.1:0"
	s.Store = "sqlite"
	s.DataDir = b.TempDir()
	s.MailBackend = "console"
	s.RateLimitBackend = "off"
	s.RegisterVerificationEnabled = false
	s.LogLevel = "warn"
	s.Hashing.Argon2idMemoryKiB, s.Hashing.Argon2idIterations = 64, 1
	var srv *httpapi.Server
	startT(b, s, fx.Populate(&srv))

	// net/http gives every request a context that ends with its connection.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call := func(method, path, body, authorization string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	if rec := call(http.MethodPost, "/api/v1/accounts/register/", `{"username": "bench", "email": "bench@example.com", "password": "violet-Anchor-7412", "password_confirm": "violet-Anchor-7412"}`, ""); rec.Code != http.StatusCreated {
		b.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	rec := call(http.MethodPost, "/api/v1/accounts/login/", `{"login": "bench", "password": "violet-Anchor-7412"}`, "")
	var login struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || login.Token == "" {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}

	for _, c := range []struct{ name, path, authorization string }{
		{"healthz", "/healthz", ""},
		{"profile", "/api/v1/accounts/profile/", "Token " + login.Token},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rec := call(http.MethodGet, c.path, "", c.authorization); rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", c.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
