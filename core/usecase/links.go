package usecase

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// QueryURLBuilder appends the signed parameters to REGISTER_VERIFICATION_URL
// as a query string, in the order django-rest-registration uses.
type QueryURLBuilder struct {
	// Base is the frontend page the link points to.
	Base string
}

// BuildVerificationURL returns Base?user_id=…&timestamp=…&signature=…,
// joining with & when Base already has a query string.
func (b QueryURLBuilder) BuildVerificationURL(userID, timestamp, signature string) (string, error) {
	q := "user_id=" + url.QueryEscape(userID) +
		"&timestamp=" + url.QueryEscape(timestamp) +
		"&signature=" + url.QueryEscape(signature)
	sep := "?"
	if strings.Contains(b.Base, "?") {
		sep = "&"
		if strings.HasSuffix(b.Base, "?") || strings.HasSuffix(b.Base, "&") {
			sep = ""
		}
	}
	return b.Base + sep + q, nil
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// Links signs verification links (spec/signing.md) for register/, the
// courier and anyone who needs to hand a user their link.
type Links struct {
	// Signer signs the link's parameters with SECRET_KEY.
	Signer ports.Signer
	// URLs appends them to REGISTER_VERIFICATION_URL.
	URLs ports.VerificationURLBuilder
	// IDField is USER_VERIFICATION_ID_FIELD: what a link's user_id holds
	// ("id", "username" or "email").
	IDField string
	// OneTimeUse is REGISTER_VERIFICATION_ONE_TIME_USE, which changes the
	// salt.
	OneTimeUse bool
}

// NewLinks returns the Links of settings s.
func NewLinks(signer ports.Signer, urls ports.VerificationURLBuilder, s core.Settings) Links {
	return Links{Signer: signer, URLs: urls, IDField: s.UserVerificationIDField, OneTimeUse: s.RegisterVerificationOneTimeUse}
}

// Sign returns the verification link for u at time at: the signed
// parameters of spec/signing.md appended to REGISTER_VERIFICATION_URL.
func (l Links) Sign(u core.User, at time.Time) (string, error) {
	userID := verificationID(l.IDField, u)
	ts := strconv.FormatInt(at.Unix(), 10)
	data := map[string]string{"user_id": userID, "timestamp": ts}
	sig := l.Signer.Sign(data, core.RegisterSalt(l.OneTimeUse, u.IsActive))
	link, err := l.URLs.BuildVerificationURL(userID, ts, sig)
	if err != nil {
		return "", fmt.Errorf("build verification url: %w", err)
	}
	return link, nil
}

// verificationID is what a link's user_id holds for u under field
// (USER_VERIFICATION_ID_FIELD).
func verificationID(field string, u core.User) string {
	switch field {
	case "username":
		return u.Username
	case "email":
		return u.Email
	default:
		return u.ID
	}
}
