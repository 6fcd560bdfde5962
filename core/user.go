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
	// CreatedAt is when the user registered (Django's date_joined).
	CreatedAt time.Time
	// LastLogin is when the user last logged in (Django's last_login; zero
	// when never).
	LastLogin time.Time
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
	// MailResetPassword carries a reset-password link (a QueuedMail).
	MailResetPassword MailKind = "reset_password"
	// MailRegisterEmail carries a verify-email link to QueuedMail.Address,
	// the address the user asked to change to.
	MailRegisterEmail MailKind = "register_email"
	// MailEmailChanged tells QueuedMail.Address, the user's previous
	// address, that the address was changed.
	MailEmailChanged MailKind = "email_changed"
)

// QueuedMail is an e-mail of the account flows after registration waiting
// in the store's mail queue (ports.AccountMailQueue) until the courier has
// handed it to the mailer. It is written in the same atomic step as the
// change that owes it, so a crash at any point loses none.
type QueuedMail struct {
	// ID is unique (core IDs).
	ID string
	// Kind is what to send.
	Kind MailKind
	// UserID is the account the mail is about; "" for a reset request whose
	// login is looked up off the request path (Login then names it).
	UserID string
	// Login is what the request named (send-reset-password-link/'s login or
	// email) when UserID is not known yet.
	Login string
	// Address is where the mail goes when not to the user's current address
	// (MailRegisterEmail: the new address; MailEmailChanged: the old one).
	Address string
	// CreatedAt is when it was queued; links are stamped with it.
	CreatedAt time.Time
	// DueAt is when the courier may take it.
	DueAt time.Time
	// Attempts counts the courier's tries, for its backoff.
	Attempts int
}

// Profile is what profile/ may change on a user, normalised like register
// normalises it.
type Profile struct {
	// Username, UsernameKey and UsernameEmailKey change together (see User).
	Username         string
	UsernameKey      string
	UsernameEmailKey string
	// FirstName is optional profile data.
	FirstName string
	// LastName is optional profile data.
	LastName string
}

// PasswordChange replaces a user's password hash, but only while it is
// still OldHash: of concurrent changes from one hash exactly one applies,
// which is what makes a one-time reset link (salted with the hash) work once.
type PasswordChange struct {
	// UserID is the user whose password changes.
	UserID string
	// OldHash is the hash the change was decided on.
	OldHash string
	// NewHash is the hash to store.
	NewHash string
	// RevokeTokens removes the user's tokens, but KeepToken (a digest; ""
	// keeps none), in the same write.
	RevokeTokens bool
	// KeepToken is the digest of the token that stays valid (the session
	// that changed the password).
	KeepToken string
}

// EmailChange sets a user's address (verify-email/, or register-email/
// without verification), normalised like register normalises it.
type EmailChange struct {
	// UserID is the user whose address changes.
	UserID string
	// Email, EmailKey and UniqueEmailKey change together (see User).
	Email          string
	EmailKey       string
	UniqueEmailKey string
}

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
