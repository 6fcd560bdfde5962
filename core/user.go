package core

import (
	"strings"
	"time"
)

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
	// UsernameEmailKey is the e-mail key a login equal to Username would be
	// looked up by (UsernameEmailKey), "" when the username holds no "@".
	// Usernames and e-mail addresses share one namespace: stores keep every
	// non-empty UsernameEmailKey and UniqueEmailKey unique across users
	// together, so no login string can reach two accounts.
	UsernameEmailKey string
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
	// Mail is the e-mail owed on this account's behalf, kept in the same
	// write as the change that owes it until the mailer has taken it, so a
	// crash at any point loses no e-mail (the zero value: none).
	Mail PendingMail
}

// Token is a login token as the store keeps it: only the digest of the key,
// never the key.
type Token struct {
	// Digest is the hex SHA-256 of the key.
	Digest string
	// UserID is the user the token logs in.
	UserID string
	// CreatedAt is when it was issued (AUTH_TOKEN_TTL counts from it).
	CreatedAt time.Time
}

// UnusablePassword is the hash of an account that can never log in with a
// password; like Django's unusable passwords it starts with "!", which no
// hasher produces.
const UnusablePassword = "!"

// MailKind names an e-mail a user change owes.
type MailKind string

// The e-mails the courier sends from the store's queue.
const (
	// MailVerification carries a verification link to the user's address.
	MailVerification MailKind = "verification"
	// MailAccountExists tells the owner of an address (PendingMail.To) that
	// someone tried to register with it (REGISTER_ENUMERATION_SAFE).
	MailAccountExists MailKind = "account_exists"
)

// PendingMail is an e-mail a user record owes: at most one at a time, since
// a second request for the same e-mail before the first went out has
// nothing to add.
type PendingMail struct {
	// Kind is what to send; "" means nothing is owed.
	Kind MailKind
	// To is the id of the account the e-mail goes to when it is not this one
	// (MailAccountExists: the address's owner).
	To string
	// DueAt is when the courier may take it: at once for mail sent only by
	// the courier, after a lease for mail the request itself is sending.
	DueAt time.Time
	// Attempts counts the courier's tries, for its backoff.
	Attempts int
}

// Owed reports whether an e-mail is pending.
func (m PendingMail) Owed() bool { return m.Kind != "" }

// UsernameEmailKey returns the e-mail key a login equal to username is
// looked up by, "" when it holds no "@" and so can never equal an address.
func UsernameEmailKey(username string) string {
	n := NormalizeUsername(username)
	if !strings.Contains(n, "@") {
		return ""
	}
	return EmailKey(NormalizeEmail(n))
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
	// ByUsernameEmailKey finds the user whose username, typed as an e-mail
	// login, has that key (User.UsernameEmailKey).
	ByUsernameEmailKey LookupField = "username_email"
)
