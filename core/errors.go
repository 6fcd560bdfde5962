package core

import (
	"errors"
	"sort"
	"strings"
)

// Sentinel errors returned (wrapped) by ports and use cases. The HTTP adapter
// maps each to one status in a single place.
var (
	// ErrUsernameTaken: a user with the same username key already exists.
	ErrUsernameTaken = errors.New("username already taken")
	// ErrEmailTaken: a user with the same unique e-mail key already exists.
	ErrEmailTaken = errors.New("email address already taken")
	// ErrNotFound: no user (or token) matches.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: more than one user matches a lookup that must be unique.
	ErrAmbiguous = errors.New("more than one user matches")
	// ErrUnavailable: a dependency (store, mailer, broker) cannot be reached
	// now; retrying later may succeed.
	ErrUnavailable = errors.New("dependency unavailable")
	// ErrOverloaded: the server refuses work it cannot finish in time (full
	// hash queue); the client should retry after a short wait.
	ErrOverloaded = errors.New("server overloaded")
	// ErrFlowDisabled: the requested flow is switched off by a setting.
	ErrFlowDisabled = errors.New("flow disabled")
)

// Messages that are part of the HTTP contract, word for word.
const (
	MsgRequired          = "This field is required."
	MsgNull              = "This field may not be null."
	MsgBlank             = "This field may not be blank."
	MsgNotString         = "Not a valid string."
	MsgInvalidInteger    = "A valid integer is required."
	MsgStringTooLarge    = "String value too large."
	MsgInvalidEmail      = "Enter a valid email address."
	MsgInvalidUsername   = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	MsgNullCharacters    = "Null characters are not allowed."
	MsgUsernameExists    = "A user with that username already exists."
	MsgEmailExists       = "A user with that email address already exists."
	MsgPasswordsMismatch = "Passwords don't match"
	MsgPasswordTooLong   = "This password is too long."
	MsgNoEmail           = "User without email cannot be verified"
	MsgInvalidSignature  = "Invalid signature"
	MsgSignatureExpired  = "Signature expired"
	MsgUserNotFound      = "User not found"
	MsgUserVerified      = "User verified successfully"
	MsgLoginSuccessful   = "Login successful"
	MsgLoginInvalid      = "Login or password invalid."

	// The password reset and e-mail change flows (django-rest-registration's
	// words).
	MsgResetLinkSent           = "Reset link sent"
	MsgResetLinkSentIfExists   = "Reset link sent if the user exists in database"
	MsgResetPasswordSuccessful = "Reset password successful"
	MsgRegisterEmailSent       = "Register email link email sent"
	MsgEmailVerified           = "Email verified successfully"
	MsgEmailAlreadyRegistered  = "This email is already registered."
)

// ValidationError is a rejected request with per-field messages (DRF's
// `{"field": ["message"]}` shape). Nothing was stored or sent.
type ValidationError struct {
	// Fields maps a request field to its messages, in validator order.
	Fields map[string][]string
	// NonFieldErrors holds errors not tied to one field.
	NonFieldErrors []string
	// ShowNonFieldErrors makes "non_field_errors" appear even when empty, as
	// the password stage of registration does.
	ShowNonFieldErrors bool
}

// Add appends msg to the messages of field.
func (e *ValidationError) Add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string][]string{}
	}
	e.Fields[field] = append(e.Fields[field], msg)
}

// Empty reports whether no message was recorded.
func (e *ValidationError) Empty() bool {
	return len(e.Fields) == 0 && len(e.NonFieldErrors) == 0
}

// Error lists the failing fields (never their values, which may be secret).
func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	if len(e.NonFieldErrors) > 0 {
		names = append(names, "non_field_errors")
	}
	return "invalid request: " + strings.Join(names, ", ")
}

// DetailError is a rejected request with one general message (DRF's
// `{"detail": "message"}` shape, status 400). Nothing was changed.
type DetailError struct {
	Detail string
}

// Error returns the message.
func (e *DetailError) Error() string { return e.Detail }

// Detail returns a *DetailError with the given message.
func Detail(msg string) error { return &DetailError{Detail: msg} }

// AuthError is a request whose credentials were refused or missing (DRF's
// 401 `{"detail": "message"}` with `WWW-Authenticate: Token`).
type AuthError struct {
	Detail string
}

// Error returns the message (never the token).
func (e *AuthError) Error() string { return e.Detail }
