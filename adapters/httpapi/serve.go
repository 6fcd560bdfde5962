package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// Edge serves a restreg.Core graph over HTTP: Module, with its UseCases
// taken from the graph's use cases and Readiness from the store's Ping, and
// Serve. It is what a deployment adds to offer the account API.
var Edge = fx.Options(Module, CoreUseCases, Serve)

// CoreUseCases provides UseCases and Readiness from the graph restreg.Core
// builds (its use cases and the ports.UserStore).
var CoreUseCases = fx.Provide(newUseCases, newReadiness)

// Serve listens on the ServeConfig's address (LISTEN_ADDR), serves the
// *Server and drains in-flight requests on stop; it provides *Listener to
// learn the address.
var Serve = fx.Options(fx.Provide(newListener), fx.Invoke(serveHTTP))

// coreUseCases are the use cases restreg.Core provides.
type coreUseCases struct {
	fx.In
	Register       *usecase.Register
	Verify         *usecase.VerifyRegistration
	Login          *usecase.Login
	Resend         *usecase.ResendVerification
	Authenticate   *usecase.Authenticate
	Logout         *usecase.Logout
	Profile        *usecase.Profile
	ChangePassword *usecase.ChangePassword
	SendResetLink  *usecase.SendResetPasswordLink
	ResetPassword  *usecase.ResetPassword
	RegisterEmail  *usecase.RegisterEmail
	VerifyEmail    *usecase.VerifyEmail
}

func newUseCases(c coreUseCases) UseCases {
	return UseCases{Register: c.Register, Verify: c.Verify, Login: c.Login, Resend: c.Resend,
		Authenticate: c.Authenticate, Logout: c.Logout, Profile: c.Profile, ChangePassword: c.ChangePassword,
		SendResetLink: c.SendResetLink, ResetPassword: c.ResetPassword, RegisterEmail: c.RegisterEmail, VerifyEmail: c.VerifyEmail}
}

func newReadiness(store ports.UserStore) Readiness {
	return store.Ping
}

// ServeConfig is what Serve needs.
type ServeConfig struct {
	// ListenAddr is the HTTP listen address; a port of 0 picks a free one.
	ListenAddr string `setting:"LISTEN_ADDR"`
}

// DefaultServeConfig returns the documented defaults.
func DefaultServeConfig() ServeConfig {
	return ServeConfig{ListenAddr: "127.0.0.1:8000"}
}

// Listener is the HTTP address the server listens on (known once started,
// also when LISTEN_ADDR asks for port 0).
type Listener struct {
	ln net.Listener
}

// URL returns the server's base URL, e.g. http://127.0.0.1:8000.
func (l *Listener) URL() string {
	if l == nil || l.ln == nil {
		return ""
	}
	return "http://" + l.ln.Addr().String()
}

func newListener() *Listener { return &Listener{} }

// serveHTTP listens at start and drains in-flight requests at stop. Invoke
// it after Core, so its stop hook runs first: no request arrives at a relay,
// store or mailer that is already closed.
func serveHTTP(lc fx.Lifecycle, c ServeConfig, srv *Server, l *Listener, log *slog.Logger) {
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
			ln, err := net.Listen("tcp", c.ListenAddr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", c.ListenAddr, err)
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
