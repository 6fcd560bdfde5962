package usecase

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/restreg/restreg/core"
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

// VerifyRegistration activates an account from a signed link: POST
// verify-registration/.
type VerifyRegistration struct {
	d *Deps
}

// NewVerifyRegistration returns the verify-registration use case.
func NewVerifyRegistration(d *Deps) *VerifyRegistration { return &VerifyRegistration{d: d} }

var (
	userIDField    = charField{name: "user_id", required: true}
	signatureField = charField{name: "signature", required: true}
)

// Handle checks the link and activates its user, emitting user_activated
// exactly once per user however often (or concurrently) the link is posted.
//
// The client's address is counted against THROTTLE_VERIFY_IP before anything
// else, the link's user_id against THROTTLE_VERIFY_USER once the fields are
// valid.
//
// Errors: *core.ValidationError, *core.DetailError ("Invalid signature",
// "Signature expired", "User not found"), *core.ThrottledError,
// core.ErrFlowDisabled, core.ErrUnavailable.
func (v *VerifyRegistration) Handle(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	d := v.d
	s := &d.Settings
	if !s.RegisterVerificationEnabled {
		return VerifyResult{}, core.ErrFlowDisabled
	}
	if err := d.throttle(ctx, ruleVerifyIP, s.ThrottleVerifyIP, clientKey(ctx)); err != nil {
		return VerifyResult{}, err
	}
	errs := &core.ValidationError{}
	userID, _ := userIDField.clean(in.UserID, errs)
	timestamp, _ := cleanInteger("timestamp", in.Timestamp, errs)
	signature, _ := signatureField.clean(in.Signature, errs)
	if !errs.Empty() {
		return VerifyResult{}, errs
	}
	if err := d.throttle(ctx, ruleVerifyUser, s.ThrottleVerifyUser, accountKey(userID)); err != nil {
		return VerifyResult{}, err
	}

	// In one-time mode the salt depends on the user's verification flag, so
	// the user is looked up before the signature can be checked.
	var user core.User
	salt := core.RegisterSalt(false, false)
	if s.RegisterVerificationOneTimeUse {
		u, err := v.find(ctx, userID)
		if err != nil {
			return VerifyResult{}, err
		}
		user = u
		salt = core.RegisterSalt(true, u.IsActive)
	}
	data := map[string]string{"user_id": userID, "timestamp": strconv.FormatInt(timestamp, 10)}
	if !d.Signer.Verify(data, salt, signature) {
		return VerifyResult{}, core.Detail(core.MsgInvalidSignature)
	}
	now := d.Clock.Now()
	if timestamp < now.Unix()-int64(s.RegisterVerificationPeriod.Seconds()) {
		return VerifyResult{}, core.Detail(core.MsgSignatureExpired)
	}
	if !s.RegisterVerificationOneTimeUse {
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
	if s.RegisterVerificationAutoLogin && s.LoginRetrieveToken {
		token, err := d.Tokens.IssueToken(ctx, user.ID)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("verify registration: auto-login: %w", err)
		}
		res.Token = token
	}
	return res, nil
}

// activate makes user active and records user_activated, once: of
// concurrent requests only the one whose update changed the flag emits it.
func (v *VerifyRegistration) activate(ctx context.Context, user core.User, now time.Time) error {
	d := v.d
	activated := user
	activated.IsActive = true
	changed, err := d.Store.ActivateUser(ctx, user.ID, newEvent(ctx, core.EventUserActivated, activated, now))
	switch {
	case errors.Is(err, core.ErrNotFound):
		return core.Detail(core.MsgUserNotFound)
	case err != nil:
		return fmt.Errorf("verify registration: activate: %w", err)
	case changed:
		d.eventsRecorded()
	case d.Settings.RegisterVerificationOneTimeUse:
		// Another request used this link between our lookup and our update:
		// the flag in the salt has changed, so this use is no longer valid.
		return core.Detail(core.MsgInvalidSignature)
	}
	return nil
}

func (v *VerifyRegistration) find(ctx context.Context, userID string) (core.User, error) {
	u, err := v.d.findByVerificationID(ctx, userID)
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
		return core.User{}, core.Detail(core.MsgUserNotFound)
	default:
		return core.User{}, fmt.Errorf("verify registration: find user: %w", err)
	}
}
