// Package apisuite is restreg's HTTP contract (spec/http-api.md) as a test
// suite that any composition — any store, mailer and event backend — runs
// against a live server: every error row, the three registration stages,
// verification in both link modes, login, resending the link, enumeration-safe
// registration, throttling (429), CORS, the probes, the concurrency
// guarantees, and the authenticated account API (spec/account-api.md: token
// authentication, logout, profile, change-password), each message compared
// word for word.
package apisuite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/core"
)

// Env is one running server and what the suite may observe of it.
type Env struct {
	// BaseURL is the server's root, without a trailing slash
	// (e.g. http://127.0.0.1:8000); the API lives under Settings.HTTP.BasePath.
	BaseURL string
	// Client sends the requests; nil means a client with a 30 s timeout.
	Client *http.Client
	// Settings are the settings the server runs with.
	Settings Settings
	// Mails returns every message sent so far, in sending order.
	Mails func() []core.Message
	// Events returns every event recorded so far, published or pending. Nil
	// for a server seen only from outside: the cases then check no events.
	Events func() []core.Event
	// Users returns how many users are stored. Nil for a server seen only
	// from outside: the cases then count no users.
	Users func(t *testing.T) int
	// CheckAnswer, when set, is shown every answer with its request; an
	// error fails the case. The end-to-end run checks each answer against
	// the committed OpenAPI document with it.
	CheckAnswer func(method, url string, requestBody []byte, status int, header http.Header, body []byte) error
	// SetNow fixes the server's clock at now. Nil for a server that keeps
	// its own clock (a running process): the cases that move the clock are
	// skipped.
	SetNow func(now time.Time)
}

// Settings are what a case configures: the domain policy, and the settings
// of the adapters the HTTP contract depends on (the API's shape, the hash
// cost, and the rate limiter), named as in restreg's own configuration.
type Settings struct {
	core.Settings
	// HTTP is the API's base path, body limit, CORS and trusted proxies.
	HTTP httpapi.Config
	// Hashing is the password hasher's algorithm and cost.
	Hashing passhash.Config
	// RateLimitBackend is RATE_LIMIT_BACKEND: memory, redis or off.
	RateLimitBackend string `setting:"RATE_LIMIT_BACKEND"`
}

// DefaultSettings returns the documented defaults of every setting a case
// may change.
func DefaultSettings() Settings {
	return Settings{
		Settings:         core.DefaultSettings(),
		HTTP:             httpapi.DefaultConfig(),
		Hashing:          passhash.DefaultConfig(),
		RateLimitBackend: "memory",
	}
}

// Start starts a fresh server — empty store, no mail, no events — whose
// settings are the composition's own, then changed by configure (which sets
// the suite's secret, verification URL, sender and a cheap hash cost, then
// what the case needs). The server must be stopped when t ends. Links are
// expected to be signed by core.DjangoSigner with Settings.SecretKey.
type Start func(t *testing.T, configure func(*Settings)) *Env

// The suite's fixed settings.
const (
	// SecretKey is the SECRET_KEY the suite signs and checks links with.
	SecretKey = "apisuite-secret-key-not-for-production-7c2e9a4f1b6d"
	// VerificationURL is the REGISTER_VERIFICATION_URL links point to.
	VerificationURL = "https://frontend-host/verify-user/"
	// FromEmail is the VERIFICATION_FROM_EMAIL of the verification e-mails.
	FromEmail = "noreply@example.com"
	// AllowedOrigin is the origin the CORS cases allow.
	AllowedOrigin = "https://frontend-host"
)

// password passes Django's four validators for every user in the suite.
const password = "violet-Anchor-7412"

// Messages of the contract that no core constant holds.
const (
	msgNotFound   = "Not found."
	msgTooLarge   = "Request body too large."
	msgTooLong150 = "Ensure this field has no more than 150 characters."
	msgTooLong254 = "Ensure this field has no more than 254 characters."
)

// Configure applies the suite's fixed settings to s: a known secret, the
// URLs of the mailed links and the sender, a hash cost low enough for hundreds of
// registrations, and no rate limits (every request comes from 127.0.0.1;
// the throttling cases switch limits on themselves).
func Configure(s *Settings) {
	s.SecretKey = SecretKey
	s.SecretKeyFallbacks = nil
	s.RegisterVerificationURL = VerificationURL
	s.ResetPasswordVerificationURL = ResetURL
	s.RegisterEmailVerificationURL = EmailURL
	s.VerificationFromEmail = FromEmail
	s.Hashing.PasswordHasher = "argon2id"
	s.Hashing.Argon2idMemoryKiB = 64
	s.Hashing.Argon2idIterations = 1
	s.Hashing.Argon2idParallelism = 1
	s.RateLimitBackend = "off"
}

// env is an Env bound to the test that uses it.
type env struct {
	*Env
	t *testing.T
}

// startEnv starts a server with the suite's settings and then more.
func startEnv(t *testing.T, start Start, more ...func(*Settings)) env {
	t.Helper()
	e := start(t, func(s *Settings) {
		Configure(s)
		for _, m := range more {
			m(s)
		}
	})
	if e.Client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		e.Client = &http.Client{Timeout: 30 * time.Second, Transport: transport}
		// Close the case's connections before its server stops: a server
		// treats a connection that never carried a request as busy for 5 s
		// when shutting down, and parallel cases leave such connections.
		t.Cleanup(transport.CloseIdleConnections)
	}
	return env{Env: e, t: t}
}

// api returns the URL of an API path such as "register/".
func (e env) api(path string) string {
	return e.BaseURL + strings.TrimRight(e.Settings.HTTP.BasePath, "/") + "/" + path
}

// response is an answer as received.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// send sends a request and reads the whole answer; it is safe to call
// from any goroutine.
func (e env) send(method, url, contentType string, body []byte, header ...string) (response, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return response{}, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.Client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if e.CheckAnswer != nil {
		if err := e.CheckAnswer(method, url, body, res.StatusCode, res.Header, b); err != nil {
			return response{}, fmt.Errorf("%s %s answered %d %.300s: %w", method, url, res.StatusCode, b, err)
		}
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// do sends a request and reads the whole answer, failing the test on a
// transport error.
func (e env) do(method, url, contentType string, body []byte, header ...string) response {
	e.t.Helper()
	res, err := e.send(method, url, contentType, body, header...)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// postJSON posts a raw JSON body.
func (e env) postJSON(path, body string, header ...string) response {
	e.t.Helper()
	return e.do(http.MethodPost, e.api(path), "application/json", []byte(body), header...)
}

// post posts v marshalled as JSON.
func (e env) post(path string, v any) response {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatalf("marshal: %v", err)
	}
	return e.postJSON(path, string(b))
}

// postForm posts form-encoded values.
func (e env) postForm(path string, values url.Values) response {
	e.t.Helper()
	return e.do(http.MethodPost, e.api(path), "application/x-www-form-urlencoded", []byte(values.Encode()))
}

// expect checks the status, that the answer is JSON, and that its value
// equals want (a JSON text; key order does not matter).
func (r response) expect(t *testing.T, status int, want string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Errorf("answer %q is not JSON: %v", r.Body, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(exp)
		t.Errorf("body %s\n want %s", g, w)
	}
}

// object decodes a JSON object answer.
func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

// counts is what a rejected request must leave unchanged; a count the
// server does not show is unobserved.
type counts struct{ users, mails, events int }

// unobserved is a count the Env cannot see.
const unobserved = -1

func (e env) counts() counts {
	e.t.Helper()
	c := counts{users: unobserved, mails: len(e.Mails()), events: unobserved}
	if e.Users != nil {
		c.users = e.Users(e.t)
	}
	if e.Events != nil {
		c.events = len(e.Events())
	}
	return c
}

// is reports whether a count is want, or unobserved.
func is(count, want int) bool { return count == unobserved || count == want }

// events returns the recorded events, or none when the Env cannot see them.
func (e env) events() []core.Event {
	if e.Events == nil {
		return nil
	}
	return e.Events()
}

// setNow fixes the server's clock, skipping the case when the server keeps
// its own.
func (e env) setNow(now time.Time) {
	e.t.Helper()
	if e.SetNow == nil {
		e.t.Skip("moves the server's clock, and this server keeps its own")
	}
	e.SetNow(now)
}

// unchanged fails when anything was stored, sent or recorded since before.
func (e env) unchanged(before counts, what string) {
	e.t.Helper()
	if after := e.counts(); after != before {
		e.t.Errorf("%s changed state: users %d→%d, mails %d→%d, events %d→%d",
			what, before.users, after.users, before.mails, after.mails, before.events, after.events)
	}
}

// rejected posts body to path, checks the answer and that nothing changed.
func (e env) rejected(path, body string, status int, want string) {
	e.t.Helper()
	before := e.counts()
	e.postJSON(path, body).expect(e.t, status, want)
	e.unchanged(before, "POST "+path+" "+body)
}

// registration is a registration request.
type registration map[string]any

func newUser(username, email string) registration {
	return registration{"username": username, "email": email, "password": password, "password_confirm": password}
}

// register registers and expects 201; it returns the answer's user.
func (e env) register(r registration) map[string]any {
	e.t.Helper()
	res := e.post("register/", r)
	if res.Status != http.StatusCreated {
		e.t.Fatalf("register %v: %d %s", r["username"], res.Status, res.Body)
	}
	return res.object(e.t)
}

// link is the parameters of a verification link.
type link struct{ userID, timestamp, signature string }

// lastLink returns the link of the last e-mail sent to address.
func (e env) lastLink(address string) link {
	e.t.Helper()
	mails := e.Mails()
	for i := len(mails) - 1; i >= 0; i-- {
		for _, to := range mails[i].To {
			if strings.Contains(to, address) {
				return e.parseLink(mails[i])
			}
		}
	}
	e.t.Fatalf("no e-mail to %s among %d", address, len(mails))
	return link{}
}

func (e env) parseLink(m core.Message) link {
	e.t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(e.Settings.RegisterVerificationURL) + `[^\s"'<>]*`)
	raw := re.FindString(m.Text)
	if raw == "" {
		e.t.Fatalf("no verification link in the e-mail text:\n%s", m.Text)
	}
	u, err := url.Parse(raw)
	if err != nil {
		e.t.Fatalf("link %q: %v", raw, err)
	}
	q := u.Query()
	l := link{userID: q.Get("user_id"), timestamp: q.Get("timestamp"), signature: q.Get("signature")}
	if l.userID == "" || l.timestamp == "" || l.signature == "" {
		e.t.Fatalf("link %q lacks a parameter", raw)
	}
	return l
}

func (l link) body() map[string]any {
	return map[string]any{"user_id": l.userID, "timestamp": l.timestamp, "signature": l.signature}
}

// sign makes a link the server itself could have made for userID at ts.
func (e env) sign(userID string, ts int64, userActive bool) link {
	signer := core.NewDjangoSigner(e.Settings.SecretKey, nil)
	t := fmt.Sprint(ts)
	sig := signer.Sign(map[string]string{"user_id": userID, "timestamp": t},
		core.RegisterSalt(e.Settings.RegisterVerificationOneTimeUse, userActive))
	return link{userID: userID, timestamp: t, signature: sig}
}

// signWith signs a link's parameters the way Django's TimestampSigner does
// with key and salt.
func signWith(key, salt, userID, timestamp string) string {
	return core.NewDjangoSigner(key, nil).Sign(map[string]string{"user_id": userID, "timestamp": timestamp}, salt)
}

// eventsOf counts the events of type typ about userID; seen is false when
// the Env cannot see events.
func (e env) eventsOf(typ core.EventType, userID string) (n int, seen bool) {
	if e.Events == nil {
		return 0, false
	}
	for _, ev := range e.Events() {
		if ev.Type == typ && ev.User.ID == userID {
			n++
		}
	}
	return n, true
}

// login logs in and expects 200; it returns the answer.
func (e env) login(login, pw string) map[string]any {
	e.t.Helper()
	res := e.post("login/", map[string]any{"login": login, "password": pw})
	if res.Status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", login, res.Status, res.Body)
	}
	return res.object(e.t)
}

var tokenFormat = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Options adjusts a run of the suite to what a backend can prove.
type Options struct {
	// SkipAtomicity, when not empty, leaves out the cases that need the
	// store's conditional updates to be atomic (concurrent uses of one link)
	// and says why in the test output. It exists for FerretDB, which speaks
	// MongoDB's protocol without that guarantee; real stores run everything.
	SkipAtomicity string
}

// Run runs the whole contract against servers made by start.
func Run(t *testing.T, start Start, opts ...Options) {
	var o Options
	for _, x := range opts {
		if x.SkipAtomicity != "" {
			o.SkipAtomicity = x.SkipAtomicity
		}
	}
	t.Run("probes and documents", func(t *testing.T) { testProbes(t, start) })
	t.Run("malformed requests", func(t *testing.T) { testMalformed(t, start) })
	t.Run("switched-off flows", func(t *testing.T) { testSwitchedOff(t, start) })
	t.Run("register field checks", func(t *testing.T) { testRegisterFields(t, start) })
	t.Run("register password stage", func(t *testing.T) { testRegisterPasswords(t, start) })
	t.Run("register e-mail stage", func(t *testing.T) { testRegisterNoEmail(t, start) })
	t.Run("register success", func(t *testing.T) { testRegisterSuccess(t, start) })
	t.Run("usernames", func(t *testing.T) { testUsernames(t, start) })
	t.Run("e-mail uniqueness", func(t *testing.T) { testEmailUniqueness(t, start) })
	t.Run("verification off", func(t *testing.T) { testVerificationOff(t, start) })
	t.Run("verify", func(t *testing.T) { testVerify(t, start) })
	t.Run("verify timestamps", func(t *testing.T) { testVerifyTimestamps(t, start) })
	t.Run("verify numeric user id", func(t *testing.T) { testVerifyNumericUserID(t, start) })
	t.Run("verify one-time links", func(t *testing.T) { testVerifyOneTime(t, start) })
	t.Run("verify auto-login", func(t *testing.T) { testAutoLogin(t, start) })
	t.Run("verify after a key rotation", func(t *testing.T) { testKeyRotation(t, start) })
	t.Run("login", func(t *testing.T) { testLogin(t, start) })
	t.Run("CORS", func(t *testing.T) { testCORS(t, start) })
	t.Run("resend verification", func(t *testing.T) { testResend(t, start) })
	t.Run("resend verification, one-time links", func(t *testing.T) { testResendOneTime(t, start) })
	t.Run("enumeration-safe registration", func(t *testing.T) { testEnumerationSafe(t, start) })
	t.Run("throttling", func(t *testing.T) { testThrottling(t, start) })
	t.Run("token authentication", func(t *testing.T) { testTokenAuthentication(t, start) })
	t.Run("token expiry", func(t *testing.T) { testTokenExpiry(t, start) })
	t.Run("logout", func(t *testing.T) { testLogout(t, start) })
	t.Run("profile", func(t *testing.T) { testProfile(t, start) })
	t.Run("change password", func(t *testing.T) { testChangePassword(t, start) })
	t.Run("DRR compatibility of the account API", func(t *testing.T) { testDRRCompatibility(t, start) })
	t.Run("CORS of the account API", func(t *testing.T) { testAccountCORS(t, start) })
	t.Run("concurrent registrations of one username", func(t *testing.T) { testConcurrentRegistrations(t, start) })
	runRecovery(t, start, o)
	if o.SkipAtomicity != "" {
		t.Logf("concurrent uses of one link: not run against this store: %s", o.SkipAtomicity)
		return
	}
	t.Run("concurrent uses of one link", func(t *testing.T) { testConcurrentVerifications(t, start) })
}
