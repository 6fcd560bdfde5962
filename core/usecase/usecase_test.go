package usecase_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
	"github.com/restreg/restreg/templates"
)

// fixture is one process's use cases over an in-memory store. Tests change
// its parts (the settings, the mailer the use cases send with, the
// limiter, …) and call build to make the use cases anew from them.
type fixture struct {
	settings core.Settings
	store    *memstore.Store
	hasher   ports.PasswordHasher
	policy   *core.PasswordPolicy
	composer ports.EmailComposer
	signer   ports.Signer
	// sender is what the use cases send with: mailer unless a test says
	// otherwise.
	sender  ports.Mailer
	mailer  *porttest.RecordingMailer
	clock   *porttest.Clock
	limiter ports.RateLimiter
	log     *slog.Logger

	links  usecase.Links
	reg    *usecase.Register
	verify *usecase.VerifyRegistration
	login  *usecase.Login
	resend *usecase.ResendVerification
	// The account flows after registration.
	sendReset   *usecase.SendResetPasswordLink
	reset       *usecase.ResetPassword
	regEmail    *usecase.RegisterEmail
	verifyEmail *usecase.VerifyEmail
	// The authenticated account use cases.
	auth           *usecase.Authenticate
	logout         *usecase.Logout
	profile        *usecase.Profile
	changePassword *usecase.ChangePassword
	// courier sends what the store's mail queue holds; deliver runs it.
	courier *usecase.Courier
}

// build makes the use cases from the fixture's parts, after the work of the
// previous resend use case (if any) is done.
func (f *fixture) build(t testing.TB) {
	t.Helper()
	if f.resend != nil {
		if err := f.resend.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s := f.settings
	throttle := usecase.NewThrottle(f.limiter, f.log)
	tokens := usecase.NewOpaqueTokens(s, f.store, f.clock)
	logins := usecase.NewLogins(f.store, s)
	urls := usecase.QueryURLBuilder{Base: s.RegisterVerificationURL}
	f.links = usecase.NewLinks(f.signer, urls, s)
	emails := usecase.Emails{Links: f.links, Composer: f.composer, Mailer: f.sender}
	finder := usecase.NewResetFinder(f.store, s)
	resetLinks, emailLinks := usecase.NewResetLinks(f.signer, urls, s), usecase.NewEmailLinks(f.signer, urls, s)
	accountEmails := usecase.AccountEmails{Finder: finder, ResetLinks: resetLinks, EmailLinks: emailLinks,
		EmailUnique: s.UserEmailUnique, Composer: f.composer, Mailer: f.sender}
	// No relay runs here: the events wait in the store for the tests to read.
	f.courier = usecase.NewCourier(usecase.NewCourierConfig(s), f.store, f.store, emails, f.clock, nil, f.log,
		usecase.WithAccountMail(f.store, accountEmails))
	f.reg = usecase.NewRegister(usecase.NewRegisterConfig(s), f.store, f.store, f.hasher, f.policy, emails, throttle,
		f.clock, nil, f.courier, f.log)
	f.verify = usecase.NewVerifyRegistration(usecase.NewVerifyConfig(s), f.store, f.signer, tokens, f.store, throttle, f.clock, nil, f.log)
	f.login = usecase.NewLogin(usecase.NewLoginConfig(s), logins, f.store, f.hasher, tokens, f.store, throttle, f.clock, nil, f.log)
	f.auth = usecase.NewAuthenticate(usecase.NewAuthenticateConfig(s), f.store, f.clock)
	f.logout = usecase.NewLogout(f.store, f.clock, nil, f.log)
	f.profile = usecase.NewProfile(usecase.NewProfileConfig(s), f.store, f.store, f.clock, nil, f.log)
	f.changePassword = usecase.NewChangePassword(usecase.NewChangePasswordConfig(s), f.store, f.hasher, f.policy, throttle, f.clock, nil, f.log)
	f.resend = usecase.NewResendVerification(usecase.NewResendConfig(s), logins, f.store, throttle, f.clock, f.courier, f.log)
	f.sendReset = usecase.NewSendResetPasswordLink(usecase.NewSendResetConfig(s), finder, f.store, throttle, f.clock, f.courier, f.log)
	f.reset = usecase.NewResetPassword(usecase.NewResetPasswordConfig(s), resetLinks, f.store, f.store, f.hasher, f.policy,
		throttle, f.clock, nil, f.log)
	changes := usecase.NewEmailChangeConfig(s)
	f.regEmail = usecase.NewRegisterEmail(changes, f.store, f.store, f.store, throttle, f.clock, nil, f.courier, f.log)
	f.verifyEmail = usecase.NewVerifyEmail(changes, emailLinks, f.store, f.store, throttle, f.clock, nil, f.courier, f.log)
}

// deliver lets the work behind answered resends finish and the courier send
// every e-mail due now, as the running server does in the background.
func (f *fixture) deliver(t testing.TB) {
	t.Helper()
	if err := f.resend.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.courier.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func testSettings() core.Settings {
	s := core.DefaultSettings()
	s.SecretKey = "test-secret-key-for-use-cases-5a9c2e7f1b4d8063c1e5"
	s.RegisterVerificationURL = "https://frontend-host/verify-user/"
	s.ResetPasswordVerificationURL = "https://frontend-host/reset-password/"
	s.RegisterEmailVerificationURL = "https://frontend-host/verify-email/"
	s.VerificationFromEmail = "noreply@example.com"
	return s
}

// cheapHashing is a hash cost low enough for hundreds of registrations.
func cheapHashing() passhash.Config {
	h := passhash.DefaultConfig()
	h.Argon2idMemoryKiB = 64
	h.Argon2idIterations = 1
	return h
}

func newFixture(t testing.TB, configure func(*core.Settings)) *fixture {
	t.Helper()
	return newFixtureHashing(t, configure, cheapHashing())
}

// newFixtureHashing is newFixture with the hasher configured by hashing.
func newFixtureHashing(t testing.TB, configure func(*core.Settings), hashing passhash.Config) *fixture {
	t.Helper()
	s := testSettings()
	if configure != nil {
		configure(&s)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("settings: %v", err)
	}
	hasher, err := passhash.New(hashing)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := core.NewPasswordPolicy(s.PasswordValidators, s.PasswordMinLength)
	if err != nil {
		t.Fatal(err)
	}
	composer, err := email.NewComposer(templates.Register, email.Dir{}, s.VerificationFromEmail, s.ReplyTo(),
		email.WithAccountExistsTemplates(templates.AccountExists, email.Dir{}),
		email.WithResetPasswordTemplates(templates.ResetPassword, email.Dir{}),
		email.WithRegisterEmailTemplates(templates.RegisterEmail, email.Dir{}),
		email.WithEmailChangedTemplates(templates.EmailChanged, email.Dir{}))
	if err != nil {
		t.Fatal(err)
	}
	mailer := &porttest.RecordingMailer{}
	f := &fixture{
		settings: s, store: memstore.New(), hasher: hasher, policy: policy, composer: composer,
		signer: core.NewDjangoSigner(s.SecretKey, s.SecretKeyFallbacks), sender: mailer, mailer: mailer,
		clock: porttest.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)),
	}
	f.build(t)
	return f
}

func registration(username string) usecase.RegisterInput {
	return usecase.RegisterInput{
		Username:        core.Str(username),
		Email:           core.Str(username + "@Example.COM"),
		Password:        core.Str("correct horse battery"),
		PasswordConfirm: core.Str("correct horse battery"),
	}
}

var linkPattern = regexp.MustCompile(`https://frontend-host/verify-user/\?user_id=([^&\s]+)&timestamp=(\d+)&signature=([A-Za-z0-9_-]+)`)

// linkInput reads the verification link out of a sent message.
func linkInput(t *testing.T, msg core.Message) usecase.VerifyInput {
	t.Helper()
	m := linkPattern.FindStringSubmatch(msg.Text)
	if m == nil {
		t.Fatalf("no verification link in mail text %q", msg.Text)
	}
	return usecase.VerifyInput{UserID: core.Str(m[1]), Timestamp: core.Str(m[2]), Signature: core.Str(m[3])}
}

func eventsOfType(t *testing.T, f *fixture, typ core.EventType) int {
	t.Helper()
	pending, err := f.store.PendingEvents(context.Background(), f.clock.Now().Add(24*time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range pending {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestRegisterStoresInactiveUserMailsLinkAndVerifies(t *testing.T) {
	f := newFixture(t, nil)
	ctx := core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "req-1", RemoteAddr: "127.0.0.1:5000", UserAgent: "test"})
	pub, err := f.reg.Handle(ctx, registration("ann"))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if pub.Email != "ann@example.com" || pub.IsActive {
		t.Fatalf("registered user = %+v, want e-mail domain lower-cased and inactive", pub)
	}
	stored, err := f.store.FindUser(ctx, core.ByID, pub.ID)
	if err != nil || stored.IsActive {
		t.Fatalf("stored user = %+v, %v; want inactive", stored, err)
	}
	mails := f.mailer.Messages()
	if len(mails) != 1 || mails[0].To[0] != "ann@example.com" || mails[0].Subject != "Please verify your account" {
		t.Fatalf("mails = %+v", mails)
	}
	if strings.Contains(mails[0].Text+mails[0].HTML, "correct horse") {
		t.Fatal("the password appears in the e-mail")
	}
	pending, err := f.store.PendingEvents(ctx, f.clock.Now(), 10)
	if err != nil || len(pending) != 1 || pending[0].Type != core.EventUserRegistered || pending[0].Request.ID != "req-1" {
		t.Fatalf("after the mail was sent the user_registered event must be available: %+v, %v", pending, err)
	}

	res, err := f.verify.Handle(ctx, linkInput(t, mails[0]))
	if err != nil || res.Token != "" {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	stored, _ = f.store.FindUser(ctx, core.ByID, pub.ID)
	if !stored.IsActive {
		t.Fatal("user not active after verification")
	}
	if n := eventsOfType(t, f, core.EventUserActivated); n != 1 {
		t.Fatalf("user_activated events = %d, want 1", n)
	}
	// Reusable mode: the same link answers success again without a second event.
	if _, err := f.verify.Handle(ctx, linkInput(t, mails[0])); err != nil {
		t.Fatalf("second use of a reusable link: %v", err)
	}
	if n := eventsOfType(t, f, core.EventUserActivated); n != 1 {
		t.Fatalf("user_activated events after reuse = %d, want 1", n)
	}
}

func TestRegisterHoldsEventUntilMailIsSent(t *testing.T) {
	f := newFixture(t, nil)
	visibleDuringSend := -1
	f.mailer.OnSend = func() {
		pending, err := f.store.PendingEvents(context.Background(), f.clock.Now(), 10)
		if err == nil {
			visibleDuringSend = len(pending)
		}
	}
	if _, err := f.reg.Handle(context.Background(), registration("bob")); err != nil {
		t.Fatal(err)
	}
	if visibleDuringSend != 0 {
		t.Fatalf("%d events were publishable before the e-mail was sent; want the event held", visibleDuringSend)
	}
}

func TestRegisterMailFailureLeavesNoUserAndNoEvent(t *testing.T) {
	for _, mailErr := range []error{
		fmt.Errorf("provider: %w", core.ErrUnavailable),
		errors.New("provider rejected the message"),
	} {
		f := newFixture(t, nil)
		f.mailer.Fail(mailErr)
		_, err := f.reg.Handle(context.Background(), registration("carol"))
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("mail failure %q: err = %v, want ErrUnavailable (503)", mailErr, err)
		}
		if _, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "carol"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("user left behind after mail failure: %v", err)
		}
		if n, _, _ := f.store.Backlog(context.Background()); n != 0 {
			t.Fatalf("%d events left behind after mail failure", n)
		}
		// The same registration succeeds once mail works again.
		f.mailer.Fail(nil)
		if _, err := f.reg.Handle(context.Background(), registration("carol")); err != nil {
			t.Fatalf("retry after mail recovered: %v", err)
		}
	}
}

func TestRegisterWithoutVerificationStoresActiveUserAndSendsNothing(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterVerificationEnabled = false })
	in := registration("dave")
	in.Email = core.Str("")
	pub, err := f.reg.Handle(context.Background(), in)
	if err != nil || !pub.IsActive {
		t.Fatalf("register: %+v, %v", pub, err)
	}
	if len(f.mailer.Messages()) != 0 {
		t.Fatal("a mail was sent with verification off")
	}
	if n := eventsOfType(t, f, core.EventUserRegistered); n != 1 {
		t.Fatalf("user_registered events = %d, want 1", n)
	}
}

func TestRegisterStagesAnswerInOrder(t *testing.T) {
	f := newFixture(t, nil)
	// Stage 1 wins over stage 2: a missing username hides the weak password.
	in := registration("")
	in.Email = core.Str("ann@example.com")
	in.Password, in.PasswordConfirm = core.Str("123"), core.Str("123")
	_, err := f.reg.Handle(context.Background(), in)
	var verr *core.ValidationError
	if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields["username"][0] != core.MsgBlank || verr.ShowNonFieldErrors {
		t.Fatalf("stage 1: %#v", err)
	}
	// Stage 2: password messages in validator order, plus the mismatch.
	in = registration("erin")
	in.Password, in.PasswordConfirm = core.Str("1234567"), core.Str("7654321")
	_, err = f.reg.Handle(context.Background(), in)
	if !errors.As(err, &verr) || !verr.ShowNonFieldErrors || len(verr.NonFieldErrors) != 0 {
		t.Fatalf("stage 2: %#v", err)
	}
	want := []string{
		"This password is too short. It must contain at least 8 characters.",
		"This password is too common.",
		"This password is entirely numeric.",
	}
	if strings.Join(verr.Fields["password"], "|") != strings.Join(want, "|") || verr.Fields["password_confirm"][0] != core.MsgPasswordsMismatch {
		t.Fatalf("stage 2 messages: %#v", verr.Fields)
	}
	// Stage 3: verification on and no e-mail.
	in = registration("frank")
	in.Email = core.Value{}
	_, err = f.reg.Handle(context.Background(), in)
	var derr *core.DetailError
	if !errors.As(err, &derr) || derr.Detail != core.MsgNoEmail {
		t.Fatalf("stage 3: %#v", err)
	}
	if len(f.mailer.Messages()) != 0 {
		t.Fatal("rejected registrations sent mail")
	}
	if n, _, _ := f.store.Backlog(context.Background()); n != 0 {
		t.Fatal("rejected registrations recorded events")
	}
}

func TestVerifyRejectsTamperedExpiredAndUnknown(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.reg.Handle(context.Background(), registration("gina")); err != nil {
		t.Fatal(err)
	}
	good := linkInput(t, f.mailer.Messages()[0])
	detail := func(in usecase.VerifyInput) string {
		_, err := f.verify.Handle(context.Background(), in)
		var derr *core.DetailError
		if !errors.As(err, &derr) {
			t.Fatalf("want a detail error, got %v", err)
		}
		return derr.Detail
	}
	tampered := good
	tampered.Signature = core.Str(good.Signature.Text[:42] + "A")
	if good.Signature.Text[42] == 'A' {
		tampered.Signature = core.Str(good.Signature.Text[:42] + "B")
	}
	if got := detail(tampered); got != core.MsgInvalidSignature {
		t.Fatalf("tampered: %q", got)
	}
	otherUser := good
	otherUser.UserID = core.Str("someone-else")
	if got := detail(otherUser); got != core.MsgInvalidSignature {
		t.Fatalf("signature of another user id: %q", got)
	}
	f.clock.Set(f.clock.Now().Add(f.settings.RegisterVerificationPeriod + time.Second))
	if got := detail(good); got != core.MsgSignatureExpired {
		t.Fatalf("expired: %q", got)
	}
	// A correctly signed link for a user that does not exist.
	f.clock.Set(f.clock.Now().Add(-f.settings.RegisterVerificationPeriod))
	link, err := f.links.Sign(core.User{ID: "no-such-user"}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := linkPattern.FindStringSubmatch(link)
	if got := detail(usecase.VerifyInput{UserID: core.Str(m[1]), Timestamp: core.Num(m[2]), Signature: core.Str(m[3])}); got != core.MsgUserNotFound {
		t.Fatalf("unknown user: %q", got)
	}
}

func TestVerifyConcurrentUsesOfOneLink(t *testing.T) {
	for _, oneTime := range []bool{true, false} {
		t.Run(fmt.Sprintf("one-time=%v", oneTime), func(t *testing.T) {
			f := newFixture(t, func(s *core.Settings) { s.RegisterVerificationOneTimeUse = oneTime })
			if _, err := f.reg.Handle(context.Background(), registration("hank")); err != nil {
				t.Fatal(err)
			}
			in := linkInput(t, f.mailer.Messages()[0])
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok, invalid := 0, 0
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.verify.Handle(context.Background(), in)
					mu.Lock()
					defer mu.Unlock()
					var derr *core.DetailError
					switch {
					case err == nil:
						ok++
					case errors.As(err, &derr) && derr.Detail == core.MsgInvalidSignature:
						invalid++
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}()
			}
			wg.Wait()
			wantOK := 50
			if oneTime {
				wantOK = 1
			}
			if ok != wantOK || ok+invalid != 50 {
				t.Fatalf("successes = %d, invalid = %d; want %d successes", ok, invalid, wantOK)
			}
			if n := eventsOfType(t, f, core.EventUserActivated); n != 1 {
				t.Fatalf("user_activated events = %d, want exactly 1", n)
			}
		})
	}
}

func TestVerifyAutoLoginIssuesAToken(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterVerificationAutoLogin = true })
	pub, err := f.reg.Handle(context.Background(), registration("ivy"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.verify.Handle(context.Background(), linkInput(t, f.mailer.Messages()[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(res.Token) {
		t.Fatalf("token %q is not 40 lower-case hex characters", res.Token)
	}
	owner, err := f.store.UserIDForToken(context.Background(), usecase.TokenDigest(res.Token))
	if err != nil || owner != pub.ID {
		t.Fatalf("token belongs to %q (%v), want %q", owner, err, pub.ID)
	}
}

func TestLoginAnswersTheSameForEveryFailure(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.reg.Handle(context.Background(), registration("jack")); err != nil {
		t.Fatal(err)
	}
	try := func(login, password string) error {
		_, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str(login), Password: core.Str(password)})
		return err
	}
	for name, err := range map[string]error{
		"inactive user":  try("jack", "correct horse battery"),
		"unknown login":  try("nobody", "correct horse battery"),
		"wrong password": try("jack", "wrong"),
	} {
		var derr *core.DetailError
		if !errors.As(err, &derr) || derr.Detail != core.MsgLoginInvalid {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := f.verify.Handle(context.Background(), linkInput(t, f.mailer.Messages()[0])); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"jack", "JACK", "jack@example.com", "Jack@EXAMPLE.com"} {
		res, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str(login), Password: core.Str("correct horse battery")})
		if err != nil || len(res.Token) != 40 {
			t.Fatalf("login %q: %+v, %v", login, res, err)
		}
	}
}

func TestLoginUpgradesDjangoPBKDF2Hash(t *testing.T) {
	f := newFixture(t, nil)
	// Made by Django: make_password("lètmein", "seasalt", "pbkdf2_sha256") with 260000 iterations.
	const djangoHash = "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="
	u := core.User{ID: core.NewID(), Username: "migrated", UsernameKey: "migrated", PasswordHash: djangoHash, IsActive: true, CreatedAt: f.clock.Now()}
	if err := f.store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("migrated"), Password: core.Str("lètmein")}); err != nil {
		t.Fatalf("login with a Django hash: %v", err)
	}
	stored, err := f.store.FindUser(context.Background(), core.ByID, u.ID)
	if err != nil || !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
		t.Fatalf("hash after login = %q, %v; want it upgraded to argon2id", stored.PasswordHash, err)
	}
	if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("migrated"), Password: core.Str("lètmein")}); err != nil {
		t.Fatalf("login with the upgraded hash: %v", err)
	}
}

func TestVerificationLinkMatchesDjango(t *testing.T) {
	// The url_example of the Django signing vectors. Their key is shorter
	// than Settings accept, so it goes to the signer directly.
	f := newFixture(t, nil)
	f.signer = core.NewDjangoSigner("conformance-secret-key-0123456789abcdef", nil)
	f.build(t)
	link, err := f.links.Sign(core.User{ID: "42"}, time.Unix(1764374400, 0))
	if err != nil {
		t.Fatal(err)
	}
	const want = "https://frontend-host/verify-user/?user_id=42&timestamp=1764374400&signature=fb1wv1jNoT97ET7naOw4HNShNlEGev0D_t9m4eHmnno"
	if link != want {
		t.Fatalf("link = %s\nwant   %s", link, want)
	}
}
