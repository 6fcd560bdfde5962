package httpapi

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// updateGolden rewrites testdata/golden/responses.txt from the current code.
var updateGolden = flag.Bool("update", false, "rewrite the golden responses file")

// goldenStore is a store with one verified user ("ann"), one unverified
// user ("una"), and logins that make the store fail ("down": unavailable,
// "boom": an unexpected error).
type goldenStore struct{ *fakeStore }

var errGoldenBoom = errors.New("store exploded")

func (goldenStore) FindUser(_ context.Context, _ core.LookupField, key string) (core.User, error) {
	switch key {
	case "ann", "ann@example.com", "u-ann":
		return core.User{ID: "u-ann", Username: "ann", Email: "ann@example.com", PasswordHash: "hash", IsActive: true}, nil
	case "una", "una@example.com", "u-una":
		return core.User{ID: "u-una", Username: "una", Email: "una@example.com", PasswordHash: "hash"}, nil
	case "down":
		return core.User{}, core.ErrUnavailable
	case "boom":
		return core.User{}, errGoldenBoom
	}
	return core.User{}, core.ErrNotFound
}

func (goldenStore) CreateUser(context.Context, core.User, ...core.Event) error { return nil }
func (goldenStore) ActivateUser(context.Context, string, ...core.Event) (bool, error) {
	return true, nil
}

// goldenToken is ann's token; goldenTokens knows no other.
const goldenToken = "abcdef0123456789abcdef0123456789abcdef01"

// goldenTokens is a token store that knows ann's token only.
type goldenTokens struct{ ports.TokenStore }

func (goldenTokens) FindToken(_ context.Context, digest string) (core.Token, core.User, error) {
	if digest != usecase.TokenDigest(goldenToken) {
		return core.Token{}, core.User{}, core.ErrNotFound
	}
	u, _ := goldenStore{}.FindUser(context.Background(), core.ByID, "u-ann")
	return core.Token{Digest: digest, UserID: u.ID, CreatedAt: time.Unix(1690000000, 0)}, u, nil
}

// goldenAccounts accepts every account change.
type goldenAccounts struct{ ports.AccountStore }

func (goldenAccounts) RecordLogin(context.Context, string, time.Time, ...core.Event) error {
	return nil
}
func (goldenAccounts) Logout(context.Context, string, ...core.Event) error { return nil }
func (goldenAccounts) UpdateProfile(_ context.Context, id string, p core.Profile, _ ...core.Event) (core.User, error) {
	u, err := goldenStore{}.FindUser(context.Background(), core.ByID, id)
	u.Username, u.UsernameKey, u.FirstName, u.LastName = p.Username, p.UsernameKey, p.FirstName, p.LastName
	return u, err
}
func (goldenAccounts) ChangePassword(context.Context, core.PasswordChange, ...core.Event) (bool, error) {
	return true, nil
}

// goldenSigner accepts the signature "good" and nothing else.
type goldenSigner struct{}

func (goldenSigner) Sign(map[string]string, string) string { return "good" }
func (goldenSigner) Verify(_ map[string]string, _, sig string) bool {
	return sig == "good"
}

// goldenLimiter refuses every request from 192.0.2.99 for 37 s.
type goldenLimiter struct{}

func (goldenLimiter) Allow(ctx context.Context, _ string, _ core.Rate) (bool, time.Duration, error) {
	if core.RequestInfoFrom(ctx).RemoteAddr == "192.0.2.99" {
		return false, 37 * time.Second, nil
	}
	return true, 0, nil
}

// goldenRequest is one request of the golden table; server names the
// configuration it is sent to.
type goldenRequest struct {
	server, method, path, contentType, body, remoteAddr, origin, authorization string
}

const goldenRegister = `{"username":"alice","email":"alice@example.com","first_name":"Alice","last_name":"Liddell",` +
	`"password":"correct-horse-battery-staple","password_confirm":"correct-horse-battery-staple"}`

// goldenRequests cover every row of the DRF error table of the HTTP
// contract and every operation's success.
func goldenRequests() []goldenRequest {
	post := func(server, path, ct, body string) goldenRequest {
		return goldenRequest{server: server, method: http.MethodPost, path: path, contentType: ct, body: body}
	}
	const form = "application/x-www-form-urlencoded"
	return []goldenRequest{
		// Success of every operation.
		post("noverify", register, ctJSON, goldenRegister),
		post("noverify", register, form, "username=bob&email=bob%40example.com&password=correct-horse-battery-staple&password_confirm=correct-horse-battery-staple"),
		post("default", verify, ctJSON, `{"user_id":"u-una","timestamp":1700000000,"signature":"good"}`),
		post("autologin", verify, ctJSON, `{"user_id":"u-una","timestamp":"1700000000","signature":"good"}`),
		post("default", login, ctJSON, `{"login":"ann","password":"right"}`),
		post("default", strings.TrimSuffix(login, "/"), form, `login=ann&password=right`),
		post("default", resend, ctJSON, `{"login":"una"}`),
		{server: "default", method: http.MethodGet, path: "/healthz"},
		{server: "default", method: http.MethodHead, path: "/healthz"},
		{server: "default", method: http.MethodGet, path: "/readyz"},
		{server: "notready", method: http.MethodGet, path: "/readyz"},
		{server: "default", method: http.MethodOptions, path: login},
		// The DRF error table.
		post("default", login, ctJSON, `{"login": }`),
		post("default", register, ctJSON, `{"username":"a",}`),
		post("default", login, ctJSON, `[1]`),
		post("default", login, ctJSON, `"x"`),
		post("default", login, ctJSON, `null`),
		post("default", login, "text/plain", `x`),
		post("default", login, "", `{"login":"a"}`),
		{server: "default", method: http.MethodGet, path: register},
		{server: "default", method: http.MethodPut, path: verify},
		{server: "default", method: http.MethodPost, path: "/healthz"},
		post("off", register, ctJSON, goldenRegister),
		post("off", register, ctJSON, `[]`),
		post("noverify", verify, ctJSON, `{}`),
		post("noverify", resend, ctJSON, `{"login":"una"}`),
		post("default", "/api/v1/accounts/unknown/", ctJSON, `{}`),
		post("default", login, ctJSON, `{}`),
		post("default", register, ctJSON, `{}`),
		post("default", login, ctJSON, `{"login":null,"password":"x"}`),
		post("default", login, ctJSON, `{"login":"   ","password":""}`),
		post("default", register, ctJSON, `{"username":"`+strings.Repeat("a", 151)+`","email":"x","password":"correct-horse-battery-staple","password_confirm":"correct-horse-battery-staple"}`),
		post("default", register, ctJSON, `{"username":"a b","email":"a@example.com","password":"correct-horse-battery-staple","password_confirm":"correct-horse-battery-staple"}`),
		post("default", register, ctJSON, `{"username":"carl","email":"carl@example.com","password":"1234","password_confirm":"12345"}`),
		post("default", register, ctJSON, `{"username":"carl","password":"correct-horse-battery-staple","password_confirm":"correct-horse-battery-staple"}`),
		post("default", verify, ctJSON, `{"user_id":"u-una","timestamp":"soon","signature":"good"}`),
		post("default", verify, ctJSON, `{"user_id":"u-una","timestamp":1700000000,"signature":"bad"}`),
		post("default", verify, ctJSON, `{"user_id":"u-una","timestamp":1,"signature":"good"}`),
		post("default", verify, ctJSON, `{"user_id":"u-nobody","timestamp":1700000000,"signature":"good"}`),
		post("default", login, ctJSON, `{"login":"ann","password":"wrong"}`),
		post("default", login, ctJSON, `{"login":"`+strings.Repeat("a", 70000)+`"}`),
		post("small", login, ctJSON, `{"login":"`+strings.Repeat("a", 2000)+`"}`),
		post("default", login, ctJSON, `{"login":"down","password":"x"}`),
		post("default", login, ctJSON, `{"login":"boom","password":"x"}`),
		{server: "default", method: http.MethodPost, path: login, contentType: ctJSON, body: `{"login":"ann","password":"right"}`, remoteAddr: "192.0.2.99:4000"},
		{server: "default", method: http.MethodPost, path: resend, contentType: ctJSON, body: `{"login":"una"}`, remoteAddr: "192.0.2.99:4000"},
		{server: "cors", method: http.MethodPost, path: login, contentType: ctJSON, body: `{"login":"ann","password":"right"}`, origin: "https://app.example"},
		{server: "cors", method: http.MethodPost, path: login, contentType: ctJSON, body: `{}`, origin: "https://app.example"},
		// Password reset and e-mail change.
		post("recovery", sendReset, ctJSON, `{"login":"ann"}`),
		post("recovery", sendReset, ctJSON, `{}`),
		post("default", sendReset, ctJSON, `{"login":"ann"}`),
		post("recovery", resetPassword, ctJSON, `{"user_id":"u-ann","timestamp":1700000000,"signature":"good","password":"new-secret-9","password_confirm":"new-secret-9"}`),
		post("recovery", resetPassword, form, `user_id=u-ann&timestamp=1700000000&signature=bad&password=new-secret-9&password_confirm=new-secret-9`),
		post("recovery", resetPassword, ctJSON, `{"user_id":"u-ann","timestamp":1700000000,"signature":"good","password":"u-ann"}`),
		post("recovery", resetPassword, ctJSON, `{"user_id":"u-ann","timestamp":1700000000,"signature":"down","password":"new-secret-9"}`),
		post("recovery", verifyEmail, ctJSON, `{"user_id":"u-ann","email":"ann@example.org","timestamp":1700000000,"signature":"good"}`),
		post("recovery", verifyEmail, ctJSON, `{"user_id":"u-ann","email":"taken@example.com","timestamp":1700000000,"signature":"good"}`),
		post("default", verifyEmail, ctJSON, `{}`),
		{server: "recovery", method: http.MethodPost, path: registerEmail, contentType: ctJSON, body: `{"email":"ann@example.org"}`, authorization: "Token " + goldenToken},
		{server: "recovery", method: http.MethodPost, path: registerEmail, contentType: ctJSON, body: `{"email":"not-an-address"}`, authorization: "Token " + goldenToken},
		{server: "recovery", method: http.MethodPost, path: registerEmail, contentType: ctJSON, body: `{"email":"ann@example.org"}`},
		{server: "recovery", method: http.MethodGet, path: verify + "?user_id=u-una&timestamp=1700000000&signature=good"},
		{server: "recovery", method: http.MethodGet, path: verify + "?user_id=u-una&timestamp=1700000000&signature=bad"},
		{server: "recovery", method: http.MethodGet, path: verifyEmail + "?user_id=u-ann&email=ann%40example.org&timestamp=1700000000"},
		{server: "recovery", method: http.MethodGet, path: verifyEmail + "?user_id=u-ann&email=ann%40example.org&timestamp=1700000000&signature=down"},
		// The authenticated account API.
		{server: "default", method: http.MethodGet, path: profile, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodGet, path: profile},
		{server: "default", method: http.MethodGet, path: profile, authorization: "Token"},
		{server: "default", method: http.MethodGet, path: profile, authorization: "Token a b"},
		{server: "default", method: http.MethodDelete, path: profile},
		{server: "default", method: http.MethodDelete, path: profile, authorization: "Bearer " + goldenToken},
		{server: "default", method: http.MethodGet, path: logout},
		{server: "default", method: http.MethodPatch, path: profile, contentType: ctJSON, body: `{"first_name":" Ann ","email":"x@example.com"}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPut, path: profile, contentType: ctJSON, body: `{"first_name":true}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: logout, contentType: ctJSON, body: `{"revoke_token":true}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: logout, contentType: ctJSON, body: `{"revoke_token":"maybe"}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: changePassword, contentType: ctJSON, body: `{"old_password":"right","password":"saffron-Kettle-9031","password_confirm":"saffron-Kettle-9031"}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: changePassword, contentType: ctJSON, body: `{"old_password":"wrong","password":"ann","password_confirm":"x"}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: changePassword, contentType: ctJSON, body: `{"old_password":"right","password":"ann1","password_confirm":"x"}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: changePassword, contentType: ctJSON, body: `{"old_password":"right","password":"saffron-Kettle-9031","password_confirm":"x"}`, authorization: "Token " + goldenToken},
		{server: "default", method: http.MethodPost, path: login, contentType: ctJSON, body: `{"login":"ann","password":"right"}`, authorization: "Token 0000000000000000000000000000000000000000"},
		{server: "cors", method: http.MethodOptions, path: profile, origin: "https://app.example"},
	}
}

// Paths of the authenticated, password reset and e-mail change operations
// in the golden table.
const (
	profile        = "/api/v1/accounts/profile/"
	logout         = "/api/v1/accounts/logout/"
	changePassword = "/api/v1/accounts/change-password/"
	sendReset      = "/api/v1/accounts/send-reset-password-link/"
	resetPassword  = "/api/v1/accounts/reset-password/"
	verifyEmail    = "/api/v1/accounts/verify-email/"
	registerEmail  = "/api/v1/accounts/register-email/"
)

// goldenServers are the configurations the golden requests are sent to.
func goldenServers(t *testing.T) map[string]*Server {
	t.Helper()
	configs := map[string]func(*testConfig){
		"default":   nil,
		"noverify":  func(s *testConfig) { s.RegisterVerificationEnabled = false },
		"autologin": func(s *testConfig) { s.RegisterVerificationAutoLogin = true },
		"off":       func(s *testConfig) { s.RegisterFlowEnabled = false },
		"small":     func(s *testConfig) { s.MaxBodyBytes = 1024 },
		"notready":  nil,
		"cors":      func(s *testConfig) { s.CORSAllowedOrigins = []string{"https://app.example"} },
		"recovery":  recoverySettings,
	}
	servers := map[string]*Server{}
	for name, configure := range configs {
		s := testSettings()
		if configure != nil {
			configure(&s)
		}
		var ready Readiness
		if name == "notready" {
			ready = func(context.Context) error { return core.ErrUnavailable }
		}
		if name == "recovery" {
			servers[name] = newRecoveryGoldenServer(t, s)
			continue
		}
		servers[name] = newGoldenServer(t, s, ready)
	}
	return servers
}

// uuidPattern matches the ids register/ generates, which differ on every run.
var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// recordGolden renders each answer: request line, status, every header
// (sorted) and the body, byte for byte (a generated id excepted).
func recordGolden(t *testing.T) []byte {
	t.Helper()
	servers := goldenServers(t)
	var out bytes.Buffer
	for i, gr := range goldenRequests() {
		req := httptest.NewRequest(gr.method, gr.path, strings.NewReader(gr.body))
		if gr.contentType != "" {
			req.Header.Set("Content-Type", gr.contentType)
		}
		if gr.remoteAddr != "" {
			req.RemoteAddr = gr.remoteAddr
		}
		if gr.origin != "" {
			req.Header.Set("Origin", gr.origin)
			if gr.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", http.MethodPatch)
			}
		}
		if gr.authorization != "" {
			req.Header.Set("Authorization", gr.authorization)
		}
		req.Header.Set("X-Request-ID", fmt.Sprintf("golden-%02d", i))
		rec := httptest.NewRecorder()
		servers[gr.server].ServeHTTP(rec, req)
		body := gr.body
		if len(body) > 80 {
			body = body[:80] + fmt.Sprintf("…(%d bytes)", len(gr.body))
		}
		auth := ""
		if gr.authorization != "" {
			auth = " {Authorization: " + gr.authorization + "}"
		}
		fmt.Fprintf(&out, "### %s %s %s [%s]%s %s\n", gr.server, gr.method, gr.path, gr.contentType, auth, body)
		fmt.Fprintf(&out, "%d\n", rec.Code)
		names := make([]string, 0, len(rec.Header()))
		for name := range rec.Header() {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			for _, v := range rec.Header()[name] {
				fmt.Fprintf(&out, "%s: %s\n", name, v)
			}
		}
		out.WriteString("\n")
		out.Write(uuidPattern.ReplaceAll(rec.Body.Bytes(), []byte("<generated-id>")))
		out.WriteString("\n\n")
	}
	return out.Bytes()
}

// TestResponsesMatchTheGoldenFile pins every byte of the answers to a table
// of representative requests: statuses, headers and bodies.
func TestResponsesMatchTheGoldenFile(t *testing.T) {
	got := recordGolden(t)
	path := filepath.Join("testdata", "golden", "responses.txt")
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestResponsesMatchTheGoldenFile -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("answers differ from %s at line %d:\n got: %q\nwant: %q", path, i+1, g, w)
			}
		}
	}
}

// newGoldenServer serves settings s with the real use cases over the golden
// fakes.
func newGoldenServer(t *testing.T, s testConfig, ready Readiness) *Server {
	t.Helper()
	policy, err := core.NewPasswordPolicy(s.PasswordValidators, s.PasswordMinLength)
	if err != nil {
		t.Fatal(err)
	}
	uc := realUseCases(s.Settings, realPorts{
		Store:      goldenStore{&fakeStore{}},
		Hasher:     fakeHasher{},
		Policy:     policy,
		Signer:     goldenSigner{},
		Tokens:     fakeTokens{},
		Limiter:    goldenLimiter{},
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Accounts:   goldenAccounts{},
		TokenStore: goldenTokens{},
	})
	srv, err := New(s.Settings, s.Config, uc, ready, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
