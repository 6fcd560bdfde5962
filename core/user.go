package core

import "time"

// User is an account as the store keeps it.
type User struct {
	// ID is the stable identifier put in verification links (by default).
	ID string
	// Username is the NFKC-normalised name the user chose, as displayed.
	Username string
	// UsernameKey is the unique lookup key derived from Username (case-folded
	// when usernames are case-insensitive); stores enforce its uniqueness.
	UsernameKey string
	// Email is the address as stored: trimmed, domain part lower-cased.
	Email string
	// EmailKey is the case-insensitive lookup key for Email ("" when no e-mail).
	EmailKey string
	// UniqueEmailKey equals EmailKey when e-mails must be unique and is ""
	// otherwise; stores enforce uniqueness of the non-empty values only.
	UniqueEmailKey string
	// FirstName is optional profile data.
	FirstName string
	// LastName is optional profile data.
	LastName string
	// PasswordHash is the encoded hash (PHC argon2id or a Django hasher's format).
	PasswordHash string
	// IsActive is the verification flag: false until the link is used.
	IsActive bool
	// CreatedAt is when the user registered.
	CreatedAt time.Time
	// VerificationSentAt is when the last verification e-mail went out (zero
	// when none did); resend-verification/ keeps RESEND_VERIFICATION_INTERVAL
	// between two of them.
	VerificationSentAt time.Time
}

// PublicUser is the part of a user that may leave the process: responses,
// events and e-mail templates. It never holds a password or hash.
type PublicUser struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	IsActive  bool   `json:"is_active"`
}

// Public returns the fields of u that may be shown outside the process.
func (u User) Public() PublicUser {
	return PublicUser{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName, IsActive: u.IsActive}
}

// LookupField names the user attribute a lookup matches on.
type LookupField string

// The attributes users can be found by; keys are the normalised forms.
const (
	ByID          LookupField = "id"
	ByUsernameKey LookupField = "username"
	ByEmailKey    LookupField = "email"
)
