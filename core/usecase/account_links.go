package usecase

import (
	"fmt"
	"strconv"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// ResetLinks signs and checks reset-password links the way
// django-rest-registration's ResetPasswordSigner does: data user_id and
// timestamp, salt core.ResetPasswordSalt, valid for
// RESET_PASSWORD_VERIFICATION_PERIOD.
type ResetLinks struct {
	// Signer signs with SECRET_KEY and checks against its fallbacks too.
	Signer ports.Signer
	// URLs appends the parameters to Base.
	URLs ports.LinkURLBuilder
	// Base is RESET_PASSWORD_VERIFICATION_URL.
	Base string
	// IDField is USER_VERIFICATION_ID_FIELD: what a link's user_id holds.
	IDField string
	// OneTimeUse is RESET_PASSWORD_VERIFICATION_ONE_TIME_USE: the salt holds
	// the password hash, so a link dies with the password it was made for.
	OneTimeUse bool
	// Period is RESET_PASSWORD_VERIFICATION_PERIOD.
	Period time.Duration
}

// NewResetLinks returns the ResetLinks of settings s.
func NewResetLinks(signer ports.Signer, urls ports.LinkURLBuilder, s core.Settings) ResetLinks {
	return ResetLinks{Signer: signer, URLs: urls, Base: s.ResetPasswordVerificationURL, IDField: s.UserVerificationIDField,
		OneTimeUse: s.ResetPasswordVerificationOneTimeUse, Period: s.ResetPasswordVerificationPeriod}
}

// Sign returns u's reset-password link stamped at at, salted (one-time use)
// with u's current password hash.
func (l ResetLinks) Sign(u core.User, at time.Time) (string, error) {
	userID := verificationID(l.IDField, u)
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := l.Signer.Sign(map[string]string{"user_id": userID, "timestamp": ts}, core.ResetPasswordSalt(l.OneTimeUse, u.PasswordHash))
	link, err := l.URLs.BuildLinkURL(l.Base, []core.LinkParam{{Key: "user_id", Value: userID}, {Key: "timestamp", Value: ts}, {Key: "signature", Value: sig}})
	if err != nil {
		return "", fmt.Errorf("build reset-password url: %w", err)
	}
	return link, nil
}

// Check verifies a reset-password link's parameters at now against the
// password hash of the user it names. Errors: *core.DetailError
// ("Invalid signature", or "Signature expired" once the signature matched).
func (l ResetLinks) Check(userID string, timestamp int64, signature, passwordHash string, now time.Time) error {
	data := map[string]string{"user_id": userID, "timestamp": strconv.FormatInt(timestamp, 10)}
	return checkLink(l.Signer, data, core.ResetPasswordSalt(l.OneTimeUse, passwordHash), signature, timestamp, l.Period, now)
}

// EmailLinks signs and checks verify-email links the way
// django-rest-registration's RegisterEmailSigner does: data user_id, email
// (as the user typed it, case kept) and timestamp, salt
// core.RegisterEmailSalt, valid for REGISTER_EMAIL_VERIFICATION_PERIOD.
type EmailLinks struct {
	// Signer signs with SECRET_KEY and checks against its fallbacks too.
	Signer ports.Signer
	// URLs appends the parameters to Base.
	URLs ports.LinkURLBuilder
	// Base is REGISTER_EMAIL_VERIFICATION_URL.
	Base string
	// IDField is USER_VERIFICATION_ID_FIELD: what a link's user_id holds.
	IDField string
	// Period is REGISTER_EMAIL_VERIFICATION_PERIOD.
	Period time.Duration
}

// NewEmailLinks returns the EmailLinks of settings s.
func NewEmailLinks(signer ports.Signer, urls ports.LinkURLBuilder, s core.Settings) EmailLinks {
	return EmailLinks{Signer: signer, URLs: urls, Base: s.RegisterEmailVerificationURL, IDField: s.UserVerificationIDField,
		Period: s.RegisterEmailVerificationPeriod}
}

// Sign returns the link that moves u to address email, stamped at at.
func (l EmailLinks) Sign(u core.User, email string, at time.Time) (string, error) {
	userID := verificationID(l.IDField, u)
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := l.Signer.Sign(map[string]string{"user_id": userID, "email": email, "timestamp": ts}, core.RegisterEmailSalt)
	link, err := l.URLs.BuildLinkURL(l.Base, []core.LinkParam{
		{Key: "user_id", Value: userID}, {Key: "email", Value: email}, {Key: "timestamp", Value: ts}, {Key: "signature", Value: sig},
	})
	if err != nil {
		return "", fmt.Errorf("build verify-email url: %w", err)
	}
	return link, nil
}

// Check verifies a verify-email link's parameters at now. Errors:
// *core.DetailError ("Invalid signature", or "Signature expired" once the
// signature matched).
func (l EmailLinks) Check(userID, email string, timestamp int64, signature string, now time.Time) error {
	data := map[string]string{"user_id": userID, "email": email, "timestamp": strconv.FormatInt(timestamp, 10)}
	return checkLink(l.Signer, data, core.RegisterEmailSalt, signature, timestamp, l.Period, now)
}

// checkLink is django-rest-registration's verify: the signature first (so a
// forged expired link answers "Invalid signature"), then the age; an age
// equal to the period is still valid and a timestamp in the future passes.
func checkLink(signer ports.Signer, data map[string]string, salt, signature string, timestamp int64, period time.Duration, now time.Time) error {
	if !signer.Verify(data, salt, signature) {
		return core.Detail(core.MsgInvalidSignature)
	}
	if now.Unix()-timestamp > int64(period/time.Second) {
		return core.Detail(core.MsgSignatureExpired)
	}
	return nil
}
