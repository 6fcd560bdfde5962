package restreg

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// useCases builds the use cases, the mail courier and the outbox relay from
// the ports, each with exactly what it uses: the settings it follows and
// the ports it calls. The use cases wake the relay after recording events
// and the courier after queueing e-mails.
var useCases = fx.Provide(
	newThrottle,
	newLinks,
	newEmails,
	newLogins,
	newCourier,
	newRegister,
	newVerifyRegistration,
	newLogin,
	newResendVerification,
	newResetFinder,
	newAccountEmails,
	newSendResetPasswordLink,
	newResetPassword,
	newRegisterEmail,
	newVerifyEmail,
	newAuthenticate,
	newLogout,
	newProfile,
	newChangePassword,
)

// newThrottle returns the Throttle every use case counts with; the rate
// limiter is a required port (Unlimited when a deployment wants none).
func newThrottle(limiter ports.RateLimiter, log *slog.Logger) *usecase.Throttle {
	return usecase.NewThrottle(limiter, log)
}

func newLinks(signer ports.Signer, urls ports.VerificationURLBuilder, s core.Settings) usecase.Links {
	return usecase.NewLinks(signer, urls, s)
}

func newEmails(links usecase.Links, composer ports.EmailComposer, mailer ports.Mailer) usecase.Emails {
	return usecase.Emails{Links: links, Composer: composer, Mailer: mailer}
}

func newLogins(store ports.UserStore, s core.Settings) usecase.Logins {
	return usecase.NewLogins(store, s)
}

// courierParams is what the mail courier is built from.
type courierParams struct {
	fx.In
	Settings      core.Settings
	Queue         ports.MailQueue
	AccountQueue  ports.AccountMailQueue
	Store         ports.UserStore
	Emails        usecase.Emails
	AccountEmails usecase.AccountEmails
	Clock         ports.Clock
	Relay         *usecase.Relay
	Log           *slog.Logger
}

func newCourier(p courierParams) *usecase.Courier {
	return usecase.NewCourier(usecase.NewCourierConfig(p.Settings), p.Queue, p.Store, p.Emails, p.Clock, p.Relay, p.Log,
		usecase.WithAccountMail(p.AccountQueue, p.AccountEmails))
}

func newResetFinder(store ports.UserStore, s core.Settings) usecase.ResetFinder {
	return usecase.NewResetFinder(store, s)
}

func newAccountEmails(s core.Settings, finder usecase.ResetFinder, signer ports.Signer, urls ports.LinkURLBuilder,
	composer ports.EmailComposer, mailer ports.Mailer,
) usecase.AccountEmails {
	return usecase.AccountEmails{
		Finder:      finder,
		ResetLinks:  usecase.NewResetLinks(signer, urls, s),
		EmailLinks:  usecase.NewEmailLinks(signer, urls, s),
		EmailUnique: s.UserEmailUnique,
		Composer:    composer,
		Mailer:      mailer,
	}
}

func newSendResetPasswordLink(s core.Settings, finder usecase.ResetFinder, queue ports.AccountMailQueue,
	throttle *usecase.Throttle, clock ports.Clock, courier *usecase.Courier, log *slog.Logger,
) *usecase.SendResetPasswordLink {
	return usecase.NewSendResetPasswordLink(usecase.NewSendResetConfig(s), finder, queue, throttle, clock, courier, log)
}

// resetPasswordParams is what reset-password/ is built from.
type resetPasswordParams struct {
	fx.In
	Settings core.Settings
	Signer   ports.Signer
	URLs     ports.LinkURLBuilder
	Store    ports.UserStore
	Accounts ports.AccountStore
	Hasher   ports.PasswordHasher
	Policy   *core.PasswordPolicy
	Throttle *usecase.Throttle
	Clock    ports.Clock
	Relay    *usecase.Relay
	Log      *slog.Logger
}

func newResetPassword(p resetPasswordParams) *usecase.ResetPassword {
	return usecase.NewResetPassword(usecase.NewResetPasswordConfig(p.Settings), usecase.NewResetLinks(p.Signer, p.URLs, p.Settings),
		p.Store, p.Accounts, p.Hasher, p.Policy, p.Throttle, p.Clock, p.Relay, p.Log)
}

// emailChangeParams is what register-email/ and verify-email/ are built
// from.
type emailChangeParams struct {
	fx.In
	Settings core.Settings
	Signer   ports.Signer
	URLs     ports.LinkURLBuilder
	Store    ports.UserStore
	Accounts ports.AccountStore
	Queue    ports.AccountMailQueue
	Throttle *usecase.Throttle
	Clock    ports.Clock
	Relay    *usecase.Relay
	Courier  *usecase.Courier
	Log      *slog.Logger
}

func newRegisterEmail(p emailChangeParams) *usecase.RegisterEmail {
	return usecase.NewRegisterEmail(usecase.NewEmailChangeConfig(p.Settings), p.Store, p.Accounts, p.Queue, p.Throttle, p.Clock,
		p.Relay, p.Courier, p.Log)
}

func newVerifyEmail(p emailChangeParams) *usecase.VerifyEmail {
	return usecase.NewVerifyEmail(usecase.NewEmailChangeConfig(p.Settings), usecase.NewEmailLinks(p.Signer, p.URLs, p.Settings),
		p.Store, p.Accounts, p.Throttle, p.Clock, p.Relay, p.Courier, p.Log)
}

// registerParams is what register/ is built from.
type registerParams struct {
	fx.In
	Settings core.Settings
	Store    ports.UserStore
	Mail     ports.MailQueue
	Hasher   ports.PasswordHasher
	Policy   *core.PasswordPolicy
	Emails   usecase.Emails
	Throttle *usecase.Throttle
	Clock    ports.Clock
	Relay    *usecase.Relay
	Courier  *usecase.Courier
	Log      *slog.Logger
}

func newRegister(p registerParams) *usecase.Register {
	return usecase.NewRegister(usecase.NewRegisterConfig(p.Settings), p.Store, p.Mail, p.Hasher, p.Policy, p.Emails,
		p.Throttle, p.Clock, p.Relay, p.Courier, p.Log)
}

// verifyParams is what verify-registration/ is built from.
type verifyParams struct {
	fx.In
	Settings core.Settings
	Store    ports.UserStore
	Signer   ports.Signer
	Tokens   ports.TokenIssuer
	Accounts ports.AccountStore
	Throttle *usecase.Throttle
	Clock    ports.Clock
	Relay    *usecase.Relay
	Log      *slog.Logger
}

func newVerifyRegistration(p verifyParams) *usecase.VerifyRegistration {
	return usecase.NewVerifyRegistration(usecase.NewVerifyConfig(p.Settings), p.Store, p.Signer, p.Tokens, p.Accounts,
		p.Throttle, p.Clock, p.Relay, p.Log)
}

// loginParams is what login/ is built from.
type loginParams struct {
	fx.In
	Settings core.Settings
	Logins   usecase.Logins
	Store    ports.UserStore
	Hasher   ports.PasswordHasher
	Tokens   ports.TokenIssuer
	Accounts ports.AccountStore
	Throttle *usecase.Throttle
	Clock    ports.Clock
	Relay    *usecase.Relay
	Log      *slog.Logger
}

func newLogin(p loginParams) *usecase.Login {
	return usecase.NewLogin(usecase.NewLoginConfig(p.Settings), p.Logins, p.Store, p.Hasher, p.Tokens, p.Accounts,
		p.Throttle, p.Clock, p.Relay, p.Log)
}

func newAuthenticate(s core.Settings, tokens ports.TokenStore, clock ports.Clock) *usecase.Authenticate {
	return usecase.NewAuthenticate(usecase.NewAuthenticateConfig(s), tokens, clock)
}

func newLogout(accounts ports.AccountStore, clock ports.Clock, relay *usecase.Relay, log *slog.Logger) *usecase.Logout {
	return usecase.NewLogout(accounts, clock, relay, log)
}

func newProfile(s core.Settings, users ports.UserStore, accounts ports.AccountStore, clock ports.Clock,
	relay *usecase.Relay, log *slog.Logger,
) *usecase.Profile {
	return usecase.NewProfile(usecase.NewProfileConfig(s), users, accounts, clock, relay, log)
}

// changePasswordParams is what change-password/ is built from.
type changePasswordParams struct {
	fx.In
	Settings core.Settings
	Accounts ports.AccountStore
	Hasher   ports.PasswordHasher
	Policy   *core.PasswordPolicy
	Throttle *usecase.Throttle
	Clock    ports.Clock
	Relay    *usecase.Relay
	Log      *slog.Logger
}

func newChangePassword(p changePasswordParams) *usecase.ChangePassword {
	return usecase.NewChangePassword(usecase.NewChangePasswordConfig(p.Settings), p.Accounts, p.Hasher, p.Policy,
		p.Throttle, p.Clock, p.Relay, p.Log)
}

func newResendVerification(s core.Settings, logins usecase.Logins, store ports.UserStore, throttle *usecase.Throttle,
	clock ports.Clock, courier *usecase.Courier, log *slog.Logger,
) *usecase.ResendVerification {
	return usecase.NewResendVerification(usecase.NewResendConfig(s), logins, store, throttle, clock, courier, log)
}
