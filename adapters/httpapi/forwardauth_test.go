package httpapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

const (
	aliceKey = "abcdef0123456789abcdef0123456789abcdef01"
	bobKey   = "0123456789abcdef0123456789abcdef01234567"
	authPath = "/api/v1/accounts/auth/"
)

// tokenTable is a ports.TokenStore over a map, whose FindToken fails with
// err when it is set; only FindToken is asked by authentication.
type tokenTable struct {
	mu     sync.Mutex
	tokens map[string]core.User
	err    error
}

func newTokenTable() *tokenTable {
	return &tokenTable{tokens: map[string]core.User{
		usecase.TokenDigest(aliceKey): {ID: "u-alice", Username: "alice", Email: "alice@example.com", IsActive: true},
		usecase.TokenDigest(bobKey):   {ID: "u-bob", Username: "bob", Email: "bob@example.com"},
	}}
}

func (tt *tokenTable) SaveToken(_ context.Context, digest, userID string, _ time.Time) error {
	return errUnused
}
func (tt *tokenTable) UserIDForToken(context.Context, string) (string, error) { return "", errUnused }
func (tt *tokenTable) LatestToken(context.Context, string) (core.Token, error) {
	return core.Token{}, errUnused
}
func (tt *tokenTable) DeleteUserTokens(context.Context, string, string) (int, error) {
	return 0, errUnused
}

func (tt *tokenTable) DeleteToken(_ context.Context, digest string) error {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	delete(tt.tokens, digest)
	return nil
}

func (tt *tokenTable) FindToken(_ context.Context, digest string) (core.Token, core.User, error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.err != nil {
		return core.Token{}, core.User{}, tt.err
	}
	u, ok := tt.tokens[digest]
	if !ok {
		return core.Token{}, core.User{}, core.ErrNotFound
	}
	return core.Token{Digest: digest, UserID: u.ID, CreatedAt: time.Unix(1700000000, 0)}, u, nil
}

// newAuthServer is a test server whose auth/ checks tokens in tt.
func newForwardAuthServer(t *testing.T, tt *tokenTable) testServer {
	t.Helper()
	ts := newTestServer(t, nil, nil, nil)
	ts.uc.Authenticate = usecase.NewAuthenticate(usecase.AuthenticateConfig{}, tt, fixedClock{})
	return ts
}

// drfVector is one Authorization header of core/testdata/drf-token-vectors.json
// and how DRF's view answered it.
type drfVector struct {
	ID        string  `json:"id"`
	HeaderHex *string `json:"header_bytes_hex"`
	View      struct {
		Status          int               `json:"status"`
		WWWAuthenticate *string           `json:"www_authenticate"`
		Body            map[string]string `json:"body"`
	} `json:"view"`
}

func loadDRFVectors(t *testing.T) []drfVector {
	t.Helper()
	raw, err := os.ReadFile("../../core/testdata/drf-token-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []drfVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 26 {
		t.Fatalf("%d vectors, want 26", len(f.Vectors))
	}
	return f.Vectors
}

// auth/ answers every DRF header case as DRF's view does: 401 with its
// body and challenge, or 200 naming alice. Bearer is restreg's addition.
func TestForwardAuthAnswersDRFVectors(t *testing.T) {
	ts := newForwardAuthServer(t, newTokenTable())
	for _, v := range loadDRFVectors(t) {
		t.Run(v.ID, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, authPath, nil)
			if v.HeaderHex != nil {
				b, err := hex.DecodeString(*v.HeaderHex)
				if err != nil {
					t.Fatal(err)
				}
				req.Header["Authorization"] = []string{string(b)}
			}
			rec := httptest.NewRecorder()
			ts.ServeHTTP(rec, req)
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			wantStatus, wantName := v.View.Status, v.View.Body["username"]
			if v.ID == "bearer" {
				wantStatus, wantName = http.StatusOK, "alice"
			}
			if wantStatus == http.StatusOK {
				if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
					t.Fatalf("status %d body %q, want 200 and no body", rec.Code, rec.Body)
				}
				if got := rec.Header().Get(HeaderUsername); got != wantName {
					t.Errorf("%s %q, want %q", HeaderUsername, got, wantName)
				}
				if rec.Header().Get("WWW-Authenticate") != "" {
					t.Error("WWW-Authenticate on a 200")
				}
				return
			}
			want, _ := json.Marshal(v.View.Body)
			assertJSON(t, rec, wantStatus, string(want))
			if got := rec.Header().Get("WWW-Authenticate"); v.View.WWWAuthenticate == nil || got != *v.View.WWWAuthenticate {
				t.Errorf("WWW-Authenticate %q, want %v", got, v.View.WWWAuthenticate)
			}
			if rec.Header().Get(HeaderUserID) != "" {
				t.Error("a refused request names a user")
			}
		})
	}
}

// A valid token names its user on every method and spelling of the path
// that reverse proxies send; the body is empty and nothing may cache it.
func TestForwardAuthNamesTheUserForEveryProxy(t *testing.T) {
	ts := newForwardAuthServer(t, newTokenTable())
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, authPath},
		{http.MethodHead, authPath},
		{http.MethodGet, strings.TrimSuffix(authPath, "/")},
		{http.MethodHead, strings.TrimSuffix(authPath, "/")},
		// Envoy ext_authz: the original method, the original path appended.
		{http.MethodPost, authPath + "orders/42"},
		{http.MethodDelete, authPath + "orders/42"},
	} {
		rec := ts.do(c.method, c.path, "", "", "Authorization", "Bearer "+aliceKey)
		h := rec.Header()
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || h.Get("Content-Length") != "0" {
			t.Errorf("%s %s: %d %q, want 200 with an empty body", c.method, c.path, rec.Code, rec.Body)
		}
		if h.Get(HeaderUserID) != "u-alice" || h.Get(HeaderUsername) != "alice" || h.Get(HeaderUserEmail) != "alice@example.com" {
			t.Errorf("%s %s: user headers %v", c.method, c.path, h)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", c.method, c.path, h.Get("Cache-Control"))
		}
	}
}

// A revoked token is refused on the next request: nothing is cached.
func TestForwardAuthRefusesARevokedTokenAtOnce(t *testing.T) {
	tt := newTokenTable()
	ts := newForwardAuthServer(t, tt)
	if rec := ts.do(http.MethodGet, authPath, "", "", "Authorization", "Token "+aliceKey); rec.Code != http.StatusOK {
		t.Fatalf("before logout: %d", rec.Code)
	}
	if err := tt.DeleteToken(context.Background(), usecase.TokenDigest(aliceKey)); err != nil {
		t.Fatal(err)
	}
	rec := ts.do(http.MethodGet, authPath, "", "", "Authorization", "Token "+aliceKey)
	assertJSON(t, rec, http.StatusUnauthorized, `{"detail":"Invalid token."}`)
}

// A store that cannot answer gives 503 with Retry-After, never a 401 that
// a proxy would take as a verdict, and the token appears in no log line.
func TestForwardAuthStoreDownAnswers503(t *testing.T) {
	tt := newTokenTable()
	tt.err = core.ErrUnavailable
	ts := newForwardAuthServer(t, tt)
	rec := ts.do(http.MethodGet, authPath, "", "", "Authorization", "Token "+aliceKey)
	assertJSON(t, rec, http.StatusServiceUnavailable, `{"detail":"`+msgUnavailable+`"}`)
	if rec.Header().Get("Retry-After") == "" || rec.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("headers %v: want Retry-After and no challenge", rec.Header())
	}
	tt.err = errors.New("disk on fire")
	rec = ts.do(http.MethodGet, authPath, "", "", "Authorization", "Token "+aliceKey)
	assertJSON(t, rec, http.StatusInternalServerError, `{"detail":"`+msgServerError+`"}`)
	logs := ts.logs.String()
	if strings.Contains(logs, aliceKey) || strings.Contains(logs, usecase.TokenDigest(aliceKey)) {
		t.Errorf("the token reached the log: %s", logs)
	}
	if !strings.Contains(logs, "disk on fire") {
		t.Errorf("the cause of the 500 is not logged: %s", logs)
	}
}

// Without token authentication wired in, auth/ does not exist.
func TestForwardAuthWithoutAuthenticatorAnswers404(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	assertJSON(t, ts.do(http.MethodGet, authPath, "", "", "Authorization", "Token "+aliceKey), http.StatusNotFound, `{"detail":"Not found."}`)
}

// Over a real connection, HEAD answers like GET without a body, and
// BASE_PATH moves the endpoint.
func TestForwardAuthOverHTTPFollowsBasePath(t *testing.T) {
	ts := newTestServer(t, func(c *testConfig) { c.BasePath = "/accounts" }, nil, nil)
	ts.uc.Authenticate = usecase.NewAuthenticate(usecase.AuthenticateConfig{}, newTokenTable(), fixedClock{})
	srv := httptest.NewServer(ts)
	defer srv.Close()
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, srv.URL+"/accounts/auth/", nil)
		req.Header.Set("Authorization", "Token "+aliceKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get(HeaderUserID) != "u-alice" {
			t.Errorf("%s: %d %q %v", method, resp.StatusCode, body, resp.Header)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/accounts/auth/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the default BASE_PATH still answers: %d", resp.StatusCode)
	}
}
