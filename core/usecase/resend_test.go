package usecase_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// resend asks for a new link for login and waits until any e-mail it
// decided to send has been handed to the mailer.
func (f *fixture) resendAndWait(t *testing.T, login string) error {
	t.Helper()
	err := f.resend.Handle(context.Background(), usecase.ResendInput{Login: core.Str(login)})
	f.deliver(t)
	return err
}

func TestResendMailsAFreshLinkOncePerInterval(t *testing.T) {
	f := newFixture(t, nil)
	registered := f.clock.Now()
	if _, err := f.reg.Handle(context.Background(), registration("kate")); err != nil {
		t.Fatal(err)
	}
	// The registration's own e-mail counts: a resend right after it sends nothing.
	f.clock.Set(registered.Add(30 * time.Second))
	if err := f.resendAndWait(t, "kate"); err != nil {
		t.Fatalf("resend within the interval: %v", err)
	}
	if n := len(f.mailer.Messages()); n != 1 {
		t.Fatalf("%d e-mails after a resend within RESEND_VERIFICATION_INTERVAL, want only the registration's", n)
	}

	later := registered.Add(61 * time.Second)
	f.clock.Set(later)
	if err := f.resendAndWait(t, "kate@example.com"); err != nil {
		t.Fatalf("resend by e-mail address: %v", err)
	}
	mails := f.mailer.Messages()
	if len(mails) != 2 || mails[1].To[0] != "kate@example.com" || mails[1].Subject != "Please verify your account" {
		t.Fatalf("mails after the interval = %+v, want a second verification e-mail", mails)
	}
	fresh := linkInput(t, mails[1])
	if fresh.Timestamp.Text != strconv.FormatInt(later.Unix(), 10) {
		t.Fatalf("resent link signed at %s, want now (%d)", fresh.Timestamp.Text, later.Unix())
	}
	if err := f.resendAndWait(t, "KATE"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.mailer.Messages()); n != 2 {
		t.Fatalf("%d e-mails after an immediate second resend, want 2", n)
	}

	// The old link expired; the new one works.
	f.clock.Set(registered.Add(f.settings.RegisterVerificationPeriod + time.Minute))
	var derr *core.DetailError
	if _, err := f.verify.Handle(context.Background(), linkInput(t, mails[0])); !errors.As(err, &derr) || derr.Detail != core.MsgSignatureExpired {
		t.Fatalf("expired first link: %v", err)
	}
	if _, err := f.verify.Handle(context.Background(), fresh); err != nil {
		t.Fatalf("resent link: %v", err)
	}
	if n := eventsOfType(t, f, core.EventUserActivated); n != 1 {
		t.Fatalf("user_activated events = %d, want 1", n)
	}
}

func TestResendAnswersTheSameWhenThereIsNothingToSend(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.ResendVerificationInterval = 0 })
	if _, err := f.reg.Handle(context.Background(), registration("liam")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verify.Handle(context.Background(), linkInput(t, f.mailer.Messages()[0])); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(time.Hour))
	for _, login := range []string{"liam", "nobody", "nobody@example.com", "liam@example.com"} {
		if err := f.resendAndWait(t, login); err != nil {
			t.Errorf("resend for %q: %v, want the same nil answer", login, err)
		}
	}
	if n := len(f.mailer.Messages()); n != 1 {
		t.Fatalf("%d e-mails, want only the registration's: nothing is sent to verified or unknown users", n)
	}
}

func TestResendMailFailureIsLoggedNotAnswered(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.ResendVerificationInterval = 0 })
	if _, err := f.reg.Handle(context.Background(), registration("mona")); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	f.log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	f.build(t)
	f.mailer.Fail(errors.New("provider rejected the message"))
	f.clock.Set(f.clock.Now().Add(time.Second))
	if err := f.resendAndWait(t, "mona"); err != nil {
		t.Fatalf("resend with a failing mailer = %v, want the usual answer", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "mail courier: e-mail given up") || !strings.Contains(logs.String(), "provider rejected the message") {
		t.Fatalf("the failure is not logged:\n%s", logs.String())
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func(p []byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func TestConcurrentResendsSendOneMail(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.reg.Handle(context.Background(), registration("nina")); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(10 * time.Minute))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := f.resend.Handle(context.Background(), usecase.ResendInput{Login: core.Str("nina")}); err != nil {
				t.Errorf("resend: %v", err)
			}
		})
	}
	wg.Wait()
	f.deliver(t)
	if n := len(f.mailer.Messages()); n != 2 {
		t.Fatalf("%d e-mails after 20 concurrent resends, want 2 (registration + one resend)", n)
	}
}

// In one-time mode every link of an unverified user is signed under the
// same salt: the earlier link keeps working until one of them is used, and
// then none does.
func TestResendInOneTimeModeKeepsEarlierLinksUntilOneIsUsed(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterVerificationOneTimeUse = true })
	if _, err := f.reg.Handle(context.Background(), registration("olga")); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(f.clock.Now().Add(2 * time.Minute))
	if err := f.resendAndWait(t, "olga"); err != nil {
		t.Fatal(err)
	}
	mails := f.mailer.Messages()
	if len(mails) != 2 {
		t.Fatalf("%d e-mails, want 2", len(mails))
	}
	if _, err := f.verify.Handle(context.Background(), linkInput(t, mails[0])); err != nil {
		t.Fatalf("earlier link after a resend: %v", err)
	}
	var derr *core.DetailError
	if _, err := f.verify.Handle(context.Background(), linkInput(t, mails[1])); !errors.As(err, &derr) || derr.Detail != core.MsgInvalidSignature {
		t.Fatalf("resent link after the user was verified: %v, want Invalid signature", err)
	}
}

func TestResendValidatesAndCanBeSwitchedOff(t *testing.T) {
	f := newFixture(t, nil)
	for _, v := range []core.Value{{}, {Present: true, Null: true}, core.Str("  ")} {
		err := f.resend.Handle(context.Background(), usecase.ResendInput{Login: v})
		var verr *core.ValidationError
		if !errors.As(err, &verr) || len(verr.Fields["login"]) != 1 {
			t.Errorf("login %+v: %v, want a login field error", v, err)
		}
	}
	for name, configure := range map[string]func(*core.Settings){
		"RESEND_VERIFICATION_ENABLED=false":   func(s *core.Settings) { s.ResendVerificationEnabled = false },
		"REGISTER_VERIFICATION_ENABLED=false": func(s *core.Settings) { s.RegisterVerificationEnabled = false },
	} {
		off := newFixture(t, configure)
		if err := off.resend.Handle(context.Background(), usecase.ResendInput{Login: core.Str("x")}); !errors.Is(err, core.ErrFlowDisabled) {
			t.Errorf("%s: %v, want core.ErrFlowDisabled", name, err)
		}
	}
}

// blockedLookups is a store whose lookups wait until released, to show what
// a request waits for.
type blockedLookups struct {
	*memstore.Store
	entered chan struct{}
	release chan struct{}
}

func (s *blockedLookups) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.Store.FindUser(ctx, field, key)
}

// The answer of resend-verification/ waits for no lookup and no write, so
// its time is the same whether the account exists, is unverified or not:
// only the field check and the throttles run before it.
func TestResendAnswersBeforeLookingTheLoginUp(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.reg.Handle(context.Background(), registration("vera")); err != nil {
		t.Fatal(err)
	}
	store := &blockedLookups{Store: f.store, entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := f.settings
	resend := usecase.NewResendVerification(usecase.NewResendConfig(s), usecase.NewLogins(store, s), store,
		usecase.NewThrottle(f.limiter, f.log), f.clock, f.courier, f.log)
	answered := make(chan error, 1)
	go func() { answered <- resend.Handle(context.Background(), usecase.ResendInput{Login: core.Str("vera")}) }()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("resend: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(store.release)
		t.Fatal("the answer waited for the store's lookup")
	}
	// The lookup happens after the answer, and its work finishes.
	<-store.entered
	close(store.release)
	if err := resend.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
