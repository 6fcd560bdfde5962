package usecase_test

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// activeUser registers and verifies username (password "correct horse
// battery", address username@example.com) and returns the stored user.
func activeUser(t *testing.T, f *fixture, username string) core.User {
	t.Helper()
	ctx := context.Background()
	pub, err := f.reg.Handle(ctx, registration(username))
	if err != nil {
		t.Fatal(err)
	}
	msgs := f.mailer.Messages()
	if _, err := f.verify.Handle(ctx, linkInput(t, msgs[len(msgs)-1])); err != nil {
		t.Fatal(err)
	}
	u, err := f.store.FindUser(ctx, core.ByID, pub.ID)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var (
	resetLinkPattern = regexp.MustCompile(`https://frontend-host/reset-password/\?user_id=([^&\s]+)&timestamp=(\d+)&signature=([A-Za-z0-9_-]+)`)
	emailLinkPattern = regexp.MustCompile(`https://frontend-host/verify-email/\?user_id=([^&\s]+)&email=([^&\s]+)&timestamp=(\d+)&signature=([A-Za-z0-9_-]+)`)
)

// mailsTo returns the messages sent to address.
func mailsTo(f *fixture, address string) []core.Message {
	var out []core.Message
	for _, m := range f.mailer.Messages() {
		if len(m.To) == 1 && m.To[0] == address {
			out = append(out, m)
		}
	}
	return out
}

// resetInput reads the reset link out of msg and adds the new password.
func resetInput(t *testing.T, msg core.Message, password string) usecase.ResetPasswordInput {
	t.Helper()
	m := resetLinkPattern.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no reset link in %q", msg.Text)
	}
	id, _ := url.QueryUnescape(m[1])
	return usecase.ResetPasswordInput{UserID: core.Str(id), Timestamp: core.Str(m[2]), Signature: core.Str(m[3]),
		Password: core.Str(password), PasswordConfirm: core.Str(password)}
}

// emailInput reads the verify-email link out of msg.
func emailInput(t *testing.T, msg core.Message) usecase.VerifyEmailInput {
	t.Helper()
	m := emailLinkPattern.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no verify-email link in %q", msg.Text)
	}
	id, _ := url.QueryUnescape(m[1])
	email, _ := url.QueryUnescape(m[2])
	return usecase.VerifyEmailInput{UserID: core.Str(id), Email: core.Str(email), Timestamp: core.Str(m[3]), Signature: core.Str(m[4])}
}

func detailOf(err error) string {
	var d *core.DetailError
	if errors.As(err, &d) {
		return d.Detail
	}
	return ""
}

func login(f *fixture, username, password string) error {
	_, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str(username), Password: core.Str(password)})
	return err
}

// Forgot password, end to end in the core: the answer says nothing, the
// courier mails the link, the reset replaces the password, logs every
// session out and is recorded once.
func TestResetPasswordFlow(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	u := activeUser(t, f, "ann")
	before := len(f.mailer.Messages())
	tok, err := f.login.Handle(ctx, usecase.LoginInput{Login: core.Str("ann"), Password: core.Str("correct horse battery")})
	if err != nil {
		t.Fatal(err)
	}

	res, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ANN@example.com")})
	if err != nil || res.Detail != core.MsgResetLinkSentIfExists {
		t.Fatalf("send link = %+v, %v", res, err)
	}
	if len(f.mailer.Messages()) != before {
		t.Fatal("the link was mailed on the request path; only the courier may look the login up")
	}
	f.deliver(t)
	mails := mailsTo(f, "ann@example.com")
	last := mails[len(mails)-1]
	if last.Subject != "Reset password link was sent" || !strings.HasPrefix(last.Text, "You can reset your password by clicking on this link:\n\nhttps://frontend-host/reset-password/?user_id="+u.ID+"&timestamp=") {
		t.Fatalf("reset mail = %+v", last)
	}

	if err := f.reset.Handle(ctx, resetInput(t, last, "a brand new secret")); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := login(f, "ann", "correct horse battery"); detailOf(err) != core.MsgLoginInvalid {
		t.Fatalf("old password after reset: %v", err)
	}
	if err := login(f, "ann", "a brand new secret"); err != nil {
		t.Fatalf("new password after reset: %v", err)
	}
	if _, _, err := f.store.FindToken(ctx, usecase.TokenDigest(tok.Token)); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the token issued before the reset still works: %v", err)
	}
	if n := eventsOfType(t, f, core.EventUserPasswordReset); n != 1 {
		t.Fatalf("%d user_password_reset events, want 1", n)
	}
}

// The request path does the same work for an unknown login as for a known
// one, and answers the same; the courier drops the mail.
func TestSendResetLinkIsEnumerationSafe(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	activeUser(t, f, "ann")
	before := len(f.mailer.Messages())
	for _, login := range []string{"ann", "nobody", "nobody@example.com"} {
		res, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str(login)})
		if err != nil || res.Detail != core.MsgResetLinkSentIfExists {
			t.Fatalf("send link for %q = %+v, %v", login, res, err)
		}
	}
	f.deliver(t)
	if got := len(f.mailer.Messages()) - before; got != 1 {
		t.Fatalf("%d mails sent, want 1 (to ann only)", got)
	}
	due, err := f.store.ClaimQueuedMail(ctx, f.clock.Now().Add(time.Hour), time.Minute, 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("mails left queued: %+v, %v", due, err)
	}
}

// With RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND the answers are DRR's.
func TestSendResetLinkFailWhenUserNotFound(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) {
		s.ResetPasswordFailWhenUserNotFound = true
		s.SendResetPasswordLinkSerializerUseEmail = true
	})
	ctx := context.Background()
	activeUser(t, f, "ann")
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Email: core.Str("nobody@example.com")}); detailOf(err) != core.MsgUserNotFound {
		t.Fatalf("unknown address: %v", err)
	}
	// USE_EMAIL reads email, not login.
	var invalid *core.ValidationError
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); !errors.As(err, &invalid) || invalid.Fields["email"][0] != core.MsgRequired {
		t.Fatalf("login without email: %v", err)
	}
	res, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Email: core.Str("ann@example.com")})
	if err != nil || res.Detail != core.MsgResetLinkSent {
		t.Fatalf("known address = %+v, %v", res, err)
	}
	f.deliver(t)
	if n := len(mailsTo(f, "ann@example.com")); n != 2 {
		t.Fatalf("ann got %d mails, want the verification and the reset link", n)
	}
}

func TestSendResetLinkNotServedWithoutURL(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.ResetPasswordVerificationURL = "" })
	if _, err := f.sendReset.Handle(context.Background(), usecase.SendResetInput{Login: core.Str("ann")}); !errors.Is(err, core.ErrFlowDisabled) {
		t.Fatalf("send link without a URL: %v", err)
	}
	if err := f.reset.Handle(context.Background(), usecase.ResetPasswordInput{}); !errors.Is(err, core.ErrFlowDisabled) {
		t.Fatalf("reset without a URL: %v", err)
	}
}

// DRR checks the password (with the user's attributes) and the
// confirmation before the signature; a bad password changes nothing.
func TestResetPasswordValidatesBeforeTheSignature(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	u := activeUser(t, f, "ann")
	in := usecase.ResetPasswordInput{UserID: core.Str(u.ID), Timestamp: core.Str("1"), Signature: core.Str("forged"),
		Password: core.Str("ann@example.com"), PasswordConfirm: core.Str("other")}
	var invalid *core.ValidationError
	err := f.reset.Handle(ctx, in)
	if !errors.As(err, &invalid) || len(invalid.Fields["password"]) == 0 || invalid.Fields["password_confirm"][0] != core.MsgPasswordsMismatch || !invalid.ShowNonFieldErrors {
		t.Fatalf("weak, unconfirmed password with a forged link: %v", err)
	}
	in.UserID = core.Str("no-such-user")
	if err := f.reset.Handle(ctx, in); detailOf(err) != core.MsgUserNotFound {
		t.Fatalf("unknown user: %v", err)
	}
	in.UserID, in.Password, in.PasswordConfirm = core.Str(u.ID), core.Str("a brand new secret"), core.Str("a brand new secret")
	if err := f.reset.Handle(ctx, in); detailOf(err) != core.MsgInvalidSignature {
		t.Fatalf("forged link: %v", err)
	}
	if err := login(f, "ann", "correct horse battery"); err != nil {
		t.Fatalf("a refused reset changed the password: %v", err)
	}
}

// Twenty concurrent uses of one one-time link: exactly one succeeds, the
// others answer "Invalid signature", and one event is recorded.
func TestOneTimeResetLinkWorksOnceUnderConcurrency(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) {
		s.ResetPasswordVerificationOneTimeUse = true
		s.ThrottleResetPasswordAccount = "off"
		s.ThrottleResetPasswordIP = "off"
	})
	ctx := context.Background()
	activeUser(t, f, "ann")
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	mails := mailsTo(f, "ann@example.com")
	link := mails[len(mails)-1]

	var wg sync.WaitGroup
	results := make([]error, 20)
	for i := range results {
		wg.Go(func() { results[i] = f.reset.Handle(ctx, resetInput(t, link, "a brand new secret")) })
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case detailOf(err) != core.MsgInvalidSignature:
			t.Fatalf("a losing use answered %v, want Invalid signature", err)
		}
	}
	if ok != 1 || eventsOfType(t, f, core.EventUserPasswordReset) != 1 {
		t.Fatalf("%d uses succeeded and %d events recorded, want exactly one of each", ok, eventsOfType(t, f, core.EventUserPasswordReset))
	}
}

// Without one-time use a link is reusable until it expires, even across
// password changes (DRR's behaviour), and expires after the period.
func TestReusableResetLinkAndExpiry(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	activeUser(t, f, "ann")
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	mails := mailsTo(f, "ann@example.com")
	link := mails[len(mails)-1]
	for _, pw := range []string{"first new secret", "second new secret"} {
		if err := f.reset.Handle(ctx, resetInput(t, link, pw)); err != nil {
			t.Fatalf("reuse of a reusable link: %v", err)
		}
	}
	f.clock.Advance(24*time.Hour + time.Second)
	if err := f.reset.Handle(ctx, resetInput(t, link, "third new secret")); detailOf(err) != core.MsgSignatureExpired {
		t.Fatalf("expired link: %v", err)
	}
}

// A login that upgrades a Django hash to argon2id changes the hash, so an
// outstanding one-time link dies with it, as Django's own reset tokens die
// on login.
func TestHashUpgradeOnLoginKillsOneTimeResetLinks(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.ResetPasswordVerificationOneTimeUse = true })
	ctx := context.Background()
	const djangoHash = "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="
	u := core.User{ID: core.NewID(), Username: "migrated", UsernameKey: "migrated", Email: "migrated@example.com",
		EmailKey: core.EmailKey("migrated@example.com"), PasswordHash: djangoHash, IsActive: true, CreatedAt: f.clock.Now()}
	if err := f.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("migrated")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	link := mailsTo(f, "migrated@example.com")[0]
	if err := login(f, "migrated", "lètmein"); err != nil {
		t.Fatal(err)
	}
	if err := f.reset.Handle(ctx, resetInput(t, link, "a brand new secret")); detailOf(err) != core.MsgInvalidSignature {
		t.Fatalf("one-time link after the hash upgrade: %v", err)
	}
}

// The courier signs a one-time link with the hash the user has when it is
// sent, stamped with the time it was queued; a reset mail still queued when
// its link would have expired is dropped.
func TestCourierSignsResetLinksAtSendTime(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.ResetPasswordVerificationOneTimeUse = true })
	ctx := context.Background()
	activeUser(t, f, "ann")
	queued := f.clock.Now()
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	f.deliver(t)
	mails := mailsTo(f, "ann@example.com")
	in := resetInput(t, mails[len(mails)-1], "a brand new secret")
	if in.Timestamp.Text != strconv.FormatInt(queued.Unix(), 10) {
		t.Fatalf("link stamped %s, want the queueing time %d", in.Timestamp.Text, queued.Unix())
	}
	if err := f.reset.Handle(ctx, in); err != nil {
		t.Fatalf("link signed at send time: %v", err)
	}

	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
		t.Fatal(err)
	}
	before := len(f.mailer.Messages())
	f.clock.Advance(25 * time.Hour)
	f.deliver(t)
	if len(f.mailer.Messages()) != before {
		t.Fatal("a reset mail whose link had expired while queued was sent")
	}
}

// A mailer outage defers the mail; it goes out once the mailer is back.
func TestCourierRetriesAccountMailAfterAnOutage(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	activeUser(t, f, "ann")
	before := len(f.mailer.Messages())
	f.mailer.Fail(core.ErrUnavailable)
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	f.mailer.Fail(nil)
	f.deliver(t)
	if len(f.mailer.Messages()) != before {
		t.Fatal("a deferred mail was retried before its backoff")
	}
	f.clock.Advance(time.Minute)
	f.deliver(t)
	if got := len(f.mailer.Messages()) - before; got != 1 {
		t.Fatalf("%d mails after the outage, want the one deferred", got)
	}
}

// E-mail change end to end in the core: the link goes to the new address,
// verifying it moves the account, the old address is told, one
// user_changed_email with both addresses is recorded, and the user logs in
// by the new address.
func TestChangeEmailFlow(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	u := activeUser(t, f, "ann")
	if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: u, Email: core.Str(" Ann.New@Example.ORG ")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	// Sent as typed, like DRR (only an internationalised domain would be
	// turned into its A-label).
	mails := mailsTo(f, "Ann.New@Example.ORG")
	if len(mails) != 1 || mails[0].Subject != "Please verify new e-mail" ||
		!strings.HasPrefix(mails[0].Text, "\nYou can verify the email Ann.New@Example.ORG by clicking on this link:\n\nhttps://frontend-host/verify-email/?user_id="+u.ID+"&email=Ann.New%40Example.ORG&timestamp=") {
		t.Fatalf("mails to the new address = %+v", mails)
	}
	in := emailInput(t, mails[0])
	if err := f.verifyEmail.Handle(ctx, in); err != nil {
		t.Fatalf("verify email: %v", err)
	}
	stored, _ := f.store.FindUser(ctx, core.ByID, u.ID)
	if stored.Email != "Ann.New@example.org" {
		t.Fatalf("address after verification = %q", stored.Email)
	}
	if err := login(f, "ann.new@example.org", "correct horse battery"); err != nil {
		t.Fatalf("login by the new address: %v", err)
	}
	f.deliver(t)
	notices := mailsTo(f, "ann@example.com")
	if last := notices[len(notices)-1]; last.Subject != "Your e-mail address was changed" || strings.Contains(last.Text, "http") {
		t.Fatalf("notice to the old address = %+v", last)
	}
	pending, _ := f.store.PendingEvents(ctx, f.clock.Now().Add(time.Hour), 100)
	var changed []core.Event
	for _, ev := range pending {
		if ev.Type == core.EventUserChangedEmail {
			changed = append(changed, ev)
		}
	}
	if len(changed) != 1 || changed[0].OldEmail != "ann@example.com" || changed[0].NewEmail != "Ann.New@example.org" || changed[0].User.Email != "Ann.New@example.org" {
		t.Fatalf("user_changed_email events = %+v", changed)
	}
	// Reused once the address is the user's own: unique addresses make it
	// "already registered", as in DRR, and nothing more is recorded.
	if err := f.verifyEmail.Handle(ctx, in); detailOf(err) != core.MsgEmailAlreadyRegistered {
		t.Fatalf("reused link: %v", err)
	}
	if n := eventsOfType(t, f, core.EventUserChangedEmail); n != 1 {
		t.Fatalf("%d user_changed_email events after reuse, want 1", n)
	}
}

// An address another account has gets DRR's "already in use" mail and no
// link; the answer is the same, so it reveals nothing.
func TestRegisterEmailToATakenAddressMailsANoticeInstead(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ann := activeUser(t, f, "ann")
	activeUser(t, f, "bob")
	if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: ann, Email: core.Str("bob@example.com")}); err != nil {
		t.Fatalf("register a taken address: %v", err)
	}
	f.deliver(t)
	mails := mailsTo(f, "bob@example.com")
	last := mails[len(mails)-1]
	if last.Subject != "Your e-mail is already in use" || strings.Contains(last.Text, "http") ||
		!strings.HasPrefix(last.Text, "\nYou or someone else requested change to this e-mail for which there is an existing account.\n") {
		t.Fatalf("mail to the taken address = %+v", last)
	}
}

// Reset links are counted per client and per account.
func TestResetPasswordThrottles(t *testing.T) {
	f := throttled(t, func(s *core.Settings) { s.ThrottleResetPasswordIP, s.ThrottleResetPasswordAccount = "off", "2/hour" })
	ctx := context.Background()
	for range 2 {
		if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
			t.Fatal(err)
		}
	}
	var throttled *core.ThrottledError
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ANN")}); !errors.As(err, &throttled) {
		t.Fatalf("third link for one login within the hour: %v", err)
	}
	in := usecase.ResetPasswordInput{UserID: core.Str("42"), Timestamp: core.Str("1"), Signature: core.Str("x"),
		Password: core.Str("a brand new secret"), PasswordConfirm: core.Str("a brand new secret")}
	for range 2 {
		if err := f.reset.Handle(ctx, in); detailOf(err) != core.MsgUserNotFound {
			t.Fatal(err)
		}
	}
	if err := f.reset.Handle(ctx, in); !errors.As(err, &throttled) {
		t.Fatalf("third reset for one user within the hour: %v", err)
	}
}

func TestRegisterEmailValidatesAndThrottles(t *testing.T) {
	f := throttled(t, func(s *core.Settings) { s.ThrottleEmailChangeAccount = "2/hour" })
	ctx := context.Background()
	u := activeUser(t, f, "ann")
	var invalid *core.ValidationError
	for in, want := range map[string]string{"": core.MsgBlank, "not-an-address": core.MsgInvalidEmail} {
		if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: u, Email: core.Str(in)}); !errors.As(err, &invalid) || invalid.Fields["email"][0] != want {
			t.Fatalf("email %q: %v", in, err)
		}
	}
	if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: u}); !errors.As(err, &invalid) || invalid.Fields["email"][0] != core.MsgRequired {
		t.Fatalf("no email: %v", err)
	}
	for range 2 {
		if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: u, Email: core.Str("a@example.org")}); err != nil {
			t.Fatal(err)
		}
	}
	var throttled *core.ThrottledError
	if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: u, Email: core.Str("a@example.org")}); !errors.As(err, &throttled) {
		t.Fatalf("third change within the hour: %v", err)
	}
}

// Without verification the address changes at once (with the notice and
// the event); a taken one is refused and nothing changes.
func TestRegisterEmailWithoutVerification(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterEmailVerificationEnabled = false })
	ctx := context.Background()
	ann := activeUser(t, f, "ann")
	activeUser(t, f, "bob")
	if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: ann, Email: core.Str("bob@example.com")}); detailOf(err) != core.MsgEmailAlreadyRegistered {
		t.Fatalf("taken address: %v", err)
	}
	if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: ann, Email: core.Str("ann@example.org")}); err != nil {
		t.Fatal(err)
	}
	stored, _ := f.store.FindUser(ctx, core.ByID, ann.ID)
	if stored.Email != "ann@example.org" || eventsOfType(t, f, core.EventUserChangedEmail) != 1 {
		t.Fatalf("address = %q, events = %d", stored.Email, eventsOfType(t, f, core.EventUserChangedEmail))
	}
	f.deliver(t)
	if notices := mailsTo(f, "ann@example.com"); notices[len(notices)-1].Subject != "Your e-mail address was changed" {
		t.Fatalf("old address not told: %+v", notices)
	}
	if err := f.verifyEmail.Handle(ctx, usecase.VerifyEmailInput{}); !errors.Is(err, core.ErrFlowDisabled) {
		t.Fatalf("verify-email with verification off: %v", err)
	}
}

// Two users verifying links to one address concurrently: at most one gets
// it, the others answer "This email is already registered.".
func TestVerifyEmailConcurrentClaimsOfOneAddress(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) {
		s.ThrottleVerifyIP, s.ThrottleVerifyUser, s.ThrottleEmailChangeAccount = "off", "off", "off"
	})
	ctx := context.Background()
	var links []usecase.VerifyEmailInput
	for _, name := range []string{"ann", "bob"} {
		u := activeUser(t, f, name)
		if err := f.regEmail.Handle(ctx, usecase.RegisterEmailInput{User: u, Email: core.Str("shared@example.org")}); err != nil {
			t.Fatal(err)
		}
		f.deliver(t)
		mails := mailsTo(f, "shared@example.org")
		links = append(links, emailInput(t, mails[len(mails)-1]))
	}
	var wg sync.WaitGroup
	results := make([]error, 20)
	for i := range results {
		wg.Go(func() { results[i] = f.verifyEmail.Handle(ctx, links[i%2]) })
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case detailOf(err) != core.MsgEmailAlreadyRegistered:
			t.Fatalf("a losing claim answered %v", err)
		}
	}
	if ok != 1 || eventsOfType(t, f, core.EventUserChangedEmail) != 1 {
		t.Fatalf("%d claims won, %d events; want exactly one", ok, eventsOfType(t, f, core.EventUserChangedEmail))
	}
}

// Unverified users may reset their password (DRR looks them up without
// requiring verification) and still cannot log in until verified.
func TestUnverifiedUserMayResetButNotLogIn(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, err := f.reg.Handle(ctx, registration("una")); err != nil {
		t.Fatal(err)
	}
	verification := mailsTo(f, "una@example.com")[0]
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("una")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	mails := mailsTo(f, "una@example.com")
	if len(mails) != 2 {
		t.Fatalf("%d mails to an unverified user, want the verification and the reset link", len(mails))
	}
	if err := f.reset.Handle(ctx, resetInput(t, mails[1], "a brand new secret")); err != nil {
		t.Fatalf("reset of an unverified user: %v", err)
	}
	if err := login(f, "una", "a brand new secret"); detailOf(err) != core.MsgLoginInvalid {
		t.Fatalf("login before verification: %v", err)
	}
	if _, err := f.verify.Handle(ctx, linkInput(t, verification)); err != nil {
		t.Fatal(err)
	}
	if err := login(f, "una", "a brand new secret"); err != nil {
		t.Fatalf("login after verification with the reset password: %v", err)
	}
}

// A courier that died after claiming a mail (its lease taken, nothing sent)
// loses nothing: once the lease ends another pass sends it, once.
func TestAccountMailClaimedByADeadCourierIsSentAfterItsLease(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	activeUser(t, f, "ann")
	before := len(f.mailer.Messages())
	if _, err := f.sendReset.Handle(ctx, usecase.SendResetInput{Login: core.Str("ann")}); err != nil {
		t.Fatal(err)
	}
	claimed, err := f.store.ClaimQueuedMail(ctx, f.clock.Now(), 2*time.Minute, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim as the courier that dies: %+v, %v", claimed, err)
	}
	f.deliver(t)
	if len(f.mailer.Messages()) != before {
		t.Fatal("a mail under another courier's lease was sent")
	}
	f.clock.Advance(2*time.Minute + time.Second)
	f.deliver(t)
	f.deliver(t)
	if got := len(f.mailer.Messages()) - before; got != 1 {
		t.Fatalf("%d mails after the lease ended, want the one claimed by the dead courier", got)
	}
}
