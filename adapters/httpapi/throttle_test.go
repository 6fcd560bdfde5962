package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

const resend = "/api/v1/accounts/resend-verification/"

func TestThrottledErrorIs429WithDRFsMessageAndRetryAfter(t *testing.T) {
	for wait, want := range map[time.Duration]struct {
		retryAfter int
		body       string
	}{
		1500 * time.Millisecond: {2, `{"detail":"Request was throttled. Expected available in 2 seconds."}`},
		time.Second:             {1, `{"detail":"Request was throttled. Expected available in 1 second."}`},
		12 * time.Minute:        {720, `{"detail":"Request was throttled. Expected available in 720 seconds."}`},
	} {
		// Use cases may wrap it; the mapping looks inside.
		f := mapError(fmt.Errorf("login: %w", &core.ThrottledError{Wait: wait}))
		if f.status != http.StatusTooManyRequests || f.retryAfter != want.retryAfter || f.internal {
			t.Errorf("wait %v: %+v", wait, f)
		}
		if got := string(encodeJSON(f.body)); got != want.body {
			t.Errorf("wait %v: body %s, want %s", wait, got, want.body)
		}
	}
}

func TestClientAddressHonoursXForwardedForOnlyFromTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies configured: header ignored", nil, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"untrusted peer: header ignored", []string{"10.0.0.0/8"}, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer: its entry is the client", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written entries left of it are not believed", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies is skipped", []string{"10.0.0.0/8", "192.168.1.1"}, "10.1.2.3:4000",
			[]string{"1.2.3.4, 203.0.113.9, 192.168.1.1", "10.9.9.9"}, "203.0.113.9"},
		{"every hop trusted: the leftmost", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"10.0.0.7, 10.0.0.8"}, "10.0.0.7"},
		{"garbage stops the walk at the last trusted hop", []string{"10.0.0.0/8"}, "10.1.2.3:4000", []string{"203.0.113.9, not-an-ip, 10.0.0.8"}, "10.0.0.8"},
		{"no header: the peer", []string{"10.0.0.0/8"}, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"entries with ports and IPv6", []string{"::1"}, "[::1]:4000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"IPv4 entry with a port", []string{"127.0.0.1"}, "127.0.0.1:4000", []string{"203.0.113.9:55000"}, "203.0.113.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := testSettings()
			s.TrustedProxies = c.trusted
			srv, err := New(s.Settings, s.Config, UseCases{}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, login, nil)
			req.RemoteAddr = c.peer
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := srv.clientAddr(req); got != c.want {
				t.Errorf("client address %q, want %q", got, c.want)
			}
		})
	}
	s := testSettings()
	s.TrustedProxies = []string{"load-balancer"}
	if _, err := New(s.Settings, s.Config, UseCases{}, nil, nil); err == nil {
		t.Error("New accepted a TRUSTED_PROXIES entry that is not an address")
	}
}

// countingLimiter allows the first limit requests per key and refuses the
// rest with a wait of 1.5 s.
type countingLimiter struct {
	mu    sync.Mutex
	limit int
	seen  map[string]int
}

func (l *countingLimiter) Allow(_ context.Context, key string, _ core.Rate) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	if l.seen[key] >= l.limit {
		return false, 1500 * time.Millisecond, nil
	}
	l.seen[key]++
	return true, 0, nil
}

// newThrottledServer serves the login and resend use cases with a limiter
// that lets limit requests per key through; only the per-IP rates are on.
func newThrottledServer(t *testing.T, limit int, configure func(*testConfig)) *Server {
	t.Helper()
	s := testSettings()
	s.ThrottleLoginAccount, s.ThrottleResendAccount = "off", "off"
	if configure != nil {
		configure(&s)
	}
	uc := realUseCases(s.Settings, realPorts{
		Store: &fakeStore{find: func(context.Context, core.LookupField, string) (core.User, error) {
			return core.User{}, core.ErrNotFound
		}},
		Hasher:  fakeHasher{},
		Limiter: &countingLimiter{limit: limit},
	})
	srv, err := New(s.Settings, s.Config, UseCases{Login: uc.Login, Resend: uc.Resend}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestThrottledRequestsAnswer429(t *testing.T) {
	ts := testServer{Server: newThrottledServer(t, 2, nil)}
	body := `{"login":"ann","password":"wrong"}`
	for range 2 {
		assertJSON(t, ts.do(http.MethodPost, login, ctJSON, body), 400, `{"detail":"Login or password invalid."}`)
	}
	rec := ts.do(http.MethodPost, login, ctJSON, body)
	assertJSON(t, rec, 429, `{"detail":"Request was throttled. Expected available in 2 seconds."}`)
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2", got)
	}
	// Resend counts separately (its own rule) and throttles the same way.
	for range 2 {
		ts.do(http.MethodPost, resend, ctJSON, `{"login":"ann"}`)
	}
	assertJSON(t, ts.do(http.MethodPost, strings.TrimSuffix(resend, "/"), ctJSON, `{"login":"ann"}`), 429,
		`{"detail":"Request was throttled. Expected available in 2 seconds."}`)
}

// Behind a trusted proxy each client is counted on its own address; a
// client talking to the server directly cannot pick one.
func TestPerIPLimitFollowsTheTrustedProxysHeader(t *testing.T) {
	send := func(srv *Server, peer, xff string) int {
		req := httptest.NewRequest(http.MethodPost, login, strings.NewReader(`{"login":"ann","password":"x"}`))
		req.Header.Set("Content-Type", ctJSON)
		req.Header.Set("X-Forwarded-For", xff)
		req.RemoteAddr = peer
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	proxied := newThrottledServer(t, 1, func(s *testConfig) { s.TrustedProxies = []string{"10.0.0.1"} })
	for _, client := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		if code := send(proxied, "10.0.0.1:5000", client); code != 400 {
			t.Fatalf("first request of %s through the proxy: %d", client, code)
		}
	}
	if code := send(proxied, "10.0.0.1:5000", "203.0.113.1"); code != 429 {
		t.Fatalf("second request of 203.0.113.1 through the proxy: %d, want 429", code)
	}

	direct := newThrottledServer(t, 1, func(s *testConfig) { s.TrustedProxies = []string{"10.0.0.1"} })
	if code := send(direct, "198.51.100.7:5000", "203.0.113.1"); code != 400 {
		t.Fatalf("first direct request: %d", code)
	}
	if code := send(direct, "198.51.100.7:5000", "203.0.113.2"); code != 429 {
		t.Fatalf("a direct client forging X-Forwarded-For got %d, want 429", code)
	}
}

func TestResendVerificationAnswers(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	want := `{"detail":"If the account exists and is not verified, a new verification e-mail has been sent."}`
	assertJSON(t, ts.do(http.MethodPost, resend, ctJSON, `{"login":"nobody@example.com"}`), 200, want)
	assertJSON(t, ts.do(http.MethodPost, strings.TrimSuffix(resend, "/"), "application/x-www-form-urlencoded", `login=nobody`), 200, want)
	assertJSON(t, ts.do(http.MethodPost, resend, ctJSON, `{}`), 400, `{"login":["This field is required."]}`)
	assertJSON(t, ts.do(http.MethodPost, resend, ctJSON, `{"login":null}`), 400, `{"login":["This field may not be null."]}`)
	rec := ts.do(http.MethodGet, resend, "", "")
	assertJSON(t, rec, 405, `{"detail":"Method \"GET\" not allowed."}`)
	if rec.Header().Get("Allow") != "POST, OPTIONS" {
		t.Errorf("Allow %q", rec.Header().Get("Allow"))
	}

	for name, configure := range map[string]func(*testConfig){
		"RESEND_VERIFICATION_ENABLED=false":   func(s *testConfig) { s.ResendVerificationEnabled = false },
		"REGISTER_VERIFICATION_ENABLED=false": func(s *testConfig) { s.RegisterVerificationEnabled = false },
	} {
		off := newTestServer(t, configure, nil, nil)
		assertJSON(t, off.do(http.MethodPost, resend, ctJSON, `{"login":"ann"}`), 404, `{"detail":"Not found."}`)
		assertJSON(t, off.do(http.MethodPost, resend, ctJSON, `[]`), 404, `{"detail":"Not found."}`)
		if t.Failed() {
			t.Fatalf("with %s", name)
		}
	}
}

// countingHasher counts password checks.
type countingHasher struct {
	fakeHasher
	checks atomic.Int64
}

func (h *countingHasher) Check(ctx context.Context, password, encoded string) (bool, bool, error) {
	h.checks.Add(1)
	return h.fakeHasher.Check(ctx, password, encoded)
}

// An unknown login costs a password check like a known one, so the time of
// the answer does not tell which logins exist.
func TestUnknownLoginCostsAPasswordCheck(t *testing.T) {
	hasher := &countingHasher{}
	s := testSettings()
	uc := realUseCases(s.Settings, realPorts{
		Store: &fakeStore{find: func(_ context.Context, field core.LookupField, key string) (core.User, error) {
			if field == core.ByUsernameKey && key == "ann" {
				return core.User{ID: "u1", Username: "ann", IsActive: true, PasswordHash: "stored"}, nil
			}
			return core.User{}, core.ErrNotFound
		}},
		Hasher: hasher,
		Tokens: fakeTokens{},
	})
	srv, err := New(s.Settings, s.Config, UseCases{Login: uc.Login}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := testServer{Server: srv}
	for _, c := range []struct {
		body   string
		status int
	}{
		{`{"login":"ann","password":"right"}`, 200},
		{`{"login":"ann","password":"wrong"}`, 400},
		{`{"login":"nobody","password":"right"}`, 400},
		{`{"login":"nobody@example.com","password":"wrong"}`, 400},
	} {
		before := hasher.checks.Load()
		rec := ts.do(http.MethodPost, login, ctJSON, c.body)
		if rec.Code != c.status {
			t.Fatalf("%s: %d %s", c.body, rec.Code, rec.Body)
		}
		if n := hasher.checks.Load() - before; n != 1 {
			t.Errorf("%s: %d password checks, want 1", c.body, n)
		}
	}
}

func TestOpenAPIDocuments429WithRetryAfter(t *testing.T) {
	docs, err := OpenAPI(testSettings().Settings, testSettings().Config)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Responses map[string]struct {
				Headers map[string]any `json:"headers"`
				Content map[string]struct {
					Examples map[string]struct {
						Value map[string]string `json:"value"`
					} `json:"examples"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(docs.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	r, ok := doc.Components.Responses["TooManyRequests"]
	if !ok || r.Headers["Retry-After"] == nil {
		t.Fatalf("TooManyRequests response missing or without Retry-After: %+v", r)
	}
	ex := r.Content["application/json"].Examples["throttled"].Value["detail"]
	if ex != "Request was throttled. Expected available in 37 seconds." {
		t.Errorf("429 example %q", ex)
	}
}
