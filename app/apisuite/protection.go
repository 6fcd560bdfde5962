package apisuite

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

// msgResend is the one answer of resend-verification/.
const msgResend = "If the account exists and is not verified, a new verification e-mail has been sent."

// msgAccountExistsSubject is the subject of the built-in "account already
// exists" notice.
const msgAccountExistsSubject = "Someone tried to register with your e-mail address"

// throttledMessage matches Django REST framework's Throttled detail.
var throttledMessage = regexp.MustCompile(`^Request was throttled\. Expected available in (\d+) seconds?\.$`)

// throttlesOff switches every per-flow rate off, so a case turns on only
// the limits it is about.
func throttlesOff(s *Settings) {
	for _, r := range []*string{&s.ThrottleRegisterIP, &s.ThrottleRegisterEmail, &s.ThrottleVerifyIP, &s.ThrottleVerifyUser,
		&s.ThrottleLoginIP, &s.ThrottleLoginAccount, &s.ThrottleResendIP, &s.ThrottleResendAccount} {
		*r = "off"
	}
}

// mailsTo returns the e-mails sent to address so far.
func (e env) mailsTo(address string) []core.Message {
	var out []core.Message
	for _, m := range e.Mails() {
		for _, to := range m.To {
			if strings.EqualFold(to, address) {
				out = append(out, m)
			}
		}
	}
	return out
}

// waitMailsTo waits until n e-mails were sent to address (resent links go
// out after the answer) and returns them.
func (e env) waitMailsTo(address string, n int) []core.Message {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := e.mailsTo(address)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d e-mails to %s after 15 s, want %d", len(got), address, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectThrottled checks a 429 with DRF's message, and a Retry-After that
// says the same number of seconds, at most max.
func (r response) expectThrottled(t *testing.T, max time.Duration) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429; body %s", r.Status, r.Body)
	}
	msg, _ := r.object(t)["detail"].(string)
	m := throttledMessage.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("429 detail %q is not DRF's throttle message", msg)
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || time.Duration(n)*time.Second > max {
		t.Errorf("wait of %d s, want between 1 s and %v", n, max)
	}
	if (n == 1) != strings.HasSuffix(msg, " second.") {
		t.Errorf("message %q does not agree in number with its wait", msg)
	}
	if got := r.Header.Get("Retry-After"); got != m[1] {
		t.Errorf("Retry-After %q, want %q (the message's wait)", got, m[1])
	}
}

func testResend(t *testing.T, start Start) {
	e := startEnv(t, start)
	now := time.Now().Truncate(time.Second)
	e.setNow(now)
	ann := e.register(newUser("ann", "ann@example.com"))
	e.register(newUser("bob", "bob@example.com"))
	answer := detailBody(msgResend)

	// Within RESEND_VERIFICATION_INTERVAL of the registration's e-mail, and
	// for logins that name nobody, the answer is the same and nothing is sent.
	before := e.counts()
	for _, login := range []string{"ann", "nobody", "nobody@example.com"} {
		e.post("resend-verification/", map[string]any{"login": login}).expect(t, 200, answer)
	}
	e.rejected("resend-verification/", `{}`, 400, fieldBody(map[string][]string{"login": {core.MsgRequired}}))
	e.rejected("resend-verification", `{"login": null}`, 400, fieldBody(map[string][]string{"login": {core.MsgNull}}))
	e.rejected("resend-verification/", `{"login": "  "}`, 400, fieldBody(map[string][]string{"login": {core.MsgBlank}}))

	later := now.Add(2 * time.Minute)
	e.setNow(later)
	e.post("resend-verification/", map[string]any{"login": "ANN@example.com"}).expect(t, 200, answer)
	mails := e.waitMailsTo("ann@example.com", 2)
	fresh := e.parseLink(mails[len(mails)-1])
	if fresh.userID != ann["id"] || fresh.timestamp != strconv.FormatInt(later.Unix(), 10) {
		t.Fatalf("resent link %+v, want user %v signed at %d", fresh, ann["id"], later.Unix())
	}
	e.post("verify-registration/", fresh.body()).expect(t, 200, detailBody(core.MsgUserVerified))

	// A verified user is sent nothing; bob, still unverified, is.
	e.setNow(now.Add(10 * time.Minute))
	e.post("resend-verification/", map[string]any{"login": "ann"}).expect(t, 200, answer)
	e.postForm("resend-verification/", map[string][]string{"login": {"bob"}}).expect(t, 200, answer)
	e.waitMailsTo("bob@example.com", 2)
	if n := len(e.mailsTo("ann@example.com")); n != 2 {
		t.Errorf("%d e-mails to ann, want 2: nothing after a resend within the interval or once verified", n)
	}
	after := e.counts()
	if !is(after.users, before.users) || !is(after.events, before.events+1) || after.mails != before.mails+2 {
		t.Errorf("resends changed more than the mails (and ann's activation): %+v → %+v", before, after)
	}

	off := startEnv(t, start, func(s *Settings) { s.ResendVerificationEnabled = false })
	off.rejected("resend-verification/", `{"login": "ann"}`, http.StatusNotFound, detailBody(msgNotFound))
	off.rejected("resend-verification", `[]`, http.StatusNotFound, detailBody(msgNotFound))
	noVerify := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	noVerify.rejected("resend-verification/", `{"login": "ann"}`, http.StatusNotFound, detailBody(msgNotFound))
}

// With one-time links, an earlier link keeps working after a resend until
// one of the user's links is used; then none does.
func testResendOneTime(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationOneTimeUse = true })
	now := time.Now().Truncate(time.Second)
	e.setNow(now)
	e.register(newUser("cara", "cara@example.com"))
	first := e.lastLink("cara@example.com")
	e.setNow(now.Add(5 * time.Minute))
	e.post("resend-verification/", map[string]any{"login": "cara"}).expect(t, 200, detailBody(msgResend))
	mails := e.waitMailsTo("cara@example.com", 2)
	second := e.parseLink(mails[1])
	if second.timestamp == first.timestamp {
		t.Fatal("the resent link is the first one again")
	}
	e.post("verify-registration/", first.body()).expect(t, 200, detailBody(core.MsgUserVerified))
	e.post("verify-registration/", second.body()).expect(t, 400, detailBody(core.MsgInvalidSignature))
}

func testEnumerationSafe(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterEnumerationSafe = true })
	dora := e.register(newUser("dora", "dora@example.com"))
	e.waitMailsTo("dora@example.com", 1) // her link, sent after the answer
	before := e.counts()

	u := newUser("impostor", "  DORA@example.com ")
	u["first_name"] = "Im"
	res := e.post("register/", u)
	if res.Status != http.StatusCreated {
		t.Fatalf("registration with a taken address: %d %s, want 201 like a new one", res.Status, res.Body)
	}
	got := res.object(t)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "email,first_name,id,last_name,username" {
		t.Errorf("answer keys %v, want those of a new registration", keys)
	}
	if got["id"] == dora["id"] || got["id"] == "" || got["username"] != "impostor" || got["first_name"] != "Im" ||
		got["last_name"] != "" || got["email"] != "DORA@example.com" {
		t.Errorf("answer %v, want a fresh id and the submitted (normalised) fields", got)
	}
	// It stores one record like a new registration (a placeholder holding
	// the username), emits no event, and the courier mails the owner a
	// notice after the answer.
	mails := e.waitMailsTo("dora@example.com", 2)
	after := e.counts()
	if !is(after.users, before.users+1) || !is(after.events, before.events) || after.mails != before.mails+1 {
		t.Errorf("a hidden registration may store one record and send one e-mail: %+v → %+v", before, after)
	}
	notice := mails[len(mails)-1]
	if notice.Subject != msgAccountExistsSubject || strings.Contains(notice.Text, e.Settings.RegisterVerificationURL) {
		t.Errorf("the owner got %q:\n%s\nwant the account-exists notice without a link", notice.Subject, notice.Text)
	}
	e.post("login/", map[string]any{"login": "impostor", "password": password}).expect(t, 400, detailBody(core.MsgLoginInvalid))
	// The username is held as if the account had been created.
	e.rejected("register/", `{"username": "impostor", "email": "other@example.com", "password": "`+password+`", "password_confirm": "`+password+`"}`,
		400, fieldBody(map[string][]string{"username": {core.MsgUsernameExists}}))

	// Usernames are public: a taken one is still reported.
	e.rejected("register/", `{"username": "DORA", "email": "new@example.com", "password": "`+password+`", "password_confirm": "`+password+`"}`,
		400, fieldBody(map[string][]string{"username": {core.MsgUsernameExists}}))
}

func testThrottling(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) {
		s.RateLimitBackend = "memory"
		throttlesOff(s)
		s.ThrottleRegisterIP = "2/hour"
		s.ThrottleLoginIP = "3/minute"
		s.ThrottleVerifyUser = "2/minute"
		s.ThrottleResendAccount = "2/hour"
	})

	t.Run("per client address, rejected requests included", func(t *testing.T) {
		e := env{Env: e.Env, t: t}
		e.rejected("register/", `{}`, 400, fieldBody(map[string][]string{
			"username": {core.MsgRequired}, "password": {core.MsgRequired}, "password_confirm": {core.MsgRequired}}))
		e.register(newUser("erin", "erin@example.com"))
		before := e.counts()
		b := `{"username": "fred", "email": "fred@example.com", "password": "` + password + `", "password_confirm": "` + password + `"}`
		e.postJSON("register/", b).expectThrottled(t, time.Hour)
		e.unchanged(before, "a throttled registration")

		for range 3 {
			e.post("login/", map[string]any{"login": "erin", "password": "wrong"}).expect(t, 400, detailBody(core.MsgLoginInvalid))
		}
		e.post("login/", map[string]any{"login": "erin", "password": password}).expectThrottled(t, time.Minute)
		// Without TRUSTED_PROXIES, X-Forwarded-For is the client's word: ignored.
		e.postJSON("login/", `{"login": "erin", "password": "wrong"}`, "X-Forwarded-For", "203.0.113.50").expectThrottled(t, time.Minute)
	})

	t.Run("per target", func(t *testing.T) {
		e := env{Env: e.Env, t: t}
		for range 2 {
			e.post("resend-verification/", map[string]any{"login": "victim@example.com"}).expect(t, 200, detailBody(msgResend))
		}
		e.post("resend-verification/", map[string]any{"login": "Victim@Example.com"}).expectThrottled(t, time.Hour)
		e.post("resend-verification/", map[string]any{"login": "someone-else@example.com"}).expect(t, 200, detailBody(msgResend))

		forged := e.sign("u-1", time.Now().Unix(), false)
		forged.signature = "forged"
		for range 2 {
			e.post("verify-registration/", forged.body()).expect(t, 400, detailBody(core.MsgInvalidSignature))
		}
		e.post("verify-registration/", forged.body()).expectThrottled(t, time.Minute)
		other := forged
		other.userID = "u-2"
		e.post("verify-registration/", other.body()).expect(t, 400, detailBody(core.MsgInvalidSignature))
	})

	t.Run("behind a trusted proxy", func(t *testing.T) {
		p := startEnv(t, start, func(s *Settings) {
			s.RateLimitBackend = "memory"
			throttlesOff(s)
			s.ThrottleLoginIP = "2/minute"
			s.HTTP.TrustedProxies = []string{"127.0.0.0/8", "::1"}
		})
		attempt := func(xff string) response {
			return p.postJSON("login/", `{"login": "nobody", "password": "wrong"}`, "X-Forwarded-For", xff)
		}
		for range 2 {
			attempt("198.51.100.1").expect(t, 400, detailBody(core.MsgLoginInvalid))
		}
		attempt("198.51.100.1").expectThrottled(t, time.Minute)
		// Each client behind the proxy has its own count…
		attempt("198.51.100.2").expect(t, 400, detailBody(core.MsgLoginInvalid))
		// …and an address the client wrote in front of the proxy's is not believed.
		attempt("192.0.2.99, 198.51.100.1").expectThrottled(t, time.Minute)
	})
}
