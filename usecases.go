package restreg

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// useCases builds the account use cases and the mail courier from the ports.
var useCases = fx.Provide(
	newDeps,
	newCourier,
	usecase.NewRegister,
	usecase.NewVerifyRegistration,
	usecase.NewLogin,
	usecase.NewResendVerification,
)

// depsParams lists what the use cases need from the graph.
type depsParams struct {
	fx.In
	Settings core.Settings
	Store    ports.UserStore
	Outbox   ports.Outbox
	Mail     ports.MailQueue
	Hasher   ports.PasswordHasher
	Policy   *core.PasswordPolicy
	Signer   ports.Signer
	URLs     ports.VerificationURLBuilder
	Composer ports.EmailComposer
	Mailer   ports.Mailer
	Tokens   ports.TokenIssuer
	Clock    ports.Clock
	Log      *slog.Logger
	Relay    *usecase.Relay
	Limiter  ports.RateLimiter
}

func newDeps(p depsParams) *usecase.Deps {
	return &usecase.Deps{
		Settings: p.Settings, Store: p.Store, Outbox: p.Outbox, Mail: p.Mail, Hasher: p.Hasher, Policy: p.Policy,
		Signer: p.Signer, URLs: p.URLs, Composer: p.Composer, Mailer: p.Mailer, Tokens: p.Tokens,
		Clock: p.Clock, Log: p.Log, Limiter: p.Limiter, EventsRecorded: p.Relay.Wake,
	}
}

// newCourier returns the mail courier and lets the use cases wake it.
func newCourier(d *usecase.Deps, s core.Settings) *usecase.Courier {
	c := usecase.NewCourier(d, s.OutboxPollInterval)
	d.MailQueued = c.Wake
	return c
}
