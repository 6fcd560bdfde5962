// Package restreg is the restreg command and its catalogue: it loads the
// documented settings and maps them (STORE, MAIL_BACKEND, EVENTS_BACKEND,
// RATE_LIMIT_BACKEND) onto the adapter modules restreg ships, around the
// adapter-free Core of the module's root package. A custom deployment
// composes Core with its own choice of modules instead and need not import
// this package.
package restreg

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	kernel "github.com/restreg/restreg"
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
	"github.com/restreg/restreg/adapters/watermillpub/brokers"
)

// StoreModule returns the fx module of the store STORE names.
func StoreModule(s Config) (fx.Option, error) {
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
func MailModule(s Config) (fx.Option, error) {
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
func EventsModule(s Config) (fx.Option, error) {
	switch s.EventsBackend {
	case "gochannel":
		return watermillpub.GoChannelModule, nil
	case "nats":
		return brokers.NATSModule, nil
	case "amqp":
		return brokers.AMQPModule, nil
	case "redis":
		return brokers.RedisModule, nil
	}
	return nil, fmt.Errorf("unknown EVENTS_BACKEND %q", s.EventsBackend)
}

// RateLimitModule returns the fx module of the limiter RATE_LIMIT_BACKEND
// names: memory (one process), redis (shared by every instance) or off.
func RateLimitModule(s Config) (fx.Option, error) {
	switch s.RateLimitBackend {
	case "memory":
		return memlimit.Module, nil
	case "redis":
		return redislimit.Module, nil
	case "off":
		return kernel.Unlimited, nil
	}
	return nil, fmt.Errorf("unknown RATE_LIMIT_BACKEND %q", s.RateLimitBackend)
}

// Modules returns everything a server configured by s needs: the settings,
// each adapter's Config, the logger and clock, Core, the chosen adapters,
// and the HTTP listener.
func Modules(s Config, log *slog.Logger) (fx.Option, error) {
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
		fx.Supply(s.Settings, log, s.ServeConfig, s.HTTP, s.Hashing, s.Operations, s.metrics()),
		fx.Supply(s.sqlite(), s.Postgres, s.MongoDB, s.fileMail(), s.SMTP, s.SendGrid, s.Events, s.RedisLimit),
		kernel.SystemClock,
		// Metrics wrap the ports Core receives; decorating in this scope
		// leaves the top level free for a library user's own fx.Decorate.
		fx.Module("instrumented", prommetrics.Decorators, kernel.Core),
		store,
		mail,
		events,
		limiter,
		passhash.Module,
		httpapi.Module,
		httpapi.CoreUseCases,
		Operational,
		httpapi.Serve,
	), nil
}

// SystemClock provides the real clock as ports.Clock.
var SystemClock = kernel.SystemClock

// Listener is the HTTP address the server listens on.
type Listener = httpapi.Listener

// New builds the fx app for s; extra options (fx.Decorate, fx.Replace,
// fx.Populate…) are applied last, so they can replace any port.
func New(s Config, log *slog.Logger, extra ...fx.Option) (*fx.App, error) {
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
			// A failed start-up is reported once, by the command, which can
			// tell a failure from a stop asked for while starting.
			fl.UseErrorLevel(slog.LevelDebug)
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
func Start(ctx context.Context, s Config, log *slog.Logger, extra ...fx.Option) (*Running, error) {
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
