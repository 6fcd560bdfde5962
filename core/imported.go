package core

import "time"

// SourceUser is an account as the system restreg takes users over from
// keeps it: a row of Django's auth_user together with the key of its
// Django REST framework token (authtoken_token), if it has one.
type SourceUser struct {
	// ID is the source's integer primary key; restreg keeps it, as a decimal
	// string, so links already mailed (user_id=<pk>) and ids held by other
	// services keep naming the same account.
	ID int64
	// Username is the name as stored, not yet normalised.
	Username string
	// Email is the address as stored ("" when none).
	Email string
	// FirstName and LastName are optional profile data.
	FirstName, LastName string
	// PasswordHash is the encoded hash in the source's format (any of
	// Django's hashers; "!…" or "" when the password is unusable).
	PasswordHash string
	// IsActive is false for accounts that never verified (or were disabled).
	IsActive bool
	// DateJoined is when the account was created.
	DateJoined time.Time
	// LastLogin is when the user last logged in (zero when never).
	LastLogin time.Time
	// Tokens are the user's API token keys, in clear as the source keeps
	// them; the import stores only their digests.
	Tokens []SourceToken
}

// SourceToken is a token key of a SourceUser and when it was created.
type SourceToken struct {
	// Key is the token as clients send it.
	Key string
	// Created is when it was issued (AUTH_TOKEN_TTL counts from it).
	Created time.Time
}

// String hides the key, so a SourceToken printed by mistake leaks nothing.
func (t SourceToken) String() string {
	return "SourceToken{Key:(hidden), Created:" + t.Created.String() + "}"
}

// GoString hides the key from %#v as well.
func (t SourceToken) GoString() string { return t.String() }
