package usecase

import (
	"net/url"
	"strings"
	"time"
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
