// Package restreg is the core of a restreg deployment: Core provides the use
// cases, the Django-compatible signer, the password policy, the e-mail
// composer, the outbox relay and the mail courier on the ports that adapter
// modules provide. It imports no adapter: a deployment adds one module per
// port (a store, a mailer, an events publisher, a rate limiter, a password
// hasher) and an edge such as adapters/httpapi, and links only those.
// app/restreg maps the documented settings onto the adapters it ships.
package restreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/templates"
)

// Core provides the use cases, the signer, the password policy, the e-mail
// composer, the outbox relay and the mail courier, and runs the relay and the
// courier for the life of the app. It needs core.Settings, *slog.Logger and
// every port: ports.UserStore, Outbox, MailQueue, TokenStore, AccountStore,
// AccountMailQueue, Mailer, EventPublisher, PasswordHasher, RateLimiter and
// Clock.
// The rate limiter is required: a deployment that wants none says so with
// Unlimited.
var Core = fx.Module("restreg",
	fx.Provide(
		newPasswordPolicy,
		fx.Annotate(newSigner, fx.As(new(ports.Signer))),
		fx.Annotate(newURLBuilder, fx.As(new(ports.VerificationURLBuilder)), fx.As(new(ports.LinkURLBuilder))),
		newComposer,
		fx.Annotate(newTokenIssuer, fx.As(new(ports.TokenIssuer))),
		newRelay,
	),
	useCases,
	fx.Invoke(runRelay, runCourier, drainResends, logUnservedFlows),
)

// SystemClock provides the real clock as ports.Clock.
var SystemClock = fx.Provide(fx.Annotate(func() usecase.SystemClock { return usecase.SystemClock{} }, fx.As(new(ports.Clock))))

// Unlimited provides a ports.RateLimiter that throttles nothing, for
// deployments that limit requests elsewhere (RATE_LIMIT_BACKEND=off).
var Unlimited = fx.Module("noratelimit",
	fx.Provide(fx.Annotate(func() usecase.Unlimited { return usecase.Unlimited{} }, fx.As(new(ports.RateLimiter)))),
)

func newPasswordPolicy(s core.Settings) (*core.PasswordPolicy, error) {
	return core.NewPasswordPolicy(s.PasswordValidators, s.PasswordMinLength)
}

func newSigner(s core.Settings) *core.DjangoSigner {
	return core.NewDjangoSigner(s.SecretKey, s.SecretKeyFallbacks)
}

func newURLBuilder(s core.Settings) usecase.QueryURLBuilder {
	return usecase.QueryURLBuilder{Base: s.RegisterVerificationURL}
}

// sendsMail reports whether any flow switched on by s sends e-mail.
func sendsMail(s core.Settings) bool {
	changesEmail := s.RegisterEmailEnabled() && (s.RegisterEmailVerificationEnabled || s.RegisterEmailNotifyOldAddress)
	return s.RegisterVerificationEnabled || s.RegisterEnumerationSafe || s.ResetPasswordEnabled() || changesEmail
}

// newComposer parses the e-mail templates (every set) at start-up, so a
// broken template stops the server before it accepts a request.
func newComposer(s core.Settings) (ports.EmailComposer, error) {
	if !sendsMail(s) {
		return noVerificationMail{}, nil
	}
	var dirs [5]email.Dir
	for i, path := range []string{s.RegisterVerificationEmailTemplates, s.AccountExistsEmailTemplates,
		s.ResetPasswordVerificationEmailTemplates, s.RegisterEmailVerificationEmailTemplates, s.EmailChangedEmailTemplates} {
		dir, err := TemplateDir(path)
		if err != nil {
			return nil, fmt.Errorf("e-mail templates: %w", err)
		}
		dirs[i] = dir
	}
	c, err := email.NewComposer(templates.Register, dirs[0], s.VerificationFromEmail, s.ReplyTo(),
		email.WithAccountExistsTemplates(templates.AccountExists, dirs[1]),
		email.WithResetPasswordTemplates(templates.ResetPassword, dirs[2]),
		email.WithRegisterEmailTemplates(templates.RegisterEmail, dirs[3]),
		email.WithEmailChangedTemplates(templates.EmailChanged, dirs[4]))
	if err != nil {
		return nil, fmt.Errorf("e-mail templates: %w", err)
	}
	return c, nil
}

// logUnservedFlows names, once at start, the setting a switched-on flow
// lacks: such a flow answers 404 rather than stopping start-up, so that
// deployments made before it existed keep starting.
func logUnservedFlows(s core.Settings, log *slog.Logger) {
	if s.ResetPasswordVerificationEnabled && !s.ResetPasswordEnabled() {
		log.Info("password reset is not served (404): set RESET_PASSWORD_VERIFICATION_URL to the page that receives the link, or RESET_PASSWORD_VERIFICATION_ENABLED=false to silence this")
	}
	if !s.RegisterEmailEnabled() {
		log.Info("e-mail change is not served (404): set REGISTER_EMAIL_VERIFICATION_URL to the page that receives the link, or REGISTER_EMAIL_VERIFICATION_ENABLED=false to change addresses without a link")
	}
}

// TemplateDir opens the template directory at path (a setting such as
// REGISTER_VERIFICATION_EMAIL_TEMPLATES) for email.NewComposer; "" is the
// zero Dir, which overrides nothing. The composer itself reads no disk.
func TemplateDir(path string) (email.Dir, error) {
	if path == "" {
		return email.Dir{}, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return email.Dir{}, fmt.Errorf("email: template directory: %w", err)
	}
	if !info.IsDir() {
		return email.Dir{}, fmt.Errorf("email: template directory %s is not a directory", path)
	}
	return email.Dir{FS: os.DirFS(path), Path: path}, nil
}

// noVerificationMail stands in for the composer when no flow sends mail,
// and no From address need be configured; nothing asks it for a message
// then.
type noVerificationMail struct{}

func (noVerificationMail) ComposeVerification(context.Context, core.PublicUser, string) (core.Message, error) {
	return core.Message{}, errors.New("verification e-mail is switched off (REGISTER_VERIFICATION_ENABLED=false)")
}

func (noVerificationMail) ComposeAccountExists(context.Context, core.PublicUser) (core.Message, error) {
	return core.Message{}, errors.New("account-exists e-mail is switched off (REGISTER_ENUMERATION_SAFE=false)")
}

func (noVerificationMail) ComposeResetPassword(context.Context, core.PublicUser, string) (core.Message, error) {
	return core.Message{}, errors.New("password reset is not served")
}

func (noVerificationMail) ComposeRegisterEmail(context.Context, core.PublicUser, string, string, bool) (core.Message, error) {
	return core.Message{}, errors.New("e-mail change is not served")
}

func (noVerificationMail) ComposeEmailChanged(context.Context, core.PublicUser, string) (core.Message, error) {
	return core.Message{}, errors.New("e-mail change notices are switched off")
}

func newTokenIssuer(s core.Settings, store ports.TokenStore, clock ports.Clock) usecase.OpaqueTokens {
	return usecase.NewOpaqueTokens(s, store, clock)
}

func newRelay(s core.Settings, outbox ports.Outbox, pub ports.EventPublisher, clock ports.Clock, log *slog.Logger) *usecase.Relay {
	return usecase.NewRelay(outbox, pub, clock, log, s.OutboxPollInterval)
}

// runCourier runs the mail courier for the life of the app and, on stop,
// sends what is due before the mailer and store close. It is invoked after
// runRelay, so its stop hook runs first and the events its e-mails release
// are still flushed by the relay's.
func runCourier(lc fx.Lifecycle, courier *usecase.Courier, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				if err := courier.Run(ctx); err != nil {
					log.Error("mail courier stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			<-done
			if err := courier.Flush(stopCtx); err != nil {
				log.Warn("e-mails left queued for the next start", "error", err)
			}
			return nil
		},
	})
}

// drainResends lets the resend requests that resend-verification/ accepted
// queue their e-mails before the courier and store close: this stop hook
// runs after the HTTP server's (no new ones come) and before the courier's.
func drainResends(lc fx.Lifecycle, r *usecase.ResendVerification, log *slog.Logger) {
	lc.Append(fx.StopHook(func(ctx context.Context) error {
		if err := r.Wait(ctx); err != nil {
			log.Warn("resent verification e-mails still unsent at shutdown", "error", err)
		}
		return nil
	}))
}

// runRelay runs the outbox relay for the life of the app and, on stop,
// publishes what is pending before the publisher and store close (their
// stop hooks run after this one).
func runRelay(lc fx.Lifecycle, relay *usecase.Relay, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() {
				defer close(done)
				if err := relay.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("outbox relay stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: func(stopCtx context.Context) error {
			cancel()
			<-done
			if err := relay.Flush(stopCtx); err != nil {
				log.Warn("events left in the outbox for the next start", "error", err)
			}
			return nil
		},
	})
}
