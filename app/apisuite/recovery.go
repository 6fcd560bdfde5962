package apisuite

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

// The password reset and e-mail change flows: send-reset-password-link/,
// reset-password/, verify-email/, and mailed links opened by GET.

const (
	// ResetURL is the RESET_PASSWORD_VERIFICATION_URL reset links point to.
	ResetURL = "https://frontend-host/reset-password/"
	// EmailURL is the REGISTER_EMAIL_VERIFICATION_URL verify-email links
	// point to.
	EmailURL = "https://frontend-host/verify-email/"
	// resetPassword passes Django's four validators for every user in the
	// suite, like password.
	resetPassword = "harbor-Violet-9035"
)

// runRecovery runs the cases of these flows.
func runRecovery(t *testing.T, start Start, o Options) {
	t.Run("reset password", func(t *testing.T) { testResetPassword(t, start) })
	t.Run("reset password requests", func(t *testing.T) { testResetPasswordRows(t, start) })
	t.Run("reset password, DRR's answers", func(t *testing.T) { testResetFailWhenUserNotFound(t, start) })
	t.Run("reset password switched off", func(t *testing.T) { testResetSwitchedOff(t, start) })
	t.Run("change e-mail", func(t *testing.T) { testChangeEmail(t, start) })
	t.Run("change e-mail without verification", func(t *testing.T) { testChangeEmailWithoutVerification(t, start) })
	t.Run("verify e-mail", func(t *testing.T) { testVerifyEmail(t, start) })
	t.Run("verify e-mail requests", func(t *testing.T) { testVerifyEmailRows(t, start) })
	t.Run("verification by GET", func(t *testing.T) { testVerificationRedirects(t, start) })
	if o.SkipAtomicity != "" {
		return
	}
	t.Run("concurrent uses of one one-time reset link", func(t *testing.T) { testConcurrentResets(t, start) })
	t.Run("concurrent claims of one address", func(t *testing.T) { testConcurrentEmailClaims(t, start) })
}

// activeUser registers username (address username@example.com) and
// verifies it; it returns the user's id.
func (e env) activeUser(username string) string {
	e.t.Helper()
	u := e.register(newUser(username, username+"@example.com"))
	e.post("verify-registration/", e.lastLink(username+"@example.com").body()).expect(e.t, http.StatusOK, detailBody(core.MsgUserVerified))
	id, _ := u["id"].(string)
	return id
}

// linkIn returns the query of the first link to base in m's text.
func linkIn(t *testing.T, m core.Message, base string) url.Values {
	t.Helper()
	raw := regexp.MustCompile(regexp.QuoteMeta(base) + `[^\s"'<>]*`).FindString(m.Text)
	if raw == "" {
		t.Fatalf("no link to %s in the e-mail text:\n%s", base, m.Text)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("link %q: %v", raw, err)
	}
	return u.Query()
}

// resetBody is a reset-password body from a link's query and a password.
func resetBody(q url.Values, pw string) map[string]any {
	return map[string]any{"user_id": q.Get("user_id"), "timestamp": q.Get("timestamp"), "signature": q.Get("signature"),
		"password": pw, "password_confirm": pw}
}

// emailLink is a verify-email link the server itself could have made.
func (e env) emailLink(userID, email string, ts int64) map[string]any {
	t := fmt.Sprint(ts)
	sig := core.NewDjangoSigner(e.Settings.SecretKey, nil).Sign(map[string]string{"user_id": userID, "email": email, "timestamp": t}, core.RegisterEmailSalt)
	return map[string]any{"user_id": userID, "email": email, "timestamp": t, "signature": sig}
}

// Forgot password: the answer tells nothing, the link arrives by mail,
// the reset replaces the password and is recorded.
func testResetPassword(t *testing.T, start Start) {
	e := startEnv(t, start)
	id := e.activeUser("ann")
	token, _ := e.login("ann", password)["token"].(string)
	for _, login := range []string{"ann", "ANN@example.com", "nobody"} {
		e.post("send-reset-password-link/", map[string]any{"login": login}).expect(t, http.StatusOK, detailBody(core.MsgResetLinkSentIfExists))
	}
	mails := e.waitMailsTo("ann@example.com", 3)
	if mails[1].Subject != "Reset password link was sent" {
		t.Fatalf("reset mail subject %q", mails[1].Subject)
	}
	q := linkIn(t, mails[1], ResetURL)
	if q.Get("user_id") != id {
		t.Fatalf("reset link names %q, want %q", q.Get("user_id"), id)
	}
	e.post("reset-password/", resetBody(q, resetPassword)).expect(t, http.StatusOK, detailBody(core.MsgResetPasswordSuccessful))
	e.post("login/", map[string]any{"login": "ann", "password": password}).expect(t, http.StatusBadRequest, detailBody(core.MsgLoginInvalid))
	// RESET_PASSWORD_REVOKE_TOKENS: the sessions from before the reset end.
	e.do(http.MethodGet, e.api("profile/"), "", nil, "Authorization", "Token "+token).expect(t, http.StatusUnauthorized, detailBody(core.MsgTokenInvalid))
	e.login("ann", resetPassword)
	// Reusable without RESET_PASSWORD_VERIFICATION_ONE_TIME_USE (DRR's
	// default), the second link too.
	e.post("reset-password/", resetBody(linkIn(t, mails[2], ResetURL), password)).expect(t, http.StatusOK, detailBody(core.MsgResetPasswordSuccessful))
	e.login("ann", password)
	if n, seen := e.eventsOf(core.EventUserPasswordReset, id); seen && n != 2 {
		t.Errorf("%d user_password_reset events, want 2", n)
	}
}

// Every row of reset-password/ and send-reset-password-link/ rejections,
// in DRR's order; none changes anything.
func testResetPasswordRows(t *testing.T, start Start) {
	e := startEnv(t, start)
	id := e.activeUser("ann")
	required := []string{core.MsgRequired}
	e.rejected("send-reset-password-link/", `{}`, 400, fieldBody(map[string][]string{"login": required}))
	e.rejected("send-reset-password-link/", `{"login": "  "}`, 400, fieldBody(map[string][]string{"login": {core.MsgBlank}}))
	e.rejected("reset-password/", `{}`, 400, fieldBody(map[string][]string{"user_id": required, "timestamp": required,
		"signature": required, "password": required, "password_confirm": required}))
	e.rejected("reset-password/", `{"user_id": "x", "timestamp": "abc", "signature": "s", "password": "p", "password_confirm": "p"}`, 400,
		fieldBody(map[string][]string{"timestamp": {core.MsgInvalidInteger}}))
	now := time.Now().Unix()
	good := core.NewDjangoSigner(e.Settings.SecretKey, nil).Sign(map[string]string{"user_id": id, "timestamp": fmt.Sprint(now)}, core.ResetPasswordSalt(false, ""))
	body := func(userID, sig, pw, confirm string) string {
		b, _ := json.Marshal(map[string]any{"user_id": userID, "timestamp": now, "signature": sig, "password": pw, "password_confirm": confirm})
		return string(b)
	}
	// The user and the password come before the signature.
	e.rejected("reset-password/", body("no-such-user", "forged", resetPassword, resetPassword), 400, detailBody(core.MsgUserNotFound))
	e.rejected("reset-password/", body(id, "forged", "ann", "other"), 400, fieldBody(map[string][]string{
		"password":         {"The password is too similar to the username.", "This password is too short. It must contain at least 8 characters.", "This password is too common."},
		"password_confirm": {core.MsgPasswordsMismatch}, "non_field_errors": {}}))
	e.rejected("reset-password/", body(id, "forged", resetPassword, resetPassword), 400, detailBody(core.MsgInvalidSignature))
	e.rejected("reset-password/", body(id, good, resetPassword, resetPassword+"x"), 400, fieldBody(map[string][]string{
		"password_confirm": {core.MsgPasswordsMismatch}, "non_field_errors": {}}))
	e.setNow(time.Unix(now, 0).Add(24*time.Hour + time.Second))
	e.rejected("reset-password/", body(id, good, resetPassword, resetPassword), 400, detailBody(core.MsgSignatureExpired))
}

// RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND with
// SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL: DRR's answers.
func testResetFailWhenUserNotFound(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) {
		s.ResetPasswordFailWhenUserNotFound = true
		s.SendResetPasswordLinkSerializerUseEmail = true
	})
	e.activeUser("ann")
	e.rejected("send-reset-password-link/", `{"email": "nobody@example.com"}`, 400, detailBody(core.MsgUserNotFound))
	e.rejected("send-reset-password-link/", `{"login": "ann"}`, 400, fieldBody(map[string][]string{"email": {core.MsgRequired}}))
	e.post("send-reset-password-link/", map[string]any{"email": "ann@example.com"}).expect(t, http.StatusOK, detailBody(core.MsgResetLinkSent))
	e.waitMailsTo("ann@example.com", 2)
}

func testResetSwitchedOff(t *testing.T, start Start) {
	for name, configure := range map[string]func(*Settings){
		"no URL":   func(s *Settings) { s.ResetPasswordVerificationURL = "" },
		"disabled": func(s *Settings) { s.ResetPasswordVerificationEnabled = false },
	} {
		t.Run(name, func(t *testing.T) {
			e := startEnv(t, start, configure)
			e.rejected("send-reset-password-link/", `{"login": "ann"}`, http.StatusNotFound, detailBody(msgNotFound))
			e.rejected("reset-password", `{}`, http.StatusNotFound, detailBody(msgNotFound))
			e.rejected("reset-password/", `[]`, http.StatusNotFound, detailBody(msgNotFound))
		})
	}
	e := startEnv(t, start, func(s *Settings) { s.RegisterEmailVerificationEnabled = false })
	e.rejected("verify-email/", `{}`, http.StatusNotFound, detailBody(msgNotFound))
}

// register-email/ needs a token, mails a link to the new address, and the
// link moves the account; an address another account has gets a notice
// instead, with the same answer.
func testChangeEmail(t *testing.T, start Start) {
	e := startEnv(t, start)
	e.activeUser("ann")
	e.activeUser("bob")
	token, _ := e.login("ann", password)["token"].(string)
	auth := []string{"Authorization", "Token " + token}
	before := e.counts()
	e.postJSON("register-email/", `{"email": "ann.new@example.org"}`).expect(t, http.StatusUnauthorized, detailBody(core.MsgAuthNotProvided))
	e.postJSON("register-email/", `{"email": "not-an-address"}`, auth...).expect(t, http.StatusBadRequest, fieldBody(map[string][]string{"email": {core.MsgInvalidEmail}}))
	e.postJSON("register-email/", `{}`, auth...).expect(t, http.StatusBadRequest, fieldBody(map[string][]string{"email": {core.MsgRequired}}))
	e.unchanged(before, "refused register-email/ requests")

	e.postJSON("register-email/", `{"email": "bob@example.com"}`, auth...).expect(t, http.StatusOK, detailBody(core.MsgRegisterEmailSent))
	if notice := e.waitMailsTo("bob@example.com", 2)[1]; notice.Subject != "Your e-mail is already in use" || strings.Contains(notice.Text, "http") {
		t.Errorf("mail to a taken address: %+v", notice)
	}
	e.postJSON("register-email/", `{"email": "ann.new@example.org"}`, auth...).expect(t, http.StatusOK, detailBody(core.MsgRegisterEmailSent))
	m := e.waitMailsTo("ann.new@example.org", 1)[0]
	if m.Subject != "Please verify new e-mail" || !strings.HasPrefix(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\nYou can verify the email ann.new@example.org by clicking on this link:\n\n"+EmailURL+"?") {
		t.Fatalf("verify-email mail: %q %q", m.Subject, m.Text)
	}
	q := linkIn(t, m, EmailURL)
	e.post("verify-email/", map[string]any{"user_id": q.Get("user_id"), "email": q.Get("email"), "timestamp": q.Get("timestamp"),
		"signature": q.Get("signature")}).expect(t, http.StatusOK, detailBody(core.MsgEmailVerified))
	e.login("ann.new@example.org", password)
	if notice := e.waitMailsTo("ann@example.com", 2)[1]; notice.Subject != "Your e-mail address was changed" {
		t.Errorf("notice to the old address: %+v", notice)
	}
}

// REGISTER_EMAIL_VERIFICATION_ENABLED=false: the address changes at once,
// with DRR's answer text; a taken one is refused.
func testChangeEmailWithoutVerification(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterEmailVerificationEnabled = false })
	e.activeUser("ann")
	e.activeUser("bob")
	token, _ := e.login("ann", password)["token"].(string)
	auth := []string{"Authorization", "Token " + token}
	before := e.counts()
	e.postJSON("register-email/", `{"email": "BOB@example.com"}`, auth...).expect(t, http.StatusBadRequest, detailBody(core.MsgEmailAlreadyRegistered))
	e.unchanged(before, "register-email/ to a taken address")
	e.postJSON("register-email/", `{"email": "ann.new@example.org"}`, auth...).expect(t, http.StatusOK, detailBody(core.MsgRegisterEmailSent))
	e.login("ann.new@example.org", password)
	e.waitMailsTo("ann@example.com", 2)
}

// A verify-email link moves the account to the new address: login by it
// works, the old address is told, user_changed_email carries both.
func testVerifyEmail(t *testing.T, start Start) {
	e := startEnv(t, start)
	id := e.activeUser("ann")
	e.post("verify-email/", e.emailLink(id, "Ann.New@Example.ORG", time.Now().Unix())).expect(t, http.StatusOK, detailBody(core.MsgEmailVerified))
	e.login("ann.new@example.org", password)
	notices := e.waitMailsTo("ann@example.com", 2)
	if last := notices[len(notices)-1]; last.Subject != "Your e-mail address was changed" || strings.Contains(last.Text, "http") {
		t.Errorf("notice to the old address: %+v", last)
	}
	for _, ev := range e.events() {
		if ev.Type == core.EventUserChangedEmail && ev.User.ID == id {
			if ev.OldEmail != "ann@example.com" || ev.NewEmail != "Ann.New@example.org" {
				t.Errorf("user_changed_email addresses: %q → %q", ev.OldEmail, ev.NewEmail)
			}
			return
		}
	}
	if e.Events != nil {
		t.Error("no user_changed_email event")
	}
}

// Every rejection of verify-email/, in DRR's order; none changes anything.
func testVerifyEmailRows(t *testing.T, start Start) {
	e := startEnv(t, start)
	ann := e.activeUser("ann")
	e.activeUser("bob")
	inactive := e.register(newUser("cid", "cid@example.com"))["id"].(string)
	now := time.Now().Unix()
	str := func(v map[string]any) string { b, _ := json.Marshal(v); return string(b) }
	required := []string{core.MsgRequired}
	e.rejected("verify-email/", `{}`, 400, fieldBody(map[string][]string{"user_id": required, "email": required, "timestamp": required, "signature": required}))
	bad := e.emailLink(ann, "jürgen@example.com", now)
	e.rejected("verify-email/", str(bad), 400, fieldBody(map[string][]string{"email": {core.MsgInvalidEmail}}))
	tampered := e.emailLink(ann, "ann.new@example.org", now)
	tampered["email"] = "mallory@example.org"
	e.rejected("verify-email/", str(tampered), 400, detailBody(core.MsgInvalidSignature))
	upper := e.emailLink(ann, "ann.new@example.org", now)
	upper["email"] = "ANN.NEW@example.org"
	e.rejected("verify-email/", str(upper), 400, detailBody(core.MsgInvalidSignature))
	e.rejected("verify-email/", str(e.emailLink(ann, "bob@example.com", now)), 400, detailBody(core.MsgEmailAlreadyRegistered))
	e.rejected("verify-email/", str(e.emailLink(inactive, "cid.new@example.org", now)), 400, detailBody(core.MsgUserNotFound))
	e.rejected("verify-email/", str(e.emailLink("no-such-user", "x@example.org", now)), 400, detailBody(core.MsgUserNotFound))
	t.Run("expired", func(t *testing.T) {
		e := env{Env: e.Env, t: t}
		e.setNow(time.Unix(now, 0).Add(7*24*time.Hour + time.Second))
		e.rejected("verify-email/", str(e.emailLink(ann, "ann.new@example.org", now)), 400, detailBody(core.MsgSignatureExpired))
	})
}

// With VERIFICATION_REDIRECT_SUCCESS_URL a mailed link opened in a browser
// verifies and redirects; a refused link goes to the failure URL with the
// reason.
func testVerificationRedirects(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) {
		s.VerificationRedirectSuccessURL = "https://frontend-host/verified/"
		s.VerificationRedirectFailureURL = "https://frontend-host/not-verified/?lang=en"
	})
	client := *e.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, q map[string]any) (int, string) {
		values := url.Values{}
		for k, v := range q {
			values.Set(k, fmt.Sprint(v))
		}
		res, err := client.Get(e.api(path) + "?" + values.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res.StatusCode, res.Header.Get("Location")
	}
	e.register(newUser("ann", "ann@example.com"))
	l := e.lastLink("ann@example.com")
	forged := l.body()
	forged["signature"] = "forged"
	if status, loc := get("verify-registration/", forged); status != http.StatusFound || loc != "https://frontend-host/not-verified/?lang=en&error=Invalid+signature" {
		t.Fatalf("forged link: %d %q", status, loc)
	}
	if status, loc := get("verify-registration/", l.body()); status != http.StatusFound || loc != "https://frontend-host/verified/" {
		t.Fatalf("registration link: %d %q", status, loc)
	}
	e.login("ann", password)
	id := e.register(newUser("bob", "bob@example.com"))["id"].(string)
	e.post("verify-registration/", e.lastLink("bob@example.com").body()).expect(t, http.StatusOK, detailBody(core.MsgUserVerified))
	if status, loc := get("verify-email/", e.emailLink(id, "bob.new@example.org", time.Now().Unix())); status != http.StatusFound || loc != "https://frontend-host/verified/" {
		t.Fatalf("verify-email link: %d %q", status, loc)
	}
	e.login("bob.new@example.org", password)
	if status, loc := get("verify-email/", map[string]any{"user_id": id}); status != http.StatusFound || !strings.HasPrefix(loc, "https://frontend-host/not-verified/?lang=en&error=email%3A+This+field+is+required.") {
		t.Fatalf("incomplete link: %d %q", status, loc)
	}

	// A flow switched off answers 404, not a redirect (DRR's Http404).
	off := startEnv(t, start, func(s *Settings) {
		s.VerificationRedirectSuccessURL = "https://frontend-host/verified/"
		s.VerificationRedirectFailureURL = "https://frontend-host/not-verified/"
		s.RegisterEmailVerificationEnabled = false
	})
	off.do(http.MethodGet, off.api("verify-email/")+"?user_id=1", "", nil).expect(t, http.StatusNotFound, detailBody(msgNotFound))

	// Off (the default): GET is not a method of these paths.
	d := startEnv(t, start)
	d.do(http.MethodGet, d.api("verify-registration/")+"?user_id=1", "", nil).expect(t, http.StatusMethodNotAllowed, detailBody(`Method "GET" not allowed.`))
}

// Twenty concurrent uses of one one-time reset link: exactly one 200, the
// others "Invalid signature".
func testConcurrentResets(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.ResetPasswordVerificationOneTimeUse = true })
	id := e.activeUser("ann")
	e.post("send-reset-password-link/", map[string]any{"login": "ann"}).expect(t, http.StatusOK, detailBody(core.MsgResetLinkSentIfExists))
	q := linkIn(t, e.waitMailsTo("ann@example.com", 2)[1], ResetURL)
	body, _ := json.Marshal(resetBody(q, resetPassword))
	got := tally(e.parallel(20, "reset-password/", body))
	want := map[string]int{"200 " + detailBody(core.MsgResetPasswordSuccessful): 1, "400 " + detailBody(core.MsgInvalidSignature): 19}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("answers %v, want %v", got, want)
	}
	if n, seen := e.eventsOf(core.EventUserPasswordReset, id); seen && n != 1 {
		t.Errorf("%d user_password_reset events, want 1", n)
	}
	e.login("ann", resetPassword)
}

// Two users verifying links to one address, twenty requests at once: the
// address goes to one of them; every request of the other answers "This
// email is already registered." and the other's account keeps its address.
// (The winner's own link is reusable, so several of its concurrent uses
// may succeed, as with django-rest-registration.)
func testConcurrentEmailClaims(t *testing.T, start Start) {
	e := startEnv(t, start)
	ann, bob := e.activeUser("ann"), e.activeUser("bob")
	now := time.Now().Unix()
	bodies := [][]byte{}
	for _, id := range []string{ann, bob} {
		b, _ := json.Marshal(e.emailLink(id, "shared@example.org", now))
		bodies = append(bodies, b)
	}
	answers := make([]response, 20)
	errs := make([]error, 20)
	var wg sync.WaitGroup
	gun := make(chan struct{})
	for i := range answers {
		wg.Go(func() {
			<-gun
			answers[i], errs[i] = e.send(http.MethodPost, e.api("verify-email/"), "application/json", bodies[i%2])
		})
	}
	close(gun)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ok := map[int]int{}
	for i, a := range answers {
		switch string(a.Body) {
		case detailBody(core.MsgEmailVerified):
			ok[i%2]++
		case detailBody(core.MsgEmailAlreadyRegistered):
		default:
			t.Fatalf("answer %d %s", a.Status, a.Body)
		}
	}
	if len(ok) != 1 {
		t.Fatalf("successes per user %v: the address went to both users, or to neither", ok)
	}
	winner, loser := "ann", "bob"
	if ok[1] > 0 {
		winner, loser = "bob", "ann"
	}
	e.login("shared@example.org", password)
	e.login(loser+"@example.com", password)
	ids := map[string]string{"ann": ann, "bob": bob}
	if n, seen := e.eventsOf(core.EventUserChangedEmail, ids[loser]); seen && n != 0 {
		t.Errorf("%s lost the address but %d user_changed_email events were recorded", loser, n)
	}
	if n, seen := e.eventsOf(core.EventUserChangedEmail, ids[winner]); seen && n == 0 {
		t.Errorf("%s got the address without a user_changed_email event", winner)
	}
}
