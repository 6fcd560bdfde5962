package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
	"github.com/restreg/restreg/ports"
)

// Throttle rules of the e-mail change flow.
const (
	ruleEmailChangeAccount = "email_change:account"
	ruleVerifyEmailIP      = "verify_email:ip"
	ruleVerifyEmailUser    = "verify_email:user"
)

// newEmailField is DRF's EmailField of register-email/ and verify-email/:
// required, not blank, at most 254 characters, then Django's EmailValidator.
var newEmailField = charField{name: "email", required: true, maxLength: 254}

// cleanEmail applies newEmailField to v and returns the trimmed address as
// typed (case kept: it is what the link signs).
func cleanEmail(v core.Value, errs *core.ValidationError) string {
	email, ok := newEmailField.clean(v, errs)
	if email != "" && !core.IsValidEmail(email) {
		errs.Add("email", core.MsgInvalidEmail)
		ok = false
	}
	if !ok {
		return ""
	}
	return email
}

// EmailChangeConfig is the part of the settings register-email/ and
// verify-email/ follow (the links' own settings are the EmailLinks').
type EmailChangeConfig struct {
	// Enabled is Settings.RegisterEmailEnabled: register-email/ is served.
	Enabled bool
	// Verification is REGISTER_EMAIL_VERIFICATION_ENABLED: the new address
	// is mailed a link (verify-email/ is served only then); false changes
	// the address at once.
	Verification bool
	// EmailUnique is USER_EMAIL_UNIQUE.
	EmailUnique bool
	// NotifyOldAddress is REGISTER_EMAIL_NOTIFY_OLD_ADDRESS: the previous
	// address is told of the change.
	NotifyOldAddress bool
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE (links whose
	// user_id is the username).
	UsernameCaseInsensitive bool
	// ThrottleAccount is THROTTLE_EMAIL_CHANGE_ACCOUNT (register-email/, per
	// user).
	ThrottleAccount string
	// ThrottleVerifyIP and ThrottleVerifyUser are THROTTLE_VERIFY_IP and
	// THROTTLE_VERIFY_USER, which verify-email/ counts like
	// verify-registration/ under rules of its own.
	ThrottleVerifyIP, ThrottleVerifyUser string
}

// NewEmailChangeConfig returns the EmailChangeConfig of settings s.
func NewEmailChangeConfig(s core.Settings) EmailChangeConfig {
	return EmailChangeConfig{
		Enabled:                 s.RegisterEmailEnabled(),
		Verification:            s.RegisterEmailVerificationEnabled,
		EmailUnique:             s.UserEmailUnique,
		NotifyOldAddress:        s.RegisterEmailNotifyOldAddress,
		UsernameCaseInsensitive: s.UsernameCaseInsensitive,
		ThrottleAccount:         s.ThrottleEmailChangeAccount,
		ThrottleVerifyIP:        s.ThrottleVerifyIP,
		ThrottleVerifyUser:      s.ThrottleVerifyUser,
	}
}

// emailChanger applies an address change: one AccountStore write with the
// user_changed_email event and, with REGISTER_EMAIL_NOTIFY_OLD_ADDRESS, the
// notice to the old address.
type emailChanger struct {
	cfg      EmailChangeConfig
	store    ports.UserStore
	accounts ports.AccountStore
	clock    ports.Clock
	// events wakes the relay, mailQueued the courier.
	events, mailQueued Notifier
}

// addressTaken reports whether an account has email as its address or as
// its e-mail-shaped username (the user's own account included, as
// django-rest-registration counts it).
func (c *emailChanger) addressTaken(ctx context.Context, email string) (bool, error) {
	key := core.EmailKey(core.NormalizeEmail(email))
	for _, field := range []core.LookupField{core.ByEmailKey, core.ByUsernameEmailKey} {
		_, err := c.store.FindUser(ctx, field, key)
		switch {
		case err == nil, errors.Is(err, core.ErrAmbiguous):
			return true, nil
		case !errors.Is(err, core.ErrNotFound):
			return false, fmt.Errorf("check email: %w", err)
		}
	}
	return false, nil
}

// change moves user to email. Errors: *core.DetailError ("This email is
// already registered." when another account took it meanwhile, "User not
// found"), core.ErrUnavailable.
func (c *emailChanger) change(ctx context.Context, user core.User, email string) error {
	now := c.clock.Now().UTC()
	norm := core.NormalizeEmail(email)
	change := core.EmailChange{UserID: user.ID, Email: norm, EmailKey: core.EmailKey(norm)}
	if c.cfg.EmailUnique {
		change.UniqueEmailKey = change.EmailKey
	}
	var mail []core.QueuedMail
	if c.cfg.NotifyOldAddress && user.Email != "" && user.EmailKey != change.EmailKey {
		mail = append(mail, core.QueuedMail{ID: core.NewID(), Kind: core.MailEmailChanged, UserID: user.ID,
			Address: user.Email, CreatedAt: now, DueAt: now})
	}
	after := user
	after.Email, after.EmailKey, after.UniqueEmailKey = change.Email, change.EmailKey, change.UniqueEmailKey
	ev := newEvent(ctx, core.EventUserChangedEmail, after, now)
	ev.OldEmail, ev.NewEmail = user.Email, norm
	_, err := c.accounts.ChangeEmail(ctx, change, mail, ev)
	switch {
	case errors.Is(err, core.ErrEmailTaken):
		return core.Detail(core.MsgEmailAlreadyRegistered)
	case errors.Is(err, core.ErrNotFound):
		return core.Detail(core.MsgUserNotFound)
	case err != nil:
		return fmt.Errorf("change email: %w", err)
	}
	wake(c.events)
	if len(mail) > 0 {
		wake(c.mailQueued)
	}
	return nil
}

// RegisterEmailInput is a register-email request: the authenticated user
// and the body's email.
type RegisterEmailInput struct {
	// User is the authenticated user (Principal.User).
	User  core.User
	Email core.Value
}

// RegisterEmail starts an address change for the authenticated user: POST
// register-email/.
type RegisterEmail struct {
	changer  emailChanger
	queue    ports.AccountMailQueue
	throttle *Throttle
	handle   decorator.CommandHandler[RegisterEmailInput, struct{}]
}

// NewRegisterEmail returns the register-email use case. It looks addresses
// up in store, changes them in accounts (verification off), queues the
// link's e-mail in queue, counts requests with throttle (nil: none), wakes
// events (the relay) and mailQueued (the courier) after recording work for
// them and logs its failures on log.
func NewRegisterEmail(cfg EmailChangeConfig, store ports.UserStore, accounts ports.AccountStore, queue ports.AccountMailQueue,
	throttle *Throttle, clock ports.Clock, events, mailQueued Notifier, log *slog.Logger,
) *RegisterEmail {
	r := &RegisterEmail{
		changer: emailChanger{cfg: cfg, store: store, accounts: accounts, clock: clock, events: events, mailQueued: mailQueued},
		queue:   queue, throttle: throttle,
	}
	r.handle = decorator.ApplyDecorators("register_email", decorator.HandlerFunc[RegisterEmailInput, struct{}](r.register), log)
	return r
}

// Handle starts the change; see register. The decorators of package
// decorator wrap it.
func (r *RegisterEmail) Handle(ctx context.Context, in RegisterEmailInput) error {
	_, err := r.handle.Handle(ctx, in)
	return err
}

// register validates the new address and, with verification (the default),
// queues the e-mail that carries its verify-email link to the new address,
// answering at once; the courier signs the link when it sends it. As in
// django-rest-registration, an address that already has an account gets,
// instead of a link, a mail saying so — the answer is the same, so it tells
// the requester nothing about other accounts. Without verification the
// address changes at once (with the old address notified), and a taken one
// answers "This email is already registered.".
//
// The user is counted against THROTTLE_EMAIL_CHANGE_ACCOUNT once the body
// is valid.
//
// Errors: *core.ValidationError, *core.DetailError, *core.ThrottledError,
// core.ErrFlowDisabled, core.ErrUnavailable.
func (r *RegisterEmail) register(ctx context.Context, in RegisterEmailInput) (struct{}, error) {
	s := &r.changer.cfg
	if !s.Enabled {
		return struct{}{}, core.ErrFlowDisabled
	}
	errs := &core.ValidationError{}
	email := cleanEmail(in.Email, errs)
	if !errs.Empty() {
		return struct{}{}, errs
	}
	if err := r.throttle.count(ctx, ruleEmailChangeAccount, s.ThrottleAccount, in.User.ID); err != nil {
		return struct{}{}, err
	}
	if s.Verification {
		now := r.changer.clock.Now().UTC()
		m := core.QueuedMail{ID: core.NewID(), Kind: core.MailRegisterEmail, UserID: in.User.ID, Address: email, CreatedAt: now, DueAt: now}
		if err := r.queue.QueueMail(ctx, m); err != nil {
			return struct{}{}, fmt.Errorf("register email: queue: %w", err)
		}
		wake(r.changer.mailQueued)
		return struct{}{}, nil
	}
	if s.EmailUnique {
		taken, err := r.changer.addressTaken(ctx, email)
		if err != nil {
			return struct{}{}, fmt.Errorf("register email: %w", err)
		}
		if taken {
			return struct{}{}, core.Detail(core.MsgEmailAlreadyRegistered)
		}
	}
	if err := r.changer.change(ctx, in.User, email); err != nil {
		return struct{}{}, err
	}
	return struct{}{}, nil
}

// VerifyEmailInput is a verify-email request as the client sent it.
type VerifyEmailInput struct {
	UserID    core.Value
	Email     core.Value
	Timestamp core.Value
	Signature core.Value
}

// VerifyEmail moves a user to the address a signed link names: POST
// verify-email/. It needs no token.
type VerifyEmail struct {
	changer  emailChanger
	links    EmailLinks
	throttle *Throttle
	handle   decorator.CommandHandler[VerifyEmailInput, struct{}]
}

// NewVerifyEmail returns the verify-email use case. It checks links with
// links, finds users in store and changes their address in accounts, counts
// requests with throttle (nil: none), wakes events (the relay) and
// mailQueued (the courier) after recording work for them and logs its
// failures on log.
func NewVerifyEmail(cfg EmailChangeConfig, links EmailLinks, store ports.UserStore, accounts ports.AccountStore,
	throttle *Throttle, clock ports.Clock, events, mailQueued Notifier, log *slog.Logger,
) *VerifyEmail {
	v := &VerifyEmail{
		changer: emailChanger{cfg: cfg, store: store, accounts: accounts, clock: clock, events: events, mailQueued: mailQueued},
		links:   links, throttle: throttle,
	}
	v.handle = decorator.ApplyDecorators("verify_email", decorator.HandlerFunc[VerifyEmailInput, struct{}](v.verify), log)
	return v
}

// Handle verifies the link; see verify. The decorators of package decorator
// wrap it.
func (v *VerifyEmail) Handle(ctx context.Context, in VerifyEmailInput) error {
	_, err := v.handle.Handle(ctx, in)
	return err
}

// verify follows django-rest-registration: the fields (email through DRF's
// EmailField), the signature and then its age, the address's uniqueness
// (any account, the user's own included: "This email is already
// registered."), and the user, who must be active ("User not found"). The
// change is one store write that re-checks uniqueness atomically, so of
// two users verifying one address concurrently at most one gets it; with
// REGISTER_EMAIL_NOTIFY_OLD_ADDRESS the same write queues the notice to the
// old address, and user_changed_email is recorded with it. A link is
// reusable until it expires; used again once the user has the address,
// nothing is written (with unique addresses it answers "This email is
// already registered.", as django-rest-registration does).
//
// The client's address is counted against THROTTLE_VERIFY_IP first, the
// link's user_id against THROTTLE_VERIFY_USER once the fields are valid.
//
// Errors: *core.ValidationError, *core.DetailError, *core.ThrottledError,
// core.ErrFlowDisabled (REGISTER_EMAIL_VERIFICATION_ENABLED is false or the
// flow has no URL), core.ErrUnavailable.
func (v *VerifyEmail) verify(ctx context.Context, in VerifyEmailInput) (struct{}, error) {
	s := &v.changer.cfg
	if !s.Enabled || !s.Verification {
		return struct{}{}, core.ErrFlowDisabled
	}
	if err := v.throttle.count(ctx, ruleVerifyEmailIP, s.ThrottleVerifyIP, clientKey(ctx)); err != nil {
		return struct{}{}, err
	}
	errs := &core.ValidationError{}
	userID, _ := userIDField.clean(in.UserID, errs)
	email := cleanEmail(in.Email, errs)
	timestamp, _ := cleanInteger("timestamp", in.Timestamp, errs)
	signature, _ := signatureField.clean(in.Signature, errs)
	if !errs.Empty() {
		return struct{}{}, errs
	}
	if err := v.throttle.count(ctx, ruleVerifyEmailUser, s.ThrottleVerifyUser, accountKey(userID)); err != nil {
		return struct{}{}, err
	}
	if err := v.links.Check(userID, email, timestamp, signature, v.changer.clock.Now()); err != nil {
		return struct{}{}, err
	}
	if s.EmailUnique {
		taken, err := v.changer.addressTaken(ctx, email)
		if err != nil {
			return struct{}{}, fmt.Errorf("verify email: %w", err)
		}
		if taken {
			return struct{}{}, core.Detail(core.MsgEmailAlreadyRegistered)
		}
	}
	user, err := findByVerificationID(ctx, v.changer.store, v.links.IDField, s.UsernameCaseInsensitive, userID)
	if err != nil {
		return struct{}{}, err
	}
	if !user.IsActive {
		return struct{}{}, core.Detail(core.MsgUserNotFound)
	}
	if user.Email == core.NormalizeEmail(email) {
		return struct{}{}, nil
	}
	return struct{}{}, v.changer.change(ctx, user, email)
}
