package apisuite_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
	"github.com/restreg/restreg/templates"
)

// TestContractOnAHandMadeComposition runs the suite against the use cases
// wired by hand on the in-memory store, so the suite is proven without the
// fx application.
func TestContractOnAHandMadeComposition(t *testing.T) {
	apisuite.Run(t, startByHand)
}

// countingStore counts stored users, which the memory store does not expose.
type countingStore struct {
	*memstore.Store
	mu    sync.Mutex
	users int
}

func (s *countingStore) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	err := s.Store.CreateUser(ctx, u, events...)
	if err == nil {
		s.mu.Lock()
		s.users++
		s.mu.Unlock()
	}
	return err
}

func (s *countingStore) DeleteInactiveUser(ctx context.Context, id string) error {
	err := s.Store.DeleteInactiveUser(ctx, id)
	if err == nil {
		s.mu.Lock()
		s.users--
		s.mu.Unlock()
	}
	return err
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users
}

func startByHand(t *testing.T, configure func(*apisuite.Settings)) *apisuite.Env {
	t.Helper()
	all := apisuite.DefaultSettings()
	configure(&all)
	s := all.Settings
	if err := errors.Join(s.Validate(), all.HTTP.Validate(), all.Hashing.Validate()); err != nil {
		t.Fatalf("settings: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := &countingStore{Store: memstore.New()}
	clock := porttest.NewClock(time.Time{})
	mailer := &porttest.RecordingMailer{}
	hasher, err := passhash.New(all.Hashing)
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
	var limiter ports.RateLimiter
	if all.RateLimitBackend == "memory" {
		limiter = memlimit.New(memlimit.Options{})
	}
	throttle := usecase.NewThrottle(limiter, log)
	signer := core.NewDjangoSigner(s.SecretKey, s.SecretKeyFallbacks)
	tokens := usecase.NewOpaqueTokens(s, store.Store, clock)
	logins := usecase.NewLogins(store, s)
	emails := usecase.Emails{
		Links:    usecase.NewLinks(signer, usecase.QueryURLBuilder{Base: s.RegisterVerificationURL}, s),
		Composer: composer,
		Mailer:   mailer,
	}
	urls := usecase.QueryURLBuilder{}
	finder := usecase.NewResetFinder(store, s)
	resetLinks, emailLinks := usecase.NewResetLinks(signer, urls, s), usecase.NewEmailLinks(signer, urls, s)
	accountEmails := usecase.AccountEmails{Finder: finder, ResetLinks: resetLinks, EmailLinks: emailLinks,
		EmailUnique: s.UserEmailUnique, Composer: composer, Mailer: mailer}
	// No relay runs here: the events wait in the store for Env.Events.
	courier := usecase.NewCourier(usecase.CourierConfig{PollInterval: 20 * time.Millisecond, MailSendTimeout: s.MailSendTimeout},
		store.Store, store, emails, clock, nil, log, usecase.WithAccountMail(store.Store, accountEmails))
	resend := usecase.NewResendVerification(usecase.NewResendConfig(s), logins, store, throttle, clock, courier, log)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = courier.Run(ctx)
	}()
	t.Cleanup(func() {
		_ = resend.Wait(context.Background())
		stop()
		<-done
	})
	srv, err := httpapi.New(s, all.HTTP, httpapi.UseCases{
		Register:       usecase.NewRegister(usecase.NewRegisterConfig(s), store, store.Store, hasher, policy, emails, throttle, clock, nil, courier, log),
		Verify:         usecase.NewVerifyRegistration(usecase.NewVerifyConfig(s), store, signer, tokens, store.Store, throttle, clock, nil, log),
		Login:          usecase.NewLogin(usecase.NewLoginConfig(s), logins, store, hasher, tokens, store.Store, throttle, clock, nil, log),
		Resend:         resend,
		Authenticate:   usecase.NewAuthenticate(usecase.NewAuthenticateConfig(s), store.Store, clock),
		Logout:         usecase.NewLogout(store.Store, clock, nil, log),
		Profile:        usecase.NewProfile(usecase.NewProfileConfig(s), store, store.Store, clock, nil, log),
		ChangePassword: usecase.NewChangePassword(usecase.NewChangePasswordConfig(s), store.Store, hasher, policy, throttle, clock, nil, log),
		SendResetLink:  usecase.NewSendResetPasswordLink(usecase.NewSendResetConfig(s), finder, store.Store, throttle, clock, courier, log),
		ResetPassword: usecase.NewResetPassword(usecase.NewResetPasswordConfig(s), resetLinks, store, store.Store, hasher, policy,
			throttle, clock, nil, log),
		RegisterEmail: usecase.NewRegisterEmail(usecase.NewEmailChangeConfig(s), store, store.Store, store.Store, throttle, clock, nil, courier, log),
		VerifyEmail:   usecase.NewVerifyEmail(usecase.NewEmailChangeConfig(s), emailLinks, store, store.Store, throttle, clock, nil, courier, log),
	}, store.Ping, log)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &apisuite.Env{
		BaseURL:  hs.URL,
		Client:   hs.Client(),
		Settings: all,
		Mails:    mailer.Messages,
		Events: func() []core.Event {
			// No relay runs here, so every recorded event is still pending;
			// a far-future "now" includes those held back for their e-mail.
			events, err := store.PendingEvents(context.Background(), time.Now().AddDate(100, 0, 0), 1<<30)
			if err != nil {
				t.Errorf("pending events: %v", err)
			}
			return events
		},
		Users:  func(*testing.T) int { return store.count() },
		SetNow: clock.Set,
	}
}
