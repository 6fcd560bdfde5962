package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// fakeStore answers FindUser with find and refuses everything else; the
// login use case needs nothing more.
type fakeStore struct {
	find func(ctx context.Context, field core.LookupField, key string) (core.User, error)
}

var errUnused = errors.New("not used by these tests")

func (f *fakeStore) CreateUser(context.Context, core.User, ...core.Event) error { return errUnused }
func (f *fakeStore) DeleteInactiveUser(context.Context, string) error           { return errUnused }
func (f *fakeStore) ActivateUser(context.Context, string, ...core.Event) (bool, error) {
	return false, errUnused
}
func (f *fakeStore) SetPasswordHash(context.Context, string, string) error { return errUnused }
func (f *fakeStore) QueueVerificationMail(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, errUnused
}
func (f *fakeStore) Ping(context.Context) error { return nil }
func (f *fakeStore) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	return f.find(ctx, field, key)
}

// fakeHasher accepts the password "right" against any hash.
type fakeHasher struct{ err error }

func (h fakeHasher) Hash(context.Context, string) (string, error) { return "hash", h.err }
func (h fakeHasher) Check(_ context.Context, password, _ string) (bool, bool, error) {
	return password == "right", false, h.err
}

type fakeTokens struct{}

func (fakeTokens) IssueToken(context.Context, string) (string, error) {
	return "0123456789abcdef0123456789abcdef01234567", nil
}

type fixedClock struct{}

func (fixedClock) Now() time.Time { return time.Unix(1700000000, 0) }

// logBuffer collects JSON log lines safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testServer struct {
	*Server
	logs *logBuffer
}

// testSecretKey passes the SECRET_KEY strength rules, like a real key.
const testSecretKey = "httpapi-test-signing-key-5d8e2b7a0c4f9163e8a1b2c3d4e5"

// testConfig is what a test server is configured with: the domain settings
// and the server's own Config.
type testConfig struct {
	core.Settings
	Config
}

func testSettings() testConfig {
	s := core.DefaultSettings()
	s.SecretKey = testSecretKey
	s.RegisterVerificationURL = "https://frontend-host/verify-user/"
	s.VerificationFromEmail = "noreply@example.com"
	return testConfig{Settings: s, Config: DefaultConfig()}
}

// newTestServer serves the real use cases over fakes; find decides what the
// store answers (nil: no user exists).
func newTestServer(t testing.TB, configure func(*testConfig), find func(context.Context, core.LookupField, string) (core.User, error), hashErr error) testServer {
	t.Helper()
	return newTestServerWithHasher(t, configure, find, fakeHasher{err: hashErr})
}

// newTestServerWithHasher is newTestServer with the given password hasher.
func newTestServerWithHasher(t testing.TB, configure func(*testConfig), find func(context.Context, core.LookupField, string) (core.User, error), hasher ports.PasswordHasher) testServer {
	t.Helper()
	s := testSettings()
	if configure != nil {
		configure(&s)
	}
	if find == nil {
		find = func(context.Context, core.LookupField, string) (core.User, error) {
			return core.User{}, core.ErrNotFound
		}
	}
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	uc := realUseCases(s.Settings, realPorts{Store: &fakeStore{find: find}, Hasher: hasher, Tokens: fakeTokens{}, Log: log})
	srv, err := New(s.Settings, s.Config, uc, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return testServer{Server: srv, logs: logs}
}

// do sends one request through the handler.
func (ts testServer) do(method, path, contentType, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, req)
	return rec
}

// assertJSON checks status, content type and the body's JSON value.
func assertJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got, exp any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Errorf("body %s, want %s", g, e)
	}
}

const (
	register = "/api/v1/accounts/register/"
	verify   = "/api/v1/accounts/verify-registration/"
	login    = "/api/v1/accounts/login/"
	ctJSON   = "application/json"
)

func TestUnknownPathsAnswer404(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	for _, p := range []string{"/", "/nope", "/api/v1/accounts/", "/api/v1/accounts/unknown/", "/api/v1/accounts/login//", "/healthz/"} {
		assertJSON(t, ts.do(http.MethodPost, p, ctJSON, "{}"), http.StatusNotFound, `{"detail":"Not found."}`)
	}
}

func TestWrongMethodAnswers405WithAllow(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodGet, register, "POST, OPTIONS"},
		{http.MethodGet, strings.TrimSuffix(register, "/"), "POST, OPTIONS"},
		{http.MethodPut, verify, "POST, OPTIONS"},
		{http.MethodDelete, login, "POST, OPTIONS"},
		{"PATCH", login, "POST, OPTIONS"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodDelete, "/openapi.json", "GET, HEAD"},
	} {
		rec := ts.do(c.method, c.path, "", "")
		assertJSON(t, rec, http.StatusMethodNotAllowed, `{"detail":"Method \"`+c.method+`\" not allowed."}`)
		if got := rec.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

func TestPathsWorkWithAndWithoutTheFinalSlash(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	want := `{"login":["This field is required."],"password":["This field is required."]}`
	assertJSON(t, ts.do(http.MethodPost, login, ctJSON, "{}"), http.StatusBadRequest, want)
	assertJSON(t, ts.do(http.MethodPost, strings.TrimSuffix(login, "/"), ctJSON, "{}"), http.StatusBadRequest, want)
}

func TestMalformedBodies(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	for _, c := range []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"syntax", ctJSON, `{"login": }`, 400, `{"detail":"JSON parse error - Expecting value: line 1 column 11 (char 10)"}`},
		{"empty string body", ctJSON, ` `, 400, `{"detail":"JSON parse error - Expecting value: line 1 column 2 (char 1)"}`},
		{"list", ctJSON, `[1]`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
		{"int", ctJSON, `7`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}`},
		{"float", ctJSON, `7.5`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got float."]}`},
		{"str", ctJSON, `"x"`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}`},
		{"bool", ctJSON, `true`, 400, `{"non_field_errors":["Invalid data. Expected a dictionary, but got bool."]}`},
		{"null", ctJSON, `null`, 400, `{"non_field_errors":["No data provided"]}`},
		{"415", "text/plain; charset=utf-8", `x`, 415, `{"detail":"Unsupported media type \"text/plain; charset=utf-8\" in request."}`},
		{"415 without type", "", `{"login":"a"}`, 415, `{"detail":"Unsupported media type \"\" in request."}`},
		{"empty body without type", "", ``, 400, `{"login":["This field is required."],"password":["This field is required."]}`},
		{"wrongly typed", ctJSON, `{"login":["a"],"password":null}`, 400, `{"login":["Not a valid string."],"password":["This field may not be null."]}`},
		{"form", "application/x-www-form-urlencoded", `login=&password=x`, 400, `{"login":["This field may not be blank."]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			assertJSON(t, ts.do(http.MethodPost, login, c.contentType, c.body), c.status, c.want)
		})
	}
}

func TestBodyLimit(t *testing.T) {
	ts := newTestServer(t, func(s *testConfig) { s.MaxBodyBytes = 1024 }, nil, nil)
	hs := httptest.NewServer(ts)
	defer hs.Close()

	atLimit := `{"login":"` + strings.Repeat("a", 1024-len(`{"login":""}`)) + `"}`
	// post sends body with the given declared length (-1: chunked) and
	// returns the answer's status and body.
	post := func(body io.Reader, contentLength int64) (int, string) {
		req, err := http.NewRequest(http.MethodPost, hs.URL+login, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = contentLength
		req.Header.Set("Content-Type", ctJSON)
		res, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	check := func(name string, status int, body string, wantStatus int, want string) {
		t.Helper()
		if status != wantStatus || body != want {
			t.Errorf("%s: %d %s, want %d %s", name, status, body, wantStatus, want)
		}
	}
	tooLarge := `{"detail":"Request body too large."}`
	required := `{"password":["This field is required."]}`
	status, body := post(strings.NewReader(atLimit+" "), int64(len(atLimit)+1))
	check("declared length over the limit", status, body, 413, tooLarge)
	// A chunked body has no declared length: the limit is enforced while reading.
	status, body = post(io.MultiReader(strings.NewReader(atLimit), strings.NewReader(" ")), -1)
	check("chunked over the limit", status, body, 413, tooLarge)
	status, body = post(strings.NewReader(atLimit), int64(len(atLimit)))
	check("exactly at the limit", status, body, 400, required)
	status, body = post(io.MultiReader(strings.NewReader(atLimit)), -1)
	check("chunked at the limit", status, body, 400, required)
}

func TestSwitchedOffFlowsAnswer404AfterParsing(t *testing.T) {
	ts := newTestServer(t, func(s *testConfig) {
		s.RegisterFlowEnabled = false
		s.RegisterVerificationEnabled = false
	}, nil, nil)
	for _, p := range []string{register, verify, strings.TrimSuffix(verify, "/")} {
		assertJSON(t, ts.do(http.MethodPost, p, ctJSON, `{"username":"ann","password":"x"}`), 404, `{"detail":"Not found."}`)
		assertJSON(t, ts.do(http.MethodPost, p, ctJSON, `[]`), 404, `{"detail":"Not found."}`)
		assertJSON(t, ts.do(http.MethodPost, p, ctJSON, `{`), 400, `{"detail":"JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}`)
		assertJSON(t, ts.do(http.MethodPost, p, "text/plain", `x`), 415, `{"detail":"Unsupported media type \"text/plain\" in request."}`)
	}
}

func TestMapError(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		want  apiError
		wantJ string
	}{
		{"field errors", &core.ValidationError{Fields: map[string][]string{"username": {"a", "b"}}}, apiError{status: 400}, `{"username":["a","b"]}`},
		{"password stage shows empty non_field_errors", &core.ValidationError{Fields: map[string][]string{"password_confirm": {core.MsgPasswordsMismatch}}, ShowNonFieldErrors: true},
			apiError{status: 400}, `{"password_confirm":["Passwords don't match"],"non_field_errors":[]}`},
		{"non-field errors", &core.ValidationError{NonFieldErrors: []string{"x"}}, apiError{status: 400}, `{"non_field_errors":["x"]}`},
		{"detail, wrapped", errors.Join(errors.New("context"), core.Detail(core.MsgInvalidSignature)), apiError{status: 400}, `{"detail":"Invalid signature"}`},
		{"flow disabled", core.ErrFlowDisabled, apiError{status: 404}, `{"detail":"Not found."}`},
		{"unavailable", errors.Join(core.ErrUnavailable, errors.New("dial tcp: refused")), apiError{status: 503, retryAfter: 5}, `{"detail":"Service temporarily unavailable, please try again later."}`},
		{"overloaded", core.ErrOverloaded, apiError{status: 503, retryAfter: 1}, `{"detail":"Service temporarily unavailable, please try again later."}`},
		{"overloaded wins over unavailable", errors.Join(core.ErrUnavailable, core.ErrOverloaded), apiError{status: 503, retryAfter: 1}, `{"detail":"Service temporarily unavailable, please try again later."}`},
		{"unexpected", errors.New("secret=hunter2 leaked in a message"), apiError{status: 500, internal: true}, `{"detail":"A server error occurred."}`},
		{"method", &methodNotAllowedError{method: "GET"}, apiError{status: 405}, `{"detail":"Method \"GET\" not allowed."}`},
		{"too large", errBodyTooLarge, apiError{status: 413}, `{"detail":"Request body too large."}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := mapError(c.err)
			if got.status != c.want.status || got.retryAfter != c.want.retryAfter || got.internal != c.want.internal {
				t.Errorf("mapError = %+v, want %+v", got, c.want)
			}
			var g, w any
			_ = json.Unmarshal(encodeJSON(got.body), &g)
			_ = json.Unmarshal([]byte(c.wantJ), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if !bytes.Equal(gb, wb) {
				t.Errorf("body %s, want %s", gb, wb)
			}
		})
	}
}

func TestDependencyFailures(t *testing.T) {
	body := `{"login":"ann","password":"right"}`
	t.Run("store unavailable", func(t *testing.T) {
		ts := newTestServer(t, nil, func(context.Context, core.LookupField, string) (core.User, error) {
			return core.User{}, errors.Join(core.ErrUnavailable, errors.New("connection refused"))
		}, nil)
		rec := ts.do(http.MethodPost, login, ctJSON, body)
		assertJSON(t, rec, 503, `{"detail":"Service temporarily unavailable, please try again later."}`)
		if rec.Header().Get("Retry-After") != "5" {
			t.Errorf("Retry-After %q, want 5", rec.Header().Get("Retry-After"))
		}
	})
	t.Run("hasher overloaded", func(t *testing.T) {
		ts := newTestServer(t, nil, nil, core.ErrOverloaded)
		rec := ts.do(http.MethodPost, login, ctJSON, body)
		assertJSON(t, rec, 503, `{"detail":"Service temporarily unavailable, please try again later."}`)
		if rec.Header().Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q, want 1", rec.Header().Get("Retry-After"))
		}
	})
	t.Run("unexpected error is logged, not shown", func(t *testing.T) {
		ts := newTestServer(t, nil, func(context.Context, core.LookupField, string) (core.User, error) {
			return core.User{}, errors.New("driver: checksum mismatch in page 7")
		}, nil)
		rec := ts.do(http.MethodPost, login, ctJSON, body, "X-Request-ID", "req-500")
		assertJSON(t, rec, 500, `{"detail":"A server error occurred."}`)
		logs := ts.logs.String()
		if !strings.Contains(logs, "checksum mismatch in page 7") || !strings.Contains(logs, `"request_id":"req-500"`) {
			t.Errorf("the cause and request id are not logged:\n%s", logs)
		}
	})
	t.Run("panic", func(t *testing.T) {
		ts := newTestServer(t, nil, func(context.Context, core.LookupField, string) (core.User, error) {
			panic("store exploded")
		}, nil)
		rec := ts.do(http.MethodPost, login, ctJSON, body)
		assertJSON(t, rec, 500, `{"detail":"A server error occurred."}`)
		if strings.Contains(rec.Body.String(), "exploded") || !strings.Contains(ts.logs.String(), "store exploded") {
			t.Errorf("panic not handled as expected; body %s", rec.Body)
		}
	})
}

func TestLoginAnswers(t *testing.T) {
	active := core.User{ID: "u1", Username: "ann", UsernameKey: "ann", IsActive: true, PasswordHash: "hash"}
	find := func(_ context.Context, field core.LookupField, key string) (core.User, error) {
		if field == core.ByUsernameKey && key == "ann" {
			return active, nil
		}
		return core.User{}, core.ErrNotFound
	}
	ts := newTestServer(t, nil, find, nil)
	assertJSON(t, ts.do(http.MethodPost, login, ctJSON, `{"login":"ann","password":"right"}`), 200,
		`{"detail":"Login successful","token":"0123456789abcdef0123456789abcdef01234567"}`)
	assertJSON(t, ts.do(http.MethodPost, login, "application/x-www-form-urlencoded", `login=ann&password=right&is_staff=1`), 200,
		`{"detail":"Login successful","token":"0123456789abcdef0123456789abcdef01234567"}`)
	assertJSON(t, ts.do(http.MethodPost, login, ctJSON, `{"login":"ann","password":"wrong"}`), 400, `{"detail":"Login or password invalid."}`)

	noToken := newTestServer(t, func(s *testConfig) { s.LoginRetrieveToken = false }, find, nil)
	assertJSON(t, noToken.do(http.MethodPost, login, ctJSON, `{"login":"ann","password":"right"}`), 200, `{"detail":"Login successful"}`)
}

func TestRequestIDAndRequestInfo(t *testing.T) {
	var mu sync.Mutex
	var seen core.RequestInfo
	ts := newTestServer(t, nil, func(ctx context.Context, _ core.LookupField, _ string) (core.User, error) {
		mu.Lock()
		seen = core.RequestInfoFrom(ctx)
		mu.Unlock()
		return core.User{}, core.ErrNotFound
	}, nil)
	body := `{"login":"ann","password":"s3cret-Passw0rd"}`

	req := httptest.NewRequest(http.MethodPost, login, strings.NewReader(body))
	req.Header.Set("Content-Type", ctJSON)
	req.Header.Set("X-Request-ID", "abc-123")
	req.Header.Set("User-Agent", "client/1.0")
	req.RemoteAddr = "192.0.2.7:5555"
	rec := httptest.NewRecorder()
	ts.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("X-Request-ID %q, want the client's", got)
	}
	mu.Lock()
	if seen != (core.RequestInfo{ID: "abc-123", RemoteAddr: "192.0.2.7", UserAgent: "client/1.0"}) {
		t.Errorf("request info %+v", seen)
	}
	mu.Unlock()

	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, bad := range []string{"", "has space", strings.Repeat("x", 129), "tab\there", "é"} {
		rec := ts.do(http.MethodPost, login, ctJSON, body, "X-Request-ID", bad)
		if got := rec.Header().Get("X-Request-ID"); !generated.MatchString(got) {
			t.Errorf("X-Request-ID %q for client id %q, want a generated one", got, bad)
		}
	}
	if got := ts.do(http.MethodGet, "/nope", "", "", "X-Request-ID", strings.Repeat("y", 128)).Header().Get("X-Request-ID"); got != strings.Repeat("y", 128) {
		t.Errorf("a 128-character id was replaced: %q", got)
	}

	// One access-log line per request, with the documented attributes and no body.
	logs := ts.logs.String()
	if strings.Contains(logs, "s3cret-Passw0rd") {
		t.Fatal("a request body reached the log")
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http request" && m["request_id"] == "abc-123" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access-log line for the request:\n%s", logs)
	}
	if line["method"] != "POST" || line["path"] != login || line["status"] != float64(400) || line["duration"] == nil {
		t.Errorf("access-log line %v", line)
	}
}

func TestCORS(t *testing.T) {
	allowed := "https://frontend-host"
	ts := newTestServer(t, func(s *testConfig) { s.CORSAllowedOrigins = []string{allowed + "/"} }, nil, nil)

	pre := ts.do(http.MethodOptions, register, "", "", "Origin", allowed, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	if pre.Code != http.StatusNoContent {
		t.Errorf("preflight status %d", pre.Code)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  allowed,
		"Access-Control-Allow-Methods": "POST, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type, Authorization",
		"Access-Control-Max-Age":       "86400",
		"Vary":                         "Origin",
	} {
		if got := pre.Header().Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if pre.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials allowed without CORS_ALLOW_CREDENTIALS")
	}
	if pre.Body.Len() != 0 {
		t.Errorf("preflight body %q", pre.Body)
	}

	actual := ts.do(http.MethodPost, login, ctJSON, `{}`, "Origin", allowed)
	if actual.Header().Get("Access-Control-Allow-Origin") != allowed || actual.Header().Get("Vary") != "Origin" {
		t.Errorf("actual response headers %v", actual.Header())
	}

	for _, res := range []*httptest.ResponseRecorder{
		ts.do(http.MethodOptions, register, "", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"),
		ts.do(http.MethodPost, login, ctJSON, `{}`, "Origin", "https://evil.example"),
		ts.do(http.MethodPost, login, ctJSON, `{}`, "Origin", "http://frontend-host"),
	} {
		for k := range res.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("CORS header %s sent to another origin", k)
			}
		}
	}

	creds := newTestServer(t, func(s *testConfig) {
		s.CORSAllowedOrigins = []string{allowed}
		s.CORSAllowCredentials = true
	}, nil, nil)
	for _, res := range []*httptest.ResponseRecorder{
		creds.do(http.MethodOptions, verify, "", "", "Origin", allowed, "Access-Control-Request-Method", "POST"),
		creds.do(http.MethodPost, verify, ctJSON, `{}`, "Origin", allowed),
	} {
		if res.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Errorf("credentials header missing: %v", res.Header())
		}
	}

	none := newTestServer(t, nil, nil, nil)
	res := none.do(http.MethodPost, login, ctJSON, `{}`, "Origin", allowed)
	for k := range res.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s without CORS_ALLOWED_ORIGINS", k)
		}
	}
}

func TestProbes(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	assertJSON(t, ts.do(http.MethodGet, "/healthz", "", ""), 200, `{"status":"ok"}`)
	assertJSON(t, ts.do(http.MethodGet, "/readyz", "", ""), 200, `{"status":"ready"}`)
	if rec := ts.do(http.MethodHead, "/healthz", "", ""); rec.Code != 200 {
		t.Errorf("HEAD /healthz: %d", rec.Code)
	}

	var down bool
	var mu sync.Mutex
	srv, err := New(testSettings().Settings, testSettings().Config, UseCases{}, func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := ctx.Deadline(); !ok {
			t.Error("readiness check without a deadline")
		}
		if down {
			return errors.Join(core.ErrUnavailable, errors.New("ping: connection refused"))
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe := testServer{Server: srv}
	assertJSON(t, probe.do(http.MethodGet, "/readyz", "", ""), 200, `{"status":"ready"}`)
	mu.Lock()
	down = true
	mu.Unlock()
	rec := probe.do(http.MethodGet, "/readyz", "", "")
	assertJSON(t, rec, 503, `{"detail":"Service temporarily unavailable, please try again later."}`)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	assertJSON(t, probe.do(http.MethodGet, "/healthz", "", ""), 200, `{"status":"ok"}`)
}

func TestReadinessShowsTheOutboxBacklog(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	var failing bool
	ts.ReportBacklog(func(context.Context) (int, time.Time, error) {
		if failing {
			return 0, time.Time{}, errors.Join(core.ErrUnavailable, errors.New("store away"))
		}
		return 3, time.Now().Add(-90 * time.Second), nil
	})
	rec := ts.do(http.MethodGet, "/readyz", "", "")
	var body struct {
		Status string `json:"status"`
		Outbox struct {
			Pending          int     `json:"pending"`
			OldestAgeSeconds float64 `json:"oldest_age_seconds"`
		} `json:"outbox"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("/readyz: %d %s", rec.Code, rec.Body)
	}
	if body.Status != "ready" || body.Outbox.Pending != 3 || body.Outbox.OldestAgeSeconds < 89 || body.Outbox.OldestAgeSeconds > 120 {
		t.Fatalf("/readyz body %s, want 3 pending events, the oldest about 90 s old", rec.Body)
	}
	// A backlog that cannot be read does not make the server unready: the
	// store's own check decides that.
	failing = true
	assertJSON(t, ts.do(http.MethodGet, "/readyz", "", ""), 200, `{"status":"ready"}`)
}

func TestMountAndObserve(t *testing.T) {
	ts := newTestServer(t, nil, nil, nil)
	var mu sync.Mutex
	var records []RequestRecord
	ts.Observe(func(r RequestRecord) {
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
	})
	ts.Mount("/metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "metrics here")
	}))
	ts.Mount("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a mount shadowed a built-in route")
	}))
	if rec := ts.do(http.MethodGet, "/metrics", "", ""); rec.Code != 200 || rec.Body.String() != "metrics here" {
		t.Errorf("mounted handler: %d %q", rec.Code, rec.Body)
	}
	assertJSON(t, ts.do(http.MethodGet, "/healthz", "", ""), 200, `{"status":"ok"}`)
	ts.do(http.MethodPost, strings.TrimSuffix(login, "/"), ctJSON, "{}")
	ts.do(http.MethodGet, "/missing", "", "")

	mu.Lock()
	defer mu.Unlock()
	want := []RequestRecord{
		{Route: "/metrics", Method: "GET", Status: 200},
		{Route: "/healthz", Method: "GET", Status: 200},
		{Route: login, Method: "POST", Status: 400},
		{Route: "", Method: "GET", Status: 404},
	}
	if len(records) != len(want) {
		t.Fatalf("records %+v", records)
	}
	for i, w := range want {
		r := records[i]
		if r.Route != w.Route || r.Method != w.Method || r.Status != w.Status || r.Duration <= 0 {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}
}

func TestBasePathVariants(t *testing.T) {
	for _, base := range []string{"/", "/accounts/", "/a/b"} {
		t.Run(base, func(t *testing.T) {
			ts := newTestServer(t, func(s *testConfig) { s.BasePath = base }, nil, nil)
			prefix := strings.TrimRight(base, "/")
			want := `{"login":["This field is required."],"password":["This field is required."]}`
			assertJSON(t, ts.do(http.MethodPost, prefix+"/login/", ctJSON, "{}"), 400, want)
			assertJSON(t, ts.do(http.MethodPost, prefix+"/login", ctJSON, "{}"), 400, want)
			assertJSON(t, ts.do(http.MethodGet, "/healthz", "", ""), 200, `{"status":"ok"}`)
			rec := ts.do(http.MethodPost, "/healthz", ctJSON, "{}")
			assertJSON(t, rec, 405, `{"detail":"Method \"POST\" not allowed."}`)
			if rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// BenchmarkRejectedLogin measures the adapter's own cost per request: request
// id, access log, routing, body reading and decoding, Huma dispatch, the use
// case's field checks and the JSON answer.
func BenchmarkRejectedLogin(b *testing.B) {
	ts := newTestServer(b, nil, nil, nil)
	body := `{"login": "ann", "password": "", "first_name": "x", "extra": [1, 2, {"k": null}]}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, login, strings.NewReader(body))
		req.Header.Set("Content-Type", ctJSON)
		rec := httptest.NewRecorder()
		ts.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// Every answer of login/ and verify-registration/, which may carry a token,
// forbids caching; other operations are left to the defaults.
func TestTokenOperationsAreNeverCached(t *testing.T) {
	ts := newTestServer(t, func(s *testConfig) { s.MaxBodyBytes = 1024 }, func(_ context.Context, field core.LookupField, key string) (core.User, error) {
		if field == core.ByUsernameKey && key == "ann" {
			return core.User{ID: "u1", Username: "ann", UsernameKey: "ann", IsActive: true, PasswordHash: "hash"}, nil
		}
		return core.User{}, core.ErrNotFound
	}, nil)
	big := `{"login":"` + strings.Repeat("a", 2048) + `"}`
	for _, c := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"login with a token", http.MethodPost, login, `{"login":"ann","password":"right"}`, 200},
		{"login refused", http.MethodPost, login, `{"login":"ann","password":"wrong"}`, 400},
		{"login without the final slash", http.MethodPost, strings.TrimSuffix(login, "/"), `{"login":"ann","password":"right"}`, 200},
		{"login, body too large", http.MethodPost, login, big, 413},
		{"login, wrong method", http.MethodGet, login, ``, 405},
		{"verify refused", http.MethodPost, verify, `{"timestamp":"x"}`, 400},
	} {
		rec := ts.do(c.method, c.path, ctJSON, c.body)
		if rec.Code != c.status {
			t.Errorf("%s: status %d, want %d", c.name, rec.Code, c.status)
		}
		if got := rec.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.name, got)
		}
	}
	if got := ts.do(http.MethodPost, register, ctJSON, `{}`).Header().Get("Cache-Control"); got != "" {
		t.Errorf("register: Cache-Control %q, want none", got)
	}
}
