package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
	"github.com/restreg/restreg/ports"
)

// VerifyInput is a verify-registration request as the client sent it.
type VerifyInput struct {
	UserID    core.Value
	Timestamp core.Value
	Signature core.Value
}

// VerifyResult is a successful verification.
type VerifyResult struct {
	// Token is a login token, set with REGISTER_VERIFICATION_AUTO_LOGIN and
	// LOGIN_RETRIEVE_TOKEN.
	Token string
}

// VerifyConfig is the part of the settings verify-registration/ follows.
type VerifyConfig struct {
	// Enabled is REGISTER_VERIFICATION_ENABLED.
	Enabled bool
	// OneTimeUse is REGISTER_VERIFICATION_ONE_TIME_USE.
	OneTimeUse bool
	// Period is REGISTER_VERIFICATION_PERIOD, how long a link is valid.
	Period time.Duration
	// AutoLogin answers a login token: REGISTER_VERIFICATION_AUTO_LOGIN
	// together with LOGIN_RETRIEVE_TOKEN.
	AutoLogin bool
	// IDField is USER_VERIFICATION_ID_FIELD, what a link's user_id holds.
	IDField string
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE.
	UsernameCaseInsensitive bool
	// ThrottleIP and ThrottleUser are THROTTLE_VERIFY_IP and
	// THROTTLE_VERIFY_USER.
	ThrottleIP, ThrottleUser string
}

// NewVerifyConfig returns the VerifyConfig of settings s.
func NewVerifyConfig(s core.Settings) VerifyConfig {
	return VerifyConfig{
		Enabled:                 s.RegisterVerificationEnabled,
		OneTimeUse:              s.RegisterVerificationOneTimeUse,
		Period:                  s.RegisterVerificationPeriod,
		AutoLogin:               s.RegisterVerificationAutoLogin && s.LoginRetrieveToken,
		IDField:                 s.UserVerificationIDField,
		UsernameCaseInsensitive: s.UsernameCaseInsensitive,
		ThrottleIP:              s.ThrottleVerifyIP,
		ThrottleUser:            s.ThrottleVerifyUser,
	}
}

// VerifyRegistration activates an account from a signed link: POST
// verify-registration/.
type VerifyRegistration struct {
	cfg      VerifyConfig
	store    ports.UserStore
	signer   ports.Signer
	tokens   ports.TokenIssuer
	accounts ports.AccountStore
	throttle *Throttle
	clock    ports.Clock
	// events wakes the relay after a user_activated event was recorded.
	events Notifier
	handle decorator.CommandHandler[VerifyInput, VerifyResult]
}

// NewVerifyRegistration returns the verify-registration use case. It finds
// and activates users in store, checks links with signer, issues auto-login
// tokens with tokens and records those logins in accounts, counts requests
// with throttle (nil: none), wakes events (the relay) after recording one
// (nil: nobody to wake) and logs its failures on log.
func NewVerifyRegistration(cfg VerifyConfig, store ports.UserStore, signer ports.Signer, tokens ports.TokenIssuer,
	accounts ports.AccountStore, throttle *Throttle, clock ports.Clock, events Notifier, log *slog.Logger,
) *VerifyRegistration {
	v := &VerifyRegistration{cfg: cfg, store: store, signer: signer, tokens: tokens, accounts: accounts,
		throttle: throttle, clock: clock, events: events}
	v.handle = decorator.ApplyDecorators("verify_registration", decorator.HandlerFunc[VerifyInput, VerifyResult](v.verify), log)
	return v
}

var (
	userIDField    = charField{name: "user_id", required: true}
	signatureField = charField{name: "signature", required: true}
)

// Handle verifies in; see verify. The decorators of package decorator wrap
// it.
func (v *VerifyRegistration) Handle(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	return v.handle.Handle(ctx, in)
}

// verify checks the link and activates its user, emitting user_activated
// exactly once per user however often (or concurrently) the link is posted.
//
// The client's address is counted against THROTTLE_VERIFY_IP before anything
// else, the link's user_id against THROTTLE_VERIFY_USER once the fields are
// valid.
//
// Errors: *core.ValidationError, *core.DetailError ("Invalid signature",
// "Signature expired", "User not found"), *core.ThrottledError,
// core.ErrFlowDisabled, core.ErrUnavailable.
func (v *VerifyRegistration) verify(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	s := &v.cfg
	if !s.Enabled {
		return VerifyResult{}, core.ErrFlowDisabled
	}
	if err := v.throttle.count(ctx, ruleVerifyIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return VerifyResult{}, err
	}
	errs := &core.ValidationError{}
	userID, _ := userIDField.clean(in.UserID, errs)
	timestamp, _ := cleanInteger("timestamp", in.Timestamp, errs)
	signature, _ := signatureField.clean(in.Signature, errs)
	if !errs.Empty() {
		return VerifyResult{}, errs
	}
	if err := v.throttle.count(ctx, ruleVerifyUser, s.ThrottleUser, accountKey(userID)); err != nil {
		return VerifyResult{}, err
	}

	// In one-time mode the salt depends on the user's verification flag, so
	// the user is looked up before the signature can be checked.
	var user core.User
	salt := core.RegisterSalt(false, false)
	if s.OneTimeUse {
		u, err := v.find(ctx, userID)
		if err != nil {
			return VerifyResult{}, err
		}
		user = u
		salt = core.RegisterSalt(true, u.IsActive)
	}
	data := map[string]string{"user_id": userID, "timestamp": strconv.FormatInt(timestamp, 10)}
	if !v.signer.Verify(data, salt, signature) {
		return VerifyResult{}, core.Detail(core.MsgInvalidSignature)
	}
	now := v.clock.Now()
	if timestamp < now.Unix()-int64(s.Period.Seconds()) {
		return VerifyResult{}, core.Detail(core.MsgSignatureExpired)
	}
	if !s.OneTimeUse {
		u, err := v.find(ctx, userID)
		if err != nil {
			return VerifyResult{}, err
		}
		user = u
	}

	// A reusable link used again finds the user active: there is nothing to
	// write (and no event), so the store's writer is left to first uses.
	if !user.IsActive {
		if err := v.activate(ctx, user, now); err != nil {
			return VerifyResult{}, err
		}
	}

	var res VerifyResult
	if s.AutoLogin {
		token, err := v.tokens.IssueToken(ctx, user.ID)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("verify registration: auto-login: %w", err)
		}
		res.Token = token
		// Auto-login is a login: last_login and user_logged_in as for login/.
		user.IsActive = true
		if err := recordLogin(ctx, v.accounts, user, v.clock.Now()); err != nil {
			return VerifyResult{}, fmt.Errorf("verify registration: auto-login: %w", err)
		}
		wake(v.events)
	}
	return res, nil
}

// activate makes user active and records user_activated, once: of
// concurrent requests only the one whose update changed the flag emits it.
func (v *VerifyRegistration) activate(ctx context.Context, user core.User, now time.Time) error {
	activated := user
	activated.IsActive = true
	changed, err := v.store.ActivateUser(ctx, user.ID, newEvent(ctx, core.EventUserActivated, activated, now))
	switch {
	case errors.Is(err, core.ErrNotFound):
		return core.Detail(core.MsgUserNotFound)
	case err != nil:
		return fmt.Errorf("verify registration: activate: %w", err)
	case changed:
		wake(v.events)
	case v.cfg.OneTimeUse:
		// Another request used this link between our lookup and our update:
		// the flag in the salt has changed, so this use is no longer valid.
		return core.Detail(core.MsgInvalidSignature)
	}
	return nil
}

// find returns the user a link's user_id names (USER_VERIFICATION_ID_FIELD).
func (v *VerifyRegistration) find(ctx context.Context, userID string) (core.User, error) {
	var u core.User
	var err error
	switch v.cfg.IDField {
	case "username":
		u, err = v.store.FindUser(ctx, core.ByUsernameKey, core.UsernameKey(userID, v.cfg.UsernameCaseInsensitive))
	case "email":
		u, err = v.store.FindUser(ctx, core.ByEmailKey, core.EmailKey(core.NormalizeEmail(userID)))
	default:
		u, err = v.store.FindUser(ctx, core.ByID, userID)
	}
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
		return core.User{}, core.Detail(core.MsgUserNotFound)
	default:
		return core.User{}, fmt.Errorf("verify registration: find user: %w", err)
	}
}
