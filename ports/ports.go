// Package ports declares what the core needs from the world. Every adapter of
// a port runs that port's contract suite from ports/porttest, which is what
// makes adapters swappable.
package ports

import (
	"context"
	"time"

	"github.com/restreg/restreg/core"
)

// UserStore keeps users and records the events their changes emit in the same
// atomic write (the outbox), so a signal is never lost nor sent for a change
// that did not happen.
type UserStore interface {
	// CreateUser stores u (whose ID is already set, with its pending mail
	// if any) together with events. Usernames and e-mail addresses share one
	// namespace: u.UsernameKey must be free among usernames, and each of
	// u.UniqueEmailKey and u.UsernameEmailKey (when not empty) must be free
	// among every other user's UniqueEmailKey and UsernameEmailKey.
	// Errors: core.ErrUsernameTaken (the username key, or u.UsernameEmailKey,
	// is taken), core.ErrEmailTaken (u.UniqueEmailKey is taken) — username
	// first when both collide — core.ErrUnavailable.
	CreateUser(ctx context.Context, u core.User, events ...core.Event) error

	// DeleteInactiveUser removes a user that never became active together
	// with all its unpublished events, its tokens and its queued mail
	// (core.QueuedMail whose UserID it is); used to undo a registration whose
	// e-mail could not be sent. Deleting an active or missing user does
	// nothing and returns core.ErrNotFound. Errors: core.ErrNotFound,
	// core.ErrUnavailable.
	DeleteInactiveUser(ctx context.Context, id string) error

	// ActivateUser sets IsActive on an inactive user and records events in the
	// same atomic write. Of many concurrent calls for one user exactly one
	// returns true; the others (and calls on an already active user) return
	// false and record nothing. The winning write also releases the user's
	// held events (AvailableAt becomes their OccurredAt), so the relay
	// publishes user_registered before user_activated. Errors:
	// core.ErrNotFound, core.ErrUnavailable.
	ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error)

	// FindUser returns the user whose field equals key (keys are the
	// normalised forms: core.User.ID, UsernameKey, EmailKey or
	// UsernameEmailKey). Errors:
	// core.ErrNotFound, core.ErrAmbiguous (several users share an e-mail key),
	// core.ErrUnavailable.
	FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error)

	// SetPasswordHash replaces a user's stored hash (re-hashing on login).
	// Errors: core.ErrNotFound, core.ErrUnavailable.
	SetPasswordHash(ctx context.Context, id, hash string) error

	// QueueVerificationMail makes the user owe a verification e-mail due at
	// at, but only if it owes none yet and the previous verification e-mail
	// went out before notBefore (or none did), and reports whether it did.
	// The check and the write are one atomic step: of many concurrent calls
	// at most one returns true, so two concurrent resends send one e-mail.
	// Errors: core.ErrNotFound, core.ErrUnavailable.
	QueueVerificationMail(ctx context.Context, id string, at, notBefore time.Time) (bool, error)

	// Ping reports whether the store can serve requests now (for /readyz).
	// Errors: core.ErrUnavailable.
	Ping(ctx context.Context) error
}

// Outbox is the store side of event delivery: the relay reads pending events
// from it and removes them once the broker acknowledged them.
type Outbox interface {
	// PendingEvents returns up to limit events whose AvailableAt is not after
	// now, in the order they were recorded. Errors: core.ErrUnavailable.
	PendingEvents(ctx context.Context, now time.Time, limit int) ([]core.Event, error)

	// MarkPublished removes the events with the given ids; unknown ids are
	// ignored. Errors: core.ErrUnavailable.
	MarkPublished(ctx context.Context, ids ...string) error

	// Backlog returns how many events are recorded and not yet published, and
	// when the oldest of them occurred (zero time when none). Errors:
	// core.ErrUnavailable.
	Backlog(ctx context.Context) (count int, oldest time.Time, err error)
}

// TokenStore keeps login tokens as SHA-256 digests only.
type TokenStore interface {
	// SaveToken records that digest (hex SHA-256 of a token) belongs to userID.
	// Errors: core.ErrUnavailable.
	SaveToken(ctx context.Context, digest, userID string, created time.Time) error

	// UserIDForToken returns the user a token digest belongs to. Errors:
	// core.ErrNotFound, core.ErrUnavailable.
	UserIDForToken(ctx context.Context, digest string) (string, error)

	// FindToken returns the token a digest names together with the user it
	// belongs to, in one read: every authenticated request asks it. Errors:
	// core.ErrNotFound (no such token, or its user is gone),
	// core.ErrUnavailable.
	FindToken(ctx context.Context, digest string) (core.Token, core.User, error)

	// LatestToken returns the newest token of userID (the one
	// django-rest-framework's one-token-per-user mode hands out again).
	// Errors: core.ErrNotFound, core.ErrUnavailable.
	LatestToken(ctx context.Context, userID string) (core.Token, error)

	// DeleteToken removes the token with that digest (logout); removing an
	// unknown one does nothing. Errors: core.ErrUnavailable.
	DeleteToken(ctx context.Context, digest string) error

	// DeleteUserTokens removes every token of userID but the one whose
	// digest is keep ("" keeps none) and reports how many it removed
	// (password changes and resets log the other sessions out). Errors:
	// core.ErrUnavailable.
	DeleteUserTokens(ctx context.Context, userID, keep string) (int, error)
}

// MailQueue is the store side of e-mail delivery: the e-mails users owe
// (core.User.Mail) wait there, written in the same atomic step as the change
// that owes them, until the courier has handed them to the mailer.
type MailQueue interface {
	// ClaimMail returns up to limit users whose pending mail is due at now,
	// the earliest due first, after moving each one's DueAt to now+lease and
	// counting the attempt, in one atomic step per user: of concurrent
	// claims (other goroutines, other instances) only one gets a given mail
	// until its lease ends. The returned users carry the claimed mail with
	// its new DueAt. Errors: core.ErrUnavailable.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.User, error)

	// CompleteMail ends the user's pending mail of kind that is due at
	// dueAt (a claim's DueAt; a later claim or a new mail is left alone),
	// once it was sent at sentAt — for MailVerification, VerificationSentAt
	// becomes sentAt — or, with a zero sentAt, given up. Either way the
	// user's held events become available at once. Ending a mail that is no
	// longer pending does nothing. Released events become available from
	// when they occurred. Errors: core.ErrNotFound,
	// core.ErrUnavailable.
	CompleteMail(ctx context.Context, id string, kind core.MailKind, dueAt, sentAt time.Time) error

	// DeferMail moves the due time of the user's pending mail of kind that
	// is due at dueAt to next (a retry after a failed send). Errors:
	// core.ErrNotFound, core.ErrUnavailable.
	DeferMail(ctx context.Context, id string, kind core.MailKind, dueAt, next time.Time) error
}

// AccountStore is what the account flows after registration change on a
// user: each method is one atomic write together with the events it
// records (the outbox).
type AccountStore interface {
	// RecordLogin sets the user's LastLogin to at and records events
	// (user_logged_in). Errors: core.ErrNotFound, core.ErrUnavailable.
	RecordLogin(ctx context.Context, id string, at time.Time, events ...core.Event) error

	// Logout removes the token with digest ("" removes none; an unknown one
	// is ignored) and records events (user_logged_out). Errors:
	// core.ErrUnavailable.
	Logout(ctx context.Context, digest string, events ...core.Event) error

	// UpdateProfile sets the user's Profile fields and records events, and
	// returns the user after the change. The new username keys follow
	// CreateUser's namespace rule against every other user.
	// Errors: core.ErrUsernameTaken, core.ErrNotFound, core.ErrUnavailable.
	UpdateProfile(ctx context.Context, id string, p core.Profile, events ...core.Event) (core.User, error)

	// ChangePassword applies c only while the user's hash is still c.OldHash
	// and reports whether it did; with c.RevokeTokens the user's tokens but
	// c.KeepToken go in the same write. Of concurrent calls from one hash
	// exactly one returns true; the others record nothing. Errors:
	// core.ErrNotFound, core.ErrUnavailable.
	ChangePassword(ctx context.Context, c core.PasswordChange, events ...core.Event) (bool, error)

	// ChangeEmail sets the user's address and queues mail (the notice to the
	// old address) with events, in one write, and returns the user after the
	// change. c.UniqueEmailKey must be free among every other user's
	// UniqueEmailKey and UsernameEmailKey, checked atomically with the write
	// (two users verifying one address concurrently: at most one wins).
	// Errors: core.ErrEmailTaken, core.ErrNotFound, core.ErrUnavailable.
	ChangeEmail(ctx context.Context, c core.EmailChange, mail []core.QueuedMail, events ...core.Event) (core.User, error)
}

// AccountMailQueue holds the e-mails of the account flows after
// registration (core.QueuedMail) until the courier has handed them to the
// mailer; a crash at any point loses none.
type AccountMailQueue interface {
	// QueueMail stores m (its ID set). Errors: core.ErrUnavailable.
	QueueMail(ctx context.Context, m core.QueuedMail) error

	// ClaimQueuedMail returns up to limit mails due at now, the earliest due
	// first, after moving each one's DueAt to now+lease and counting the
	// attempt, in one atomic step per mail: of concurrent claims only one
	// gets a given mail until its lease ends. Errors: core.ErrUnavailable.
	ClaimQueuedMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.QueuedMail, error)

	// DeleteQueuedMail removes the mail id if it is still due at dueAt (the
	// claim that sent or gave it up); otherwise it does nothing. Errors:
	// core.ErrUnavailable.
	DeleteQueuedMail(ctx context.Context, id string, dueAt time.Time) error

	// DeferQueuedMail moves the mail id that is due at dueAt to next (a
	// retry after a failed send); otherwise it does nothing. Errors:
	// core.ErrUnavailable.
	DeferQueuedMail(ctx context.Context, id string, dueAt, next time.Time) error
}

// Importer writes accounts kept by another system into the store (restreg
// import-django): users with their ids, hashes and tokens as they were.
type Importer interface {
	// ImportUser creates u, or, when a user with u.ID exists, replaces its
	// fields with u's (the pending mail and unpublished events stay), and
	// adds the tokens not stored yet, in one write; it records no event.
	// It reports whether it created the user. u's keys follow CreateUser's
	// namespace rule against every other user. Errors: core.ErrUsernameTaken,
	// core.ErrEmailTaken, core.ErrUnavailable.
	ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (created bool, err error)
}

// ImportSource reads the accounts of the system restreg takes users over
// from (restreg import-django reads a Django database), in id order, so an
// import can stop anywhere and continue after the last id it wrote.
type ImportSource interface {
	// CountUsers returns how many users have an id greater than after.
	// Errors: core.ErrUnavailable.
	CountUsers(ctx context.Context, after int64) (int64, error)

	// ReadUsers returns up to limit users whose id is greater than after,
	// in ascending id order, each with its tokens; none means there are no
	// more. Errors: core.ErrUnavailable.
	ReadUsers(ctx context.Context, after int64, limit int) ([]core.SourceUser, error)
}

// Store is everything a storage technology provides.
type Store interface {
	UserStore
	Outbox
	MailQueue
	TokenStore
	AccountStore
	AccountMailQueue
	Importer
}

// Mailer sends one message.
type Mailer interface {
	// Send delivers msg. An error wrapping core.ErrUnavailable means a later
	// retry may succeed (network, 429, 5xx); any other error is permanent.
	Send(ctx context.Context, msg core.Message) error
}

// EventPublisher hands events to a broker.
type EventPublisher interface {
	// Publish returns nil only once the broker acknowledged every event.
	// Errors: core.ErrUnavailable when the broker cannot be reached.
	Publish(ctx context.Context, events ...core.Event) error
}

// PasswordHasher hashes and checks passwords within bounded resources.
type PasswordHasher interface {
	// Hash returns the encoded hash of password. Errors: core.ErrOverloaded
	// when no hashing slot frees up in time, ctx.Err().
	Hash(ctx context.Context, password string) (string, error)

	// Check reports whether password matches encoded, and whether encoded
	// should be replaced by a fresh Hash (other algorithm or weaker cost).
	// Errors: core.ErrOverloaded, ctx.Err(); an unparseable hash is a
	// mismatch, not an error.
	Check(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
}

// Clock tells the time; tests replace it to make links expire.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// Signer signs and checks verification data (Django-compatible by default).
type Signer interface {
	// Sign returns the signature of data under salt with the current key.
	Sign(data map[string]string, salt string) string

	// Verify reports whether sig signs data under salt with the current key
	// or any fallback key, comparing in constant time.
	Verify(data map[string]string, salt, sig string) bool
}

// VerificationURLBuilder turns signed parameters into the link that is mailed.
type VerificationURLBuilder interface {
	// BuildVerificationURL returns the link for user_id, timestamp and
	// signature (the parameters, in that order).
	BuildVerificationURL(userID, timestamp, signature string) (string, error)
}

// LinkURLBuilder turns the signed parameters of a reset-password or
// verify-email link into the link that is mailed.
type LinkURLBuilder interface {
	// BuildLinkURL returns the link to base (RESET_PASSWORD_VERIFICATION_URL
	// or REGISTER_EMAIL_VERIFICATION_URL) carrying params, in their order.
	BuildLinkURL(base string, params []core.LinkParam) (string, error)
}

// TokenIssuer issues login tokens.
type TokenIssuer interface {
	// IssueToken returns a token for userID: a new one, or the user's
	// current one where users have one token each (DRF's model).
	// Errors: core.ErrUnavailable.
	IssueToken(ctx context.Context, userID string) (string, error)
}

// EmailComposer renders the e-mails the account flows send.
type EmailComposer interface {
	// ComposeVerification returns the message that carries verificationURL
	// to u. Errors: rendering failures (a template bug).
	ComposeVerification(ctx context.Context, u core.PublicUser, verificationURL string) (core.Message, error)

	// ComposeAccountExists returns the message that tells u someone tried to
	// register a new account with u's e-mail address
	// (REGISTER_ENUMERATION_SAFE). Errors: rendering failures.
	ComposeAccountExists(ctx context.Context, u core.PublicUser) (core.Message, error)

	// ComposeResetPassword returns the message that carries resetURL, a
	// reset-password link, to u. Errors: rendering failures.
	ComposeResetPassword(ctx context.Context, u core.PublicUser, resetURL string) (core.Message, error)

	// ComposeRegisterEmail returns the message to newAddress, where u asked
	// to move: the verify-email link verificationURL, or, when alreadyUsed,
	// the notice that another account has the address (no link). Errors:
	// rendering failures.
	ComposeRegisterEmail(ctx context.Context, u core.PublicUser, newAddress, verificationURL string, alreadyUsed bool) (core.Message, error)

	// ComposeEmailChanged returns the notice to oldAddress that u's address
	// was changed away from it. Errors: rendering failures.
	ComposeEmailChanged(ctx context.Context, u core.PublicUser, oldAddress string) (core.Message, error)
}

// RateLimiter counts requests per key to throttle clients. Every instance of
// a deployment must share one limiter's state (memory for one node, Redis
// for several), or each node would allow the whole limit on its own.
type RateLimiter interface {
	// Allow counts one request for key against limit and reports whether it
	// is within the limit. A refused request is not counted; retryAfter, set
	// only when refused, is how long until one more request would be allowed
	// (positive, at most limit.Period). An unlimited limit allows everything.
	// Errors: core.ErrUnavailable when the counts cannot be reached; callers
	// let the request through then rather than refuse every sign-up.
	Allow(ctx context.Context, key string, limit core.Rate) (ok bool, retryAfter time.Duration, err error)
}
