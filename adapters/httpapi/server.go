// Package httpapi serves restreg's HTTP contract (django-rest-registration's
// register flow and authenticated account API) with Huma on the standard
// library's HTTP server: the account operations under BASE_PATH (register,
// verify-registration, login, resend-verification, and with a token logout,
// profile and change-password), the probes, and the OpenAPI document that
// describes them.
package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// Module provides the *Server from core.Settings, Config, UseCases,
// Readiness and *slog.Logger, which the app supplies. Listening is the app's business.
var Module = fx.Module("httpapi",
	fx.Provide(New),
)

// UseCases are the account use cases the operations call. Each is the one
// method the operation needs, so that tests can stand in for any of them.
type UseCases struct {
	Register Registerer
	Verify   RegistrationVerifier
	Login    LoginChecker
	// Resend may be nil: resend-verification/ then answers 404.
	Resend VerificationResender
	// SendResetLink, ResetPassword, RegisterEmail and VerifyEmail may be
	// nil: their operations then answer 404.
	SendResetLink ResetLinkSender
	ResetPassword PasswordResetter
	RegisterEmail EmailRegisterer
	VerifyEmail   EmailVerifier
	// Authenticate checks the tokens requests carry. Nil: no token is
	// accepted, so the authenticated operations answer 401.
	Authenticate Authenticator
	// Logout, Profile and ChangePassword serve the authenticated
	// operations; nil answers 404.
	Logout         LogoutHandler
	Profile        ProfileEditor
	ChangePassword PasswordChanger
}

// Authenticator checks an Authorization header (usecase.Authenticate).
type Authenticator interface {
	Authenticate(ctx context.Context, authorization string) (usecase.Principal, bool, error)
}

// LogoutHandler ends a session (usecase.Logout).
type LogoutHandler interface {
	Handle(context.Context, usecase.LogoutInput) error
}

// ProfileEditor shows and updates the authenticated user's profile
// (usecase.Profile).
type ProfileEditor interface {
	Show(context.Context, usecase.Principal) (usecase.ProfileResult, error)
	Handle(context.Context, usecase.ProfileInput) (usecase.ProfileResult, error)
}

// PasswordChanger changes the authenticated user's password
// (usecase.ChangePassword).
type PasswordChanger interface {
	Handle(context.Context, usecase.ChangePasswordInput) error
}

// Registerer creates an account (usecase.Register).
type Registerer interface {
	Handle(context.Context, usecase.RegisterInput) (core.PublicUser, error)
}

// RegistrationVerifier activates an account from its link
// (usecase.VerifyRegistration).
type RegistrationVerifier interface {
	Handle(context.Context, usecase.VerifyInput) (usecase.VerifyResult, error)
}

// LoginChecker checks credentials (usecase.Login).
type LoginChecker interface {
	Handle(context.Context, usecase.LoginInput) (usecase.LoginResult, error)
}

// VerificationResender mails a fresh verification link
// (usecase.ResendVerification).
type VerificationResender interface {
	Handle(context.Context, usecase.ResendInput) error
}

// Readiness reports whether the server can serve requests now (the store is
// reachable); GET /readyz answers 503 while it returns an error.
type Readiness func(ctx context.Context) error

// RequestRecord describes one answered request, for metrics.
type RequestRecord struct {
	// Route is the documented path or mount pattern that matched, "" for none.
	Route string
	// Method is the request method.
	Method string
	// Status is the status answered.
	Status int
	// Duration is how long the request took.
	Duration time.Duration
}

// readinessTimeout bounds one /readyz check, so a hung store answers 503
// instead of hanging the probe.
const readinessTimeout = 3 * time.Second

// Server is the HTTP handler of restreg.
type Server struct {
	settings core.Settings
	config   Config
	uc       UseCases
	ready    Readiness
	log      *slog.Logger
	api      huma.API
	router   *router
	origins  map[string]bool
	trusted  []netip.Prefix
	docs     Documents

	obsMu     sync.RWMutex
	observers []func(RequestRecord)
	backlog   atomic.Pointer[Backlog]
}

// Backlog reports the events waiting to be published and when the oldest
// occurred (the outbox relay's Backlog).
type Backlog func(ctx context.Context) (count int, oldest time.Time, err error)

// New builds the server for the domain settings s and the HTTP settings c.
// ready may be nil (always ready); log may be nil (discard).
func New(s core.Settings, c Config, uc UseCases, ready Readiness, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := &Server{
		settings: s,
		config:   c,
		uc:       uc,
		ready:    ready,
		log:      log,
		origins:  map[string]bool{},
	}
	for _, o := range c.CORSAllowedOrigins {
		if o = normalizeOrigin(o); o != "" {
			srv.origins[o] = true
		}
	}
	trusted, err := core.ParsePrefixes(c.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("httpapi: TRUSTED_PROXIES: %w", err)
	}
	srv.trusted = trusted
	srv.router = newRouter(c.BasePath, srv.readBody)
	srv.router.authenticate = srv.authenticate
	srv.api = huma.NewAPI(apiConfig(s), humago.NewAdapter(srv.router, ""))
	srv.registerOperations()
	docs, err := renderDocuments(srv.api.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("httpapi: render openapi: %w", err)
	}
	srv.docs = docs
	srv.registerDocuments()
	return srv, nil
}

// Handler returns the handler to serve.
func (s *Server) Handler() http.Handler { return s }

// API returns the Huma API, e.g. to read its OpenAPI model.
func (s *Server) API() huma.API { return s.api }

// Mount serves h for a net/http ServeMux pattern outside the documented API
// (e.g. "/metrics" or "/docs/"). Exact API and probe paths take precedence;
// h answers every method itself.
func (s *Server) Mount(pattern string, h http.Handler) { s.router.mount(pattern, h) }

// ReportBacklog makes /readyz show the outbox backlog next to its status, so
// an operator sees events piling up while a broker is away. The backlog
// never makes the server unready: registrations go on while it grows.
func (s *Server) ReportBacklog(fn Backlog) { s.backlog.Store(&fn) }

// Observe calls fn after every request, e.g. to count requests by route.
// fn must be quick and safe for concurrent use.
func (s *Server) Observe(fn func(RequestRecord)) {
	s.obsMu.Lock()
	defer s.obsMu.Unlock()
	s.observers = append(append([]func(RequestRecord){}, s.observers...), fn)
}
