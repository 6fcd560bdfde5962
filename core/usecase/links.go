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

// QueryURLBuilder appends the signed parameters of a link to its base URL
// as a query string, in the order django-rest-registration uses, encoded as
// Python's urlencode encodes them (spaces as "+", "+" as %2B, "@" as %40,
// UTF-8 percent-encoded).
type QueryURLBuilder struct {
	// Base is the frontend page the registration link points to
	// (REGISTER_VERIFICATION_URL); BuildLinkURL takes its own base.
	Base string
	// DRRJoin joins the parameters with "?" even when the base URL already
	// has a query string, byte for byte what django-rest-registration 0.9.0
	// mails ("…/?next=%2Fhome?user_id=…"). Off, restreg's documented rule
	// applies: "&" after an existing query (spec/signing.md), so the
	// frontend reads both its own parameter and the link's.
	DRRJoin bool
}

// BuildVerificationURL returns Base?user_id=…&timestamp=…&signature=…,
// joining with & when Base already has a query string (see DRRJoin).
func (b QueryURLBuilder) BuildVerificationURL(userID, timestamp, signature string) (string, error) {
	return b.BuildLinkURL(b.Base, []core.LinkParam{{Key: "user_id", Value: userID}, {Key: "timestamp", Value: timestamp}, {Key: "signature", Value: signature}})
}

// BuildLinkURL returns base with params appended as a query string, in
// their order.
func (b QueryURLBuilder) BuildLinkURL(base string, params []core.LinkParam) (string, error) {
	var q strings.Builder
	for i, p := range params {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(p.Key))
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(p.Value))
	}
	sep := "?"
	if !b.DRRJoin && strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return base + sep + q.String(), nil
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
