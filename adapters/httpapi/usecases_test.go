package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// realPorts are the ports the real use cases run over in the tests that
// check the contract end to end (messages, validation order).
type realPorts struct {
	Store   ports.UserStore
	Hasher  ports.PasswordHasher
	Policy  *core.PasswordPolicy
	Signer  ports.Signer
	Tokens  ports.TokenIssuer
	Limiter ports.RateLimiter
	Log     *slog.Logger
	// Accounts records logins and serves the authenticated operations;
	// nil records logins nowhere and serves none of them.
	Accounts ports.AccountStore
	// TokenStore checks tokens; nil accepts none.
	TokenStore ports.TokenStore
}

// loginsRecordedNowhere is the AccountStore of tests that only log in.
type loginsRecordedNowhere struct{ ports.AccountStore }

func (loginsRecordedNowhere) RecordLogin(context.Context, string, time.Time, ...core.Event) error {
	return nil
}

// realUseCases builds the real use cases for settings s over p, with the
// fixed clock; it is the one place these tests construct them.
func realUseCases(s core.Settings, p realPorts) UseCases {
	var throttle *usecase.Throttle
	if p.Limiter != nil {
		throttle = usecase.NewThrottle(p.Limiter, p.Log)
	}
	logins := usecase.NewLogins(p.Store, s)
	accounts := p.Accounts
	if accounts == nil {
		accounts = loginsRecordedNowhere{}
	}
	uc := UseCases{
		Register: usecase.NewRegister(usecase.NewRegisterConfig(s), p.Store, nil, p.Hasher, p.Policy, usecase.Emails{}, throttle, fixedClock{}, nil, nil, p.Log),
		Verify:   usecase.NewVerifyRegistration(usecase.NewVerifyConfig(s), p.Store, p.Signer, p.Tokens, accounts, throttle, fixedClock{}, nil, p.Log),
		Login:    usecase.NewLogin(usecase.NewLoginConfig(s), logins, p.Store, p.Hasher, p.Tokens, accounts, throttle, fixedClock{}, nil, p.Log),
		Resend:   usecase.NewResendVerification(usecase.NewResendConfig(s), logins, p.Store, throttle, fixedClock{}, nil, p.Log),
	}
	if p.TokenStore != nil {
		uc.Authenticate = usecase.NewAuthenticate(usecase.NewAuthenticateConfig(s), p.TokenStore, fixedClock{})
	}
	if p.Accounts != nil {
		uc.Logout = usecase.NewLogout(p.Accounts, fixedClock{}, nil, p.Log)
		uc.Profile = usecase.NewProfile(usecase.NewProfileConfig(s), p.Store, p.Accounts, fixedClock{}, nil, p.Log)
		uc.ChangePassword = usecase.NewChangePassword(usecase.NewChangePasswordConfig(s), p.Accounts, p.Hasher, p.Policy, throttle, fixedClock{}, nil, p.Log)
	}
	return uc
}

// The fakes below stand in for one use case each: a function with the
// use case's signature.

// registerFunc is a fake Registerer.
type registerFunc func(context.Context, usecase.RegisterInput) (core.PublicUser, error)

func (f registerFunc) Handle(ctx context.Context, in usecase.RegisterInput) (core.PublicUser, error) {
	return f(ctx, in)
}

// verifyFunc is a fake RegistrationVerifier.
type verifyFunc func(context.Context, usecase.VerifyInput) (usecase.VerifyResult, error)

func (f verifyFunc) Handle(ctx context.Context, in usecase.VerifyInput) (usecase.VerifyResult, error) {
	return f(ctx, in)
}

// loginFunc is a fake LoginChecker.
type loginFunc func(context.Context, usecase.LoginInput) (usecase.LoginResult, error)

func (f loginFunc) Handle(ctx context.Context, in usecase.LoginInput) (usecase.LoginResult, error) {
	return f(ctx, in)
}

// resendFunc is a fake VerificationResender.
type resendFunc func(context.Context, usecase.ResendInput) error

func (f resendFunc) Handle(ctx context.Context, in usecase.ResendInput) error { return f(ctx, in) }
