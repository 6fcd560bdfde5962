// Package restreg composes restreg from its parts with go.uber.org/fx: Core
// (the use cases and the outbox relay) plus one module per chosen adapter.
// A library user builds a custom deployment the same way and may
// fx.Decorate or fx.Replace any port.
package restreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/restreg/restreg/adapters/consolemail"
	"github.com/restreg/restreg/adapters/filemail"
	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/adapters/mongostore"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/pgstore"
	"github.com/restreg/restreg/adapters/prommetrics"
	"github.com/restreg/restreg/adapters/redislimit"
	"github.com/restreg/restreg/adapters/sendgridmail"
	"github.com/restreg/restreg/adapters/smtpmail"
	"github.com/restreg/restreg/adapters/sqlitestore"
	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/templates"
)

// Core provides the use cases, the Django-compatible signer, the password
// policy, the e-mail composer and the outbox relay, built on the ports that
// adapter modules provide. ports.RateLimiter is optional: without a module
// that provides one (RateLimitModule), Core counts requests in memory, or
// not at all with RATE_LIMIT_BACKEND=off.
var Core = fx.Module("restreg",
	fx.Provide(
		newPasswordPolicy,
		fx.Annotate(newSigner, fx.As(new(ports.Signer))),
		fx.Annotate(newURLBuilder, fx.As(new(ports.VerificationURLBuilder))),
		newComposer,
		fx.Annotate(newTokenIssuer, fx.As(new(ports.TokenIssuer))),
		newReadiness,
	),
	useCases,
	fx.Invoke(runRelay, runCourier, drainResends),
)

// StoreModule returns the fx module of the store STORE names.
func StoreModule(s core.Settings) (fx.Option, error) {
	switch s.Store {
	case "memory":
		return memstore.Module, nil
	case "sqlite":
		return sqlitestore.Module, nil
	case "mongodb":
		return mongostore.Module, nil
	case "postgres":
		return pgstore.Module, nil
	}
	return nil, fmt.Errorf("unknown STORE %q", s.Store)
}

// MailModule returns the fx module of the mailer MAIL_BACKEND names.
func MailModule(s core.Settings) (fx.Option, error) {
	switch s.MailBackend {
	case "file":
		return filemail.Module, nil
	case "console":
		return consolemail.Module, nil
	case "smtp":
		return smtpmail.Module, nil
	case "sendgrid":
		return sendgridmail.Module, nil
	}
	return nil, fmt.Errorf("unknown MAIL_BACKEND %q", s.MailBackend)
}

// EventsModule returns the fx module of the publisher EVENTS_BACKEND names.
func EventsModule(s core.Settings) (fx.Option, error) {
	switch s.EventsBackend {
	case "gochannel":
		return watermillpub.GoChannelModule, nil
	case "nats":
		return watermillpub.NATSModule, nil
	case "amqp":
		return watermillpub.AMQPModule, nil
	case "redis":
		return watermillpub.RedisModule, nil
	}
	return nil, fmt.Errorf("unknown EVENTS_BACKEND %q", s.EventsBackend)
}

// RateLimitModule returns the fx module of the limiter RATE_LIMIT_BACKEND
// names: memory (one process), redis (shared by every instance) or off.
func RateLimitModule(s core.Settings) (fx.Option, error) {
	switch s.RateLimitBackend {
	case "memory":
		return memlimit.Module, nil
	case "redis":
		return redislimit.Module, nil
	case "off":
		return NoRateLimit, nil
	}
	return nil, fmt.Errorf("unknown RATE_LIMIT_BACKEND %q", s.RateLimitBackend)
}

// NoRateLimit provides a ports.RateLimiter that throttles nothing
// (RATE_LIMIT_BACKEND=off), e.g. for load tests from one address.
var NoRateLimit = fx.Module("noratelimit",
	fx.Provide(fx.Annotate(func() usecase.Unlimited { return usecase.Unlimited{} }, fx.As(new(ports.RateLimiter)))),
)

// Modules returns everything a server configured by s needs: the settings,
// logger and clock, Core, the chosen adapters, and the HTTP listener.
func Modules(s core.Settings, log *slog.Logger) (fx.Option, error) {
	store, err := StoreModule(s)
	if err != nil {
		return nil, err
	}
	mail, err := MailModule(s)
	if err != nil {
		return nil, err
	}
	events, err := EventsModule(s)
	if err != nil {
		return nil, err
	}
	limiter, err := RateLimitModule(s)
	if err != nil {
		return nil, err
	}
	return fx.Options(
		fx.Supply(s, log),
		SystemClock,
		// Metrics wrap the ports Core receives; decorating in this scope
		// leaves the top level free for a library user's own fx.Decorate.
		fx.Module("instrumented", prommetrics.Decorators, Core),
		store,
		mail,
		events,
		limiter,
		passhash.Module,
		httpapi.Module,
		Operational,
		HTTPServer,
	), nil
}

// SystemClock provides the real clock as ports.Clock.
var SystemClock = fx.Provide(fx.Annotate(func() usecase.SystemClock { return usecase.SystemClock{} }, fx.As(new(ports.Clock))))

// HTTPServer listens on LISTEN_ADDR, serves the httpapi handler and drains
// in-flight requests on stop; it provides *Listener to learn the address.
var HTTPServer = fx.Options(fx.Provide(newListener), fx.Invoke(serveHTTP))

func newPasswordPolicy(s core.Settings) (*core.PasswordPolicy, error) {
	return core.NewPasswordPolicy(s.PasswordValidators, s.PasswordMinLength)
}

func newSigner(s core.Settings) *core.DjangoSigner {
	return core.NewDjangoSigner(s.SecretKey, s.SecretKeyFallbacks)
}

func newURLBuilder(s core.Settings) usecase.QueryURLBuilder {
	return usecase.QueryURLBuilder{Base: s.RegisterVerificationURL}
}

// newComposer parses the e-mail templates (both sets) at start-up, so a
// broken template stops the server before it accepts a registration.
func newComposer(s core.Settings) (ports.EmailComposer, error) {
	if !s.RegisterVerificationEnabled && !s.RegisterEnumerationSafe {
		return noVerificationMail{}, nil
	}
	c, err := email.NewComposer(templates.Register, s.RegisterVerificationEmailTemplates, s.VerificationFromEmail, s.ReplyTo(),
		email.WithAccountExistsTemplates(templates.AccountExists, s.AccountExistsEmailTemplates))
	if err != nil {
		return nil, fmt.Errorf("e-mail templates: %w", err)
	}
	return c, nil
}

// noVerificationMail stands in for the composer when neither verification
// nor enumeration-safe registration sends mail, and no From address need be
// configured; nothing asks it for a message then.
type noVerificationMail struct{}

func (noVerificationMail) ComposeVerification(context.Context, core.PublicUser, string) (core.Message, error) {
	return core.Message{}, errors.New("verification e-mail is switched off (REGISTER_VERIFICATION_ENABLED=false)")
}

func (noVerificationMail) ComposeAccountExists(context.Context, core.PublicUser) (core.Message, error) {
	return core.Message{}, errors.New("account-exists e-mail is switched off (REGISTER_ENUMERATION_SAFE=false)")
}

func newTokenIssuer(store ports.TokenStore, clock ports.Clock) usecase.OpaqueTokens {
	return usecase.OpaqueTokens{Store: store, Clock: clock}
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

func newReadiness(store ports.UserStore) httpapi.Readiness {
	return store.Ping
}

// runRelay runs the outbox relay for the life of the app and, on stop,
// publishes what is pending before the publisher and store close (their
// stop hooks run after this one).
func runRelay(lc fx.Lifecycle, relay *usecase.Relay, s core.Settings, log *slog.Logger) {
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

// Listener is the HTTP address the server listens on (known once started,
// also when LISTEN_ADDR asks for port 0).
type Listener struct {
	ln net.Listener
}

// URL returns the server's base URL, e.g. http://127.0.0.1:8000.
func (l *Listener) URL() string {
	if l.ln == nil {
		return ""
	}
	return "http://" + l.ln.Addr().String()
}

func newListener() *Listener { return &Listener{} }

// serveHTTP listens at start and drains in-flight requests at stop. It is
// invoked last, so its stop hook runs first: no request arrives at a relay,
// store or mailer that is already closed.
func serveHTTP(lc fx.Lifecycle, s core.Settings, srv *httpapi.Server, l *Listener, log *slog.Logger) {
	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", s.ListenAddr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", s.ListenAddr, err)
			}
			l.ln = ln
			go func() {
				if err := httpServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			if err := httpServer.Shutdown(ctx); err != nil {
				return fmt.Errorf("drain http requests: %w", err)
			}
			return nil
		},
	})
}

// New builds the fx app for s; extra options (fx.Decorate, fx.Replace,
// fx.Populate…) are applied last, so they can replace any port.
func New(s core.Settings, log *slog.Logger, extra ...fx.Option) (*fx.App, error) {
	// Embedding programs get the same refusal as `restreg serve`: a weak
	// SECRET_KEY must never sign a link.
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	mods, err := Modules(s, log)
	if err != nil {
		return nil, err
	}
	opts := []fx.Option{
		mods,
		fx.WithLogger(func() fxevent.Logger {
			fl := &fxevent.SlogLogger{Logger: log}
			fl.UseLogLevel(slog.LevelDebug)
			return fl
		}),
		fx.StartTimeout(30 * time.Second),
		fx.StopTimeout(s.ShutdownTimeout + 5*time.Second),
	}
	opts = append(opts, extra...)
	return fx.New(opts...), nil
}

// Running is a started server: its address, and how to stop it.
type Running struct {
	app      *fx.App
	listener *Listener
	admin    *AdminListener
}

// URL returns the server's base URL, e.g. http://127.0.0.1:8000.
func (r *Running) URL() string { return r.listener.URL() }

// AdminURL returns the admin listener's base URL (/metrics, /debug/pprof/),
// or "" when ADMIN_LISTEN_ADDR is not set.
func (r *Running) AdminURL() string { return r.admin.URL() }

// Stop drains in-flight requests, flushes the relay and closes the adapters.
func (r *Running) Stop(ctx context.Context) error { return r.app.Stop(ctx) }

// Start builds the server for s (see New) and starts it, for programs and
// tests that embed restreg; LISTEN_ADDR=127.0.0.1:0 picks a free port.
func Start(ctx context.Context, s core.Settings, log *slog.Logger, extra ...fx.Option) (*Running, error) {
	r := &Running{}
	app, err := New(s, log, append(extra, fx.Populate(&r.listener, &r.admin))...)
	if err != nil {
		return nil, err
	}
	if err := app.Start(ctx); err != nil {
		return nil, fmt.Errorf("start restreg: %w", err)
	}
	r.app = app
	return r, nil
}
