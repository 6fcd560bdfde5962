package httpapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// drfTokenVectors is core/testdata/drf-token-vectors.json: how Django REST
// framework 3.14's TokenAuthentication answers Authorization headers.
type drfTokenVectors struct {
	Meta struct {
		Fixture struct {
			Tokens []struct {
				Key      string `json:"key"`
				User     string `json:"user"`
				IsActive bool   `json:"is_active"`
			} `json:"tokens"`
		} `json:"fixture"`
	} `json:"meta"`
	Vectors []struct {
		ID            string  `json:"id"`
		HeaderPresent bool    `json:"header_present"`
		HeaderHex     *string `json:"header_bytes_hex"`
		View          struct {
			Status          int               `json:"status"`
			WWWAuthenticate *string           `json:"www_authenticate"`
			Body            map[string]string `json:"body"`
		} `json:"view"`
	} `json:"vectors"`
}

// authServer is a server over the in-memory store whose users and tokens
// are the vector file's fixture (alice active, bob inactive).
type authServer struct {
	*Server
	store *memstore.Store
	// keys maps a username to its token key.
	keys map[string]string
	// users maps a username to its id.
	users map[string]string
}

func newAuthServer(t testing.TB, configure func(*testConfig)) (authServer, drfTokenVectors) {
	t.Helper()
	raw, err := os.ReadFile("../../core/testdata/drf-token-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors drfTokenVectors
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	s := testSettings()
	if configure != nil {
		configure(&s)
	}
	store := memstore.New()
	a := authServer{store: store, keys: map[string]string{}, users: map[string]string{}}
	ctx := context.Background()
	for i, tok := range vectors.Meta.Fixture.Tokens {
		u := core.User{ID: "u" + string(rune('1'+i)), Username: tok.User, UsernameKey: tok.User, Email: tok.User + "@example.com",
			EmailKey: tok.User + "@example.com", UniqueEmailKey: tok.User + "@example.com", FirstName: "First", LastName: "Last",
			PasswordHash: "stored-hash", IsActive: tok.IsActive, CreatedAt: time.Unix(1600000000, 0)}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := store.SaveToken(ctx, usecase.TokenDigest(tok.Key), u.ID, time.Unix(1690000000, 0)); err != nil {
			t.Fatal(err)
		}
		a.keys[tok.User], a.users[tok.User] = tok.Key, u.ID
	}
	uc := realUseCases(s.Settings, realPorts{Store: store, Hasher: fakeHasher{}, Tokens: fakeTokens{},
		Accounts: store, TokenStore: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Policy: mustPolicy(t, s.Settings)})
	srv, err := New(s.Settings, s.Config, uc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Server = srv
	return a, vectors
}

func mustPolicy(t testing.TB, s core.Settings) *core.PasswordPolicy {
	t.Helper()
	p, err := core.NewPasswordPolicy(s.PasswordValidators, s.PasswordMinLength)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// send serves one request; authorization is sent as raw bytes when not nil.
func (a authServer) send(method, path, body string, authorization *string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authorization != nil {
		req.Header["Authorization"] = []string{*authorization}
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec
}

func ptr(s string) *string { return &s }

func detailOf401(t *testing.T, rec *httptest.ResponseRecorder, want string) {
	t.Helper()
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401; body %s", rec.Code, rec.Body)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body) != 1 || body["detail"] != want {
		t.Errorf("body %s, want detail %q", rec.Body, want)
	}
	if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || got[0] != "Token" {
		t.Errorf("WWW-Authenticate %q, want Token", got)
	}
}

// Every header of the vector file gets DRF's answer on an endpoint that
// needs a user, with one documented addition: restreg accepts the Bearer
// keyword too.
func TestEveryDRFTokenHeaderVectorGetsDRFsAnswer(t *testing.T) {
	a, vectors := newAuthServer(t, nil)
	if len(vectors.Vectors) != 26 {
		t.Fatalf("%d vectors, want 26", len(vectors.Vectors))
	}
	for _, v := range vectors.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			var header *string
			if v.HeaderPresent {
				b, err := hex.DecodeString(*v.HeaderHex)
				if err != nil {
					t.Fatal(err)
				}
				header = ptr(string(b))
			}
			rec := a.send(http.MethodGet, "/api/v1/accounts/profile/", "", header)
			wantStatus, wantBody := v.View.Status, v.View.Body
			if v.ID == "bearer" {
				// restreg's addition: Bearer is a second keyword.
				wantStatus, wantBody = http.StatusOK, map[string]string{"username": "alice"}
			}
			if rec.Code != wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, wantStatus, rec.Body)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			for k, want := range wantBody {
				if got[k] != want {
					t.Errorf("%s = %v, want %q (body %s)", k, got[k], want, rec.Body)
				}
			}
			if wantStatus == http.StatusUnauthorized {
				if len(got) != 1 {
					t.Errorf("401 body %s has more than detail", rec.Body)
				}
				if w := rec.Header().Get("WWW-Authenticate"); w != *v.View.WWWAuthenticate {
					t.Errorf("WWW-Authenticate %q, want %q", w, *v.View.WWWAuthenticate)
				}
			} else if w := rec.Header().Get("WWW-Authenticate"); w != "" {
				t.Errorf("WWW-Authenticate %q on a %d", w, rec.Code)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

func TestAuthenticationRunsBeforeTheMethodCheck(t *testing.T) {
	a, _ := newAuthServer(t, nil)
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/accounts/logout/"},
		{http.MethodDelete, "/api/v1/accounts/profile/"},
		{http.MethodGet, "/api/v1/accounts/change-password"},
		{http.MethodOptions, "/api/v1/accounts/profile/"},
	} {
		detailOf401(t, a.send(c.method, c.path, "", nil), core.MsgAuthNotProvided)
	}
	valid := ptr("Token " + a.keys["alice"])
	rec := a.send(http.MethodDelete, "/api/v1/accounts/profile/", "", valid)
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), `Method \"DELETE\" not allowed.`) {
		t.Errorf("DELETE profile/ with a token: %d %s", rec.Code, rec.Body)
	}
	if allow := rec.Header().Get("Allow"); allow != "GET, POST, PUT, PATCH, HEAD, OPTIONS" {
		t.Errorf("Allow %q", allow)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("authenticated 405: Cache-Control %q", cc)
	}
}

// A header with a bad token is refused on open endpoints too, before their
// body is read: DRF authenticates every request of a view.
func TestAnUnknownTokenIsRefusedOnOpenEndpoints(t *testing.T) {
	a, _ := newAuthServer(t, nil)
	unknown := ptr("Token ffffffffffffffffffffffffffffffffffffffff")
	for _, path := range []string{"login/", "register/", "verify-registration/", "resend-verification/", "login"} {
		rec := a.send(http.MethodPost, "/api/v1/accounts/"+path, `{"login": "alice", "password": "right"}`, unknown)
		detailOf401(t, rec, core.MsgTokenInvalid)
	}
	detailOf401(t, a.send(http.MethodPost, "/api/v1/accounts/login/", `{"login": "alice"`, ptr("Token")), core.MsgTokenNoCredentials)
	detailOf401(t, a.send(http.MethodGet, "/api/v1/accounts/login/", "", unknown), core.MsgTokenInvalid)
	// An inactive user's token is refused everywhere, with DRF's message.
	detailOf401(t, a.send(http.MethodPost, "/api/v1/accounts/login/", `{}`, ptr("Token "+a.keys["bob"])), core.MsgTokenUserInactive)

	// A valid token on an open endpoint changes nothing but the caching.
	rec := a.send(http.MethodPost, "/api/v1/accounts/login/", `{"login": "alice", "password": "right"}`, ptr("Token "+a.keys["alice"]))
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("login with a valid token: %d %s, Cache-Control %q", rec.Code, rec.Body, rec.Header().Get("Cache-Control"))
	}
	// Without any header, open endpoints answer as before.
	rec = a.send(http.MethodPost, "/api/v1/accounts/login/", `{"login": "alice", "password": "wrong"}`, nil)
	if rec.Code != http.StatusBadRequest || rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("login without a token: %d %s", rec.Code, rec.Body)
	}
}

// An expired token (AUTH_TOKEN_TTL) is an invalid one.
func TestExpiredTokensAreInvalid(t *testing.T) {
	a, _ := newAuthServer(t, func(s *testConfig) { s.AuthTokenTTL = time.Hour })
	// The fixture's tokens are from 1690000000, the clock says 1700000000.
	detailOf401(t, a.send(http.MethodGet, "/api/v1/accounts/profile/", "", ptr("Token "+a.keys["alice"])), core.MsgTokenInvalid)
}

func TestAuthenticatedOperationsAnswerNoStoreAndTheUsersOwnData(t *testing.T) {
	a, _ := newAuthServer(t, nil)
	alice := ptr("Bearer " + a.keys["alice"])
	rec := a.send(http.MethodGet, "/api/v1/accounts/profile", "", alice)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET profile: %d %s", rec.Code, rec.Body)
	}
	want := `{"id":"` + a.users["alice"] + `","username":"alice","first_name":"First","last_name":"Last","email":"alice@example.com"}`
	if rec.Body.String() != want {
		t.Errorf("profile %s\n want %s", rec.Body, want)
	}
	rec = a.send(http.MethodPatch, "/api/v1/accounts/profile/", `{"first_name": "  Alice ", "email": "x@example.com", "id": "other"}`, alice)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"first_name":"Alice"`) || !strings.Contains(rec.Body.String(), `"email":"alice@example.com"`) {
		t.Errorf("PATCH profile: %d %s", rec.Code, rec.Body)
	}
	rec = a.send(http.MethodPost, "/api/v1/accounts/change-password/", `{"old_password": "wrong", "password": "x", "password_confirm": "x"}`, alice)
	if rec.Code != http.StatusBadRequest || rec.Body.String() != `{"old_password":["Old password is not correct"]}` || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("change-password: %d %s", rec.Code, rec.Body)
	}
	rec = a.send(http.MethodPost, "/api/v1/accounts/logout/", `{"revoke_token": "yes"}`, alice)
	if rec.Code != http.StatusOK || rec.Body.String() != `{"detail":"Logout successful"}` {
		t.Errorf("logout: %d %s", rec.Code, rec.Body)
	}
	detailOf401(t, a.send(http.MethodGet, "/api/v1/accounts/profile/", "", alice), core.MsgTokenInvalid)
}

func TestCORSLetsBrowsersSendTokens(t *testing.T) {
	const origin = "https://frontend-host"
	a, _ := newAuthServer(t, func(s *testConfig) { s.CORSAllowedOrigins = []string{origin} })
	preflight := func(path, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPatch)
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		return rec
	}
	rec := preflight("/api/v1/accounts/profile/", origin)
	h := rec.Header()
	if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
		h.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, PATCH, OPTIONS" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight of profile/: %d %v", rec.Code, h)
	}
	if got := preflight("/api/v1/accounts/register/", origin).Header().Get("Access-Control-Allow-Methods"); got != "POST, OPTIONS" {
		t.Errorf("preflight of register/: methods %q", got)
	}
	if got := preflight("/api/v1/accounts/change-password/", origin).Header().Get("Access-Control-Allow-Methods"); got != "POST, OPTIONS" {
		t.Errorf("preflight of change-password/: methods %q", got)
	}
	other := preflight("/api/v1/accounts/profile/", "https://evil.example")
	for k := range other.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s sent to another origin", k)
		}
	}
	if other.Code != http.StatusUnauthorized {
		t.Errorf("preflight from another origin: %d, want DRF's 401", other.Code)
	}
	// The actual request from the allowed origin carries the CORS headers.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/accounts/profile/", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Authorization", "Token "+a.keys["alice"])
	res := httptest.NewRecorder()
	a.ServeHTTP(res, req)
	if res.Code != http.StatusOK || res.Header().Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("GET profile/ from the allowed origin: %d %v", res.Code, res.Header())
	}
	// A script may read which scheme a 401 asks for.
	req = httptest.NewRequest(http.MethodGet, "/api/v1/accounts/profile/", nil)
	req.Header.Set("Origin", origin)
	res = httptest.NewRecorder()
	a.ServeHTTP(res, req)
	if res.Code != http.StatusUnauthorized || !strings.Contains(res.Header().Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("401 from the allowed origin: %d %v", res.Code, res.Header())
	}
}

// BenchmarkAuthenticatedProfileVersusHealthz serves GET profile/ with a
// token (header parsing, one token lookup, the profile answer) and GET
// /healthz (the cheapest operation of the same server) in alternating
// rounds, and reports the ratio of their throughputs measured in one run.
func BenchmarkAuthenticatedProfileVersusHealthz(b *testing.B) {
	a, _ := newAuthServer(b, nil)
	token := "Token " + a.keys["alice"]
	serve := func(path, authorization string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		start := time.Now()
		a.ServeHTTP(rec, req)
		elapsed := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return elapsed
	}
	var profile, healthz time.Duration
	const round = 64
	b.ResetTimer()
	for i := 0; i < b.N; i += round {
		for range round {
			profile += serve("/api/v1/accounts/profile/", token)
		}
		for range round {
			healthz += serve("/healthz", "")
		}
	}
	n := float64((b.N + round - 1) / round * round)
	b.ReportMetric(float64(profile.Nanoseconds())/n, "profile-ns/req")
	b.ReportMetric(float64(healthz.Nanoseconds())/n, "healthz-ns/req")
	b.ReportMetric(float64(healthz)/float64(profile), "profile/healthz-throughput")
}

// The profile's hand-written JSON decodes to the values it was given, in
// the given field order, for every kind of text a user can store.
func TestProfileJSONRoundTrips(t *testing.T) {
	texts := []string{"", "ann", `quote " and \ backslash`, "line\nbreak\ttab\r\x00\x1f\b\f", "<script>&amp;</script>",
		"Zoë Ñúñez 日本", "\u2028\u2029", "invalid \xff utf-8", "emoji 🎉"}
	for _, text := range texts {
		login := "2026-11-29T12:00:00.123456Z"
		b := profileBody{fields: []string{"username", "last_login", "is_active", "first_name"},
			Username: text, LastLogin: &login, IsActive: true, FirstName: text}
		raw := encodeJSON(b)
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", text, raw, err)
		}
		want := strings.ToValidUTF8(text, "\uFFFD")
		if got["username"] != want || got["first_name"] != want || got["last_login"] != login || got["is_active"] != true {
			t.Errorf("%q: decoded %v", text, got)
		}
		if strings.Contains(text, "<") && !strings.Contains(string(raw), "<script>") {
			t.Errorf("%q: HTML escaped: %s", text, raw)
		}
	}
	null := profileBody{fields: []string{"last_login"}}
	if raw, err := json.Marshal(null); err != nil || string(raw) != `{"last_login":null}` {
		t.Errorf("never logged in: %s %v", raw, err)
	}
}

// BenchmarkAuthenticatedProfileVersusHealthzOverHTTP is the same comparison
// through a real loopback connection (a kept-alive client), as a client of
// a deployment sees it.
func BenchmarkAuthenticatedProfileVersusHealthzOverHTTP(b *testing.B) {
	a, _ := newAuthServer(b, nil)
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := srv.Client()
	token := "Token " + a.keys["alice"]
	serve := func(path, authorization string) time.Duration {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		elapsed := time.Since(start)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		return elapsed
	}
	var profile, healthz time.Duration
	const round = 64
	b.ResetTimer()
	for i := 0; i < b.N; i += round {
		for range round {
			profile += serve("/api/v1/accounts/profile/", token)
		}
		for range round {
			healthz += serve("/healthz", "")
		}
	}
	n := float64((b.N + round - 1) / round * round)
	b.ReportMetric(float64(profile.Nanoseconds())/n, "profile-ns/req")
	b.ReportMetric(float64(healthz.Nanoseconds())/n, "healthz-ns/req")
	b.ReportMetric(float64(healthz)/float64(profile), "profile/healthz-throughput")
}
