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

// Throttle rules of the password reset flow.
const (
	ruleResetLinkIP         = "reset_link:ip"
	ruleResetLinkAccount    = "reset_link:account"
	ruleResetPasswordIP     = "reset_password:ip"
	ruleResetPasswordUser   = "reset_password:user"
	resetPasswordCASRetries = 5
)

// ResetFinder finds the accounts a send-reset-password-link/ request names:
// by USER_LOGIN_FIELDS (the login namespace login/ uses), or by e-mail
// address only with SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL.
type ResetFinder struct {
	// Logins finds accounts by USER_LOGIN_FIELDS.
	Logins Logins
	// UseEmail is SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL.
	UseEmail bool
}

// NewResetFinder returns the ResetFinder of settings s over store.
func NewResetFinder(store ports.UserStore, s core.Settings) ResetFinder {
	return ResetFinder{Logins: NewLogins(store, s), UseEmail: s.SendResetPasswordLinkSerializerUseEmail}
}

// Find returns the accounts login names (none is not an error).
func (f ResetFinder) Find(ctx context.Context, login string) ([]core.User, error) {
	if !f.UseEmail {
		return f.Logins.Find(ctx, login)
	}
	u, err := f.Logins.Store.FindUser(ctx, core.ByEmailKey, core.EmailKey(core.NormalizeEmail(login)))
	switch {
	case err == nil:
		return []core.User{u}, nil
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
		return nil, nil
	default:
		return nil, fmt.Errorf("find user by email: %w", err)
	}
}

// SendResetInput is a send-reset-password-link request as the client sent
// it: login, or email with SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL.
type SendResetInput struct {
	Login core.Value
	Email core.Value
}

// SendResetResult is the answer's detail message.
type SendResetResult struct {
	Detail string
}

// SendResetConfig is the part of the settings send-reset-password-link/
// follows.
type SendResetConfig struct {
	// Enabled is Settings.ResetPasswordEnabled.
	Enabled bool
	// UseEmail is SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL.
	UseEmail bool
	// FailWhenUserNotFound is RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND.
	FailWhenUserNotFound bool
	// ThrottleIP and ThrottleAccount are THROTTLE_RESET_PASSWORD_IP and
	// THROTTLE_RESET_PASSWORD_ACCOUNT.
	ThrottleIP, ThrottleAccount string
}

// NewSendResetConfig returns the SendResetConfig of settings s.
func NewSendResetConfig(s core.Settings) SendResetConfig {
	return SendResetConfig{
		Enabled:              s.ResetPasswordEnabled(),
		UseEmail:             s.SendResetPasswordLinkSerializerUseEmail,
		FailWhenUserNotFound: s.ResetPasswordFailWhenUserNotFound,
		ThrottleIP:           s.ThrottleResetPasswordIP,
		ThrottleAccount:      s.ThrottleResetPasswordAccount,
	}
}

// SendResetPasswordLink queues a reset-password link for the courier:
// POST send-reset-password-link/.
type SendResetPasswordLink struct {
	cfg      SendResetConfig
	finder   ResetFinder
	queue    ports.AccountMailQueue
	throttle *Throttle
	clock    ports.Clock
	// mailQueued wakes the courier after an e-mail was queued for it.
	mailQueued Notifier
	handle     decorator.CommandHandler[SendResetInput, SendResetResult]
}

// NewSendResetPasswordLink returns the send-reset-password-link use case.
// It finds accounts with finder (only with RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND;
// otherwise the courier does), queues mail in queue, counts requests with
// throttle (nil: none), wakes mailQueued (the courier) after queueing and
// logs its failures on log.
func NewSendResetPasswordLink(cfg SendResetConfig, finder ResetFinder, queue ports.AccountMailQueue, throttle *Throttle,
	clock ports.Clock, mailQueued Notifier, log *slog.Logger,
) *SendResetPasswordLink {
	u := &SendResetPasswordLink{cfg: cfg, finder: finder, queue: queue, throttle: throttle, clock: clock, mailQueued: mailQueued}
	u.handle = decorator.ApplyDecorators("send_reset_password_link", decorator.HandlerFunc[SendResetInput, SendResetResult](u.send), log)
	return u
}

// Handle queues the link; see send. The decorators of package decorator
// wrap it.
func (u *SendResetPasswordLink) Handle(ctx context.Context, in SendResetInput) (SendResetResult, error) {
	return u.handle.Handle(ctx, in)
}

// send validates the request and queues one reset-password e-mail.
//
// By default (RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND=false) the request
// path does the same work whatever the login names — validate, throttle,
// one write of a mail that holds the login — and answers "Reset link sent
// if the user exists in database"; the courier looks the login up after the
// answer and mails every account it names, or drops the mail. So neither
// the answer nor its timing tells a stranger whether an account exists.
//
// With RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND the login is looked up here,
// as django-rest-registration does: "User not found" (400) or, with one mail
// queued per account, "Reset link sent".
//
// The client's address is counted against THROTTLE_RESET_PASSWORD_IP first,
// the login (case-folded) against THROTTLE_RESET_PASSWORD_ACCOUNT once it is
// valid.
//
// Errors: *core.ValidationError, *core.DetailError ("User not found"),
// *core.ThrottledError, core.ErrFlowDisabled, core.ErrUnavailable.
func (u *SendResetPasswordLink) send(ctx context.Context, in SendResetInput) (SendResetResult, error) {
	s := &u.cfg
	if !s.Enabled {
		return SendResetResult{}, core.ErrFlowDisabled
	}
	if err := u.throttle.count(ctx, ruleResetLinkIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return SendResetResult{}, err
	}
	errs := &core.ValidationError{}
	field, value := charField{name: "login", required: true}, in.Login
	if s.UseEmail {
		field, value = charField{name: "email", required: true}, in.Email
	}
	login, _ := field.clean(value, errs)
	if !errs.Empty() {
		return SendResetResult{}, errs
	}
	if err := u.throttle.count(ctx, ruleResetLinkAccount, s.ThrottleAccount, accountKey(login)); err != nil {
		return SendResetResult{}, err
	}
	now := u.clock.Now().UTC()
	if !s.FailWhenUserNotFound {
		m := core.QueuedMail{ID: core.NewID(), Kind: core.MailResetPassword, Login: login, CreatedAt: now, DueAt: now}
		if err := u.queue.QueueMail(ctx, m); err != nil {
			return SendResetResult{}, fmt.Errorf("send reset password link: queue: %w", err)
		}
		wake(u.mailQueued)
		return SendResetResult{Detail: core.MsgResetLinkSentIfExists}, nil
	}
	users, err := u.finder.Find(ctx, login)
	if err != nil {
		return SendResetResult{}, fmt.Errorf("send reset password link: %w", err)
	}
	if len(users) == 0 {
		return SendResetResult{}, core.Detail(core.MsgUserNotFound)
	}
	for _, user := range users {
		m := core.QueuedMail{ID: core.NewID(), Kind: core.MailResetPassword, UserID: user.ID, CreatedAt: now, DueAt: now}
		if err := u.queue.QueueMail(ctx, m); err != nil {
			return SendResetResult{}, fmt.Errorf("send reset password link: queue: %w", err)
		}
	}
	wake(u.mailQueued)
	return SendResetResult{Detail: core.MsgResetLinkSent}, nil
}

// ResetPasswordInput is a reset-password request as the client sent it.
type ResetPasswordInput struct {
	UserID          core.Value
	Timestamp       core.Value
	Signature       core.Value
	Password        core.Value
	PasswordConfirm core.Value
}

// ResetPasswordConfig is the part of the settings reset-password/ follows
// (the link's own settings are the ResetLinks').
type ResetPasswordConfig struct {
	// Enabled is Settings.ResetPasswordEnabled.
	Enabled bool
	// PasswordConfirm is RESET_PASSWORD_SERIALIZER_PASSWORD_CONFIRM.
	PasswordConfirm bool
	// RevokeTokens is RESET_PASSWORD_REVOKE_TOKENS: every login token of the
	// user stops working.
	RevokeTokens bool
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE (links whose
	// user_id is the username).
	UsernameCaseInsensitive bool
	// ThrottleIP and ThrottleAccount are THROTTLE_RESET_PASSWORD_IP and
	// THROTTLE_RESET_PASSWORD_ACCOUNT.
	ThrottleIP, ThrottleAccount string
}

// NewResetPasswordConfig returns the ResetPasswordConfig of settings s.
func NewResetPasswordConfig(s core.Settings) ResetPasswordConfig {
	return ResetPasswordConfig{
		Enabled:                 s.ResetPasswordEnabled(),
		PasswordConfirm:         s.ResetPasswordSerializerPasswordConfirm,
		RevokeTokens:            s.ResetPasswordRevokeTokens,
		UsernameCaseInsensitive: s.UsernameCaseInsensitive,
		ThrottleIP:              s.ThrottleResetPasswordIP,
		ThrottleAccount:         s.ThrottleResetPasswordAccount,
	}
}

// ResetPassword sets a new password from a signed link: POST
// reset-password/.
type ResetPassword struct {
	cfg      ResetPasswordConfig
	links    ResetLinks
	store    ports.UserStore
	accounts ports.AccountStore
	hasher   ports.PasswordHasher
	policy   *core.PasswordPolicy
	throttle *Throttle
	clock    ports.Clock
	// events wakes the relay after a user_password_reset event was recorded.
	events Notifier
	handle decorator.CommandHandler[ResetPasswordInput, struct{}]
}

// NewResetPassword returns the reset-password use case. It checks links
// with links, finds users in store and changes their password in accounts,
// hashes with hasher under policy, counts requests with throttle (nil:
// none), wakes events (the relay) after recording one and logs its failures
// on log.
func NewResetPassword(cfg ResetPasswordConfig, links ResetLinks, store ports.UserStore, accounts ports.AccountStore,
	hasher ports.PasswordHasher, policy *core.PasswordPolicy, throttle *Throttle, clock ports.Clock, events Notifier,
	log *slog.Logger,
) *ResetPassword {
	r := &ResetPassword{cfg: cfg, links: links, store: store, accounts: accounts, hasher: hasher, policy: policy,
		throttle: throttle, clock: clock, events: events}
	r.handle = decorator.ApplyDecorators("reset_password", decorator.HandlerFunc[ResetPasswordInput, struct{}](r.reset), log)
	return r
}

// Handle resets the password; see reset. The decorators of package
// decorator wrap it.
func (r *ResetPassword) Handle(ctx context.Context, in ResetPasswordInput) error {
	_, err := r.handle.Handle(ctx, in)
	return err
}

// reset follows django-rest-registration's order: the fields, then the user
// the link names ("User not found") and the new password's validation with
// that user's attributes (together with the confirmation), and only then
// the signature and its age. The new hash replaces exactly the hash the
// signature was checked against (ports.AccountStore.ChangePassword), so of
// concurrent uses of one one-time link exactly one succeeds and the others
// answer "Invalid signature", as they would a moment later. With
// RESET_PASSWORD_REVOKE_TOKENS every login token of the user goes in the
// same write; user_password_reset is recorded with it.
//
// Unverified users may reset their password (and still cannot log in until
// verified). A login that upgrades a Django hash to argon2id changes the
// hash too, so with RESET_PASSWORD_VERIFICATION_ONE_TIME_USE it kills the
// links made before it, as a login kills Django's own reset tokens.
//
// The client's address is counted against THROTTLE_RESET_PASSWORD_IP first,
// the link's user_id against THROTTLE_RESET_PASSWORD_ACCOUNT once the fields
// are valid.
//
// Errors: *core.ValidationError, *core.DetailError ("User not found",
// "Invalid signature", "Signature expired"), *core.ThrottledError,
// core.ErrFlowDisabled, core.ErrOverloaded, core.ErrUnavailable.
func (r *ResetPassword) reset(ctx context.Context, in ResetPasswordInput) (struct{}, error) {
	s := &r.cfg
	if !s.Enabled {
		return struct{}{}, core.ErrFlowDisabled
	}
	if err := r.throttle.count(ctx, ruleResetPasswordIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return struct{}{}, err
	}
	errs := &core.ValidationError{}
	userID, _ := userIDField.clean(in.UserID, errs)
	timestamp, _ := cleanInteger("timestamp", in.Timestamp, errs)
	signature, _ := signatureField.clean(in.Signature, errs)
	password, _ := passwordField.clean(in.Password, errs)
	var confirm string
	if s.PasswordConfirm {
		confirm, _ = confirmField.clean(in.PasswordConfirm, errs)
	}
	if !errs.Empty() {
		return struct{}{}, errs
	}
	if err := r.throttle.count(ctx, ruleResetPasswordUser, s.ThrottleAccount, accountKey(userID)); err != nil {
		return struct{}{}, err
	}
	user, err := findByVerificationID(ctx, r.store, r.links.IDField, s.UsernameCaseInsensitive, userID)
	if err != nil {
		return struct{}{}, err
	}
	pwErrs := &core.ValidationError{ShowNonFieldErrors: true, NonFieldErrors: []string{}}
	for _, msg := range r.policy.Validate(password, core.PasswordAttributes{Username: user.Username, FirstName: user.FirstName, LastName: user.LastName, Email: user.Email}) {
		pwErrs.Add("password", msg)
	}
	if s.PasswordConfirm && password != confirm {
		pwErrs.Add("password_confirm", core.MsgPasswordsMismatch)
	}
	if len(pwErrs.Fields) > 0 {
		return struct{}{}, pwErrs
	}
	if err := r.links.Check(userID, timestamp, signature, user.PasswordHash, r.clock.Now()); err != nil {
		return struct{}{}, err
	}
	hash, err := r.hasher.Hash(ctx, password)
	if err != nil {
		return struct{}{}, fmt.Errorf("reset password: hash password: %w", err)
	}
	for attempt := 1; ; attempt++ {
		now := r.clock.Now().UTC()
		changed, err := r.accounts.ChangePassword(ctx, core.PasswordChange{
			UserID: user.ID, OldHash: user.PasswordHash, NewHash: hash, RevokeTokens: s.RevokeTokens,
		}, newEvent(ctx, core.EventUserPasswordReset, user, now))
		switch {
		case errors.Is(err, core.ErrNotFound):
			return struct{}{}, core.Detail(core.MsgUserNotFound)
		case err != nil:
			return struct{}{}, fmt.Errorf("reset password: store: %w", err)
		case changed:
			wake(r.events)
			return struct{}{}, nil
		case r.links.OneTimeUse:
			// The password changed since the signature was checked: the
			// link was made for a hash that is gone.
			return struct{}{}, core.Detail(core.MsgInvalidSignature)
		case attempt >= resetPasswordCASRetries:
			return struct{}{}, fmt.Errorf("reset password: the password kept changing concurrently: %w", core.ErrUnavailable)
		}
		// A reusable link stays valid across password changes: apply it to
		// the hash that won.
		if user, err = findByVerificationID(ctx, r.store, r.links.IDField, s.UsernameCaseInsensitive, userID); err != nil {
			return struct{}{}, err
		}
	}
}

// findByVerificationID returns the user a link's user_id names under
// USER_VERIFICATION_ID_FIELD (field). Errors: *core.DetailError ("User not
// found"), core.ErrUnavailable.
func findByVerificationID(ctx context.Context, store ports.UserStore, field string, caseInsensitive bool, userID string) (core.User, error) {
	var u core.User
	var err error
	switch field {
	case "username":
		u, err = store.FindUser(ctx, core.ByUsernameKey, core.UsernameKey(userID, caseInsensitive))
	case "email":
		u, err = store.FindUser(ctx, core.ByEmailKey, core.EmailKey(core.NormalizeEmail(userID)))
	default:
		u, err = store.FindUser(ctx, core.ByID, userID)
	}
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
		return core.User{}, core.Detail(core.MsgUserNotFound)
	default:
		return core.User{}, fmt.Errorf("find user: %w", err)
	}
}
