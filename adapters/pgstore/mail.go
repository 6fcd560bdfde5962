package pgstore

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restreg/restreg/core"
)

// The e-mail a user owes lives in its users row (mail_kind, mail_to,
// mail_due_at, mail_attempts), so the statement that makes a user owe one is
// the statement that changes the user. Couriers of all instances share the
// queue: a claim moves the mail's due time past a lease, and a mail whose
// lease ran out (its courier died) is due again.
//
// Due times are kept to the microsecond (timestamptz). CompleteMail and
// DeferMail find a claim by its due time, so ClaimMail returns the due time
// as the server stored it (RETURNING), never the Go value it sent.

// queueVerificationMailSQL checks and writes in one conditional update: of
// concurrent requests the first takes the row lock and queues; the others
// then find a mail owed and change nothing.
const queueVerificationMailSQL = `WITH q AS (
		UPDATE users SET mail_kind = $2, mail_to = '', mail_due_at = $3, mail_attempts = 0
		WHERE id = $1 AND mail_kind IS NULL AND (verification_sent_at IS NULL OR verification_sent_at < $4)
		RETURNING id
	)
	SELECT EXISTS (SELECT 1 FROM q), EXISTS (SELECT 1 FROM users WHERE id = $1)`

// QueueVerificationMail makes the user owe a verification e-mail due at at
// when it owes none and the previous one is older than notBefore.
func (s *Store) QueueVerificationMail(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	const op = "queue verification mail"
	if err := s.usable(ctx, op); err != nil {
		return false, err
	}
	return s.conditional(ctx, op, queueVerificationMailSQL, id, string(core.MailVerification), at, notBefore)
}

// claimMailSQL leases up to $2 mails due at $1 until $3. SKIP LOCKED makes
// concurrent claims (here or on other instances) pass over the rows another
// claim is taking instead of waiting for them; a row another claim has
// already moved past $1 no longer matches when it is locked. Either way
// each due mail goes to one claim. was_due keeps the order of the claim,
// which the new, common due time no longer shows.
var claimMailSQL = `WITH due AS (
		SELECT id AS due_id, mail_due_at AS was_due FROM users
		WHERE mail_kind IS NOT NULL AND mail_due_at <= $1
		ORDER BY mail_due_at, id
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	)
	UPDATE users SET mail_due_at = $3, mail_attempts = users.mail_attempts + 1
	FROM due WHERE users.id = due.due_id
	RETURNING ` + userColumns + `, due.was_due`

// ClaimMail leases up to limit due mails, the earliest due first.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.User, error) {
	const op = "claim mail"
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimMailSQL, now, limit, now.Add(lease))
	if err != nil {
		return nil, classify(op, err)
	}
	type claim struct {
		user   core.User
		wasDue time.Time
	}
	claims, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claim, error) {
		var c claim
		var err error
		c.user, err = scanUserAnd(row, &c.wasDue)
		return c, err
	})
	if err != nil {
		return nil, classify(op, err)
	}
	// RETURNING gives no order; the courier sends the longest waiting first.
	sort.Slice(claims, func(i, j int) bool {
		if !claims[i].wasDue.Equal(claims[j].wasDue) {
			return claims[i].wasDue.Before(claims[j].wasDue)
		}
		return claims[i].user.ID < claims[j].user.ID
	})
	users := make([]core.User, len(claims))
	for i, c := range claims {
		users[i] = c.user
	}
	return users, nil
}

// completeMailSQL ends the pending mail of kind $2 due at $3, stamping $4
// (NULL keeps the last stamp) as the last verification e-mail, and releases
// the user's held events in the same statement. A mail claimed again or
// replaced since does not match and is left alone.
var completeMailSQL = `WITH c AS (
		UPDATE users SET mail_kind = NULL, mail_to = '', mail_due_at = NULL, mail_attempts = 0,
			verification_sent_at = COALESCE($4::timestamptz, verification_sent_at)
		WHERE id = $1 AND mail_kind = $2 AND mail_due_at = $3
		RETURNING id
	), r AS (
		` + releaseHeldEvents("c") + `
	)
	SELECT EXISTS (SELECT 1 FROM c), EXISTS (SELECT 1 FROM users WHERE id = $1)`

// CompleteMail ends the user's pending mail of kind due at dueAt and
// releases the user's held events, in one transaction.
func (s *Store) CompleteMail(ctx context.Context, id string, kind core.MailKind, dueAt, sentAt time.Time) error {
	const op = "complete mail"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	// Only a verification that went out is the last verification e-mail; a
	// mail given up (zero sentAt) or of another kind keeps the stamp.
	var sent *time.Time
	if kind == core.MailVerification {
		sent = nullTime(sentAt)
	}
	_, err := s.conditional(ctx, op, completeMailSQL, id, string(kind), dueAt, sent)
	return err
}

// deferMailSQL moves the due time of the pending mail of kind $2 due at $3
// to $4.
const deferMailSQL = `WITH m AS (
		UPDATE users SET mail_due_at = $4 WHERE id = $1 AND mail_kind = $2 AND mail_due_at = $3
		RETURNING id
	)
	SELECT EXISTS (SELECT 1 FROM m), EXISTS (SELECT 1 FROM users WHERE id = $1)`

// DeferMail moves the due time of the user's pending mail of kind due at
// dueAt to next.
func (s *Store) DeferMail(ctx context.Context, id string, kind core.MailKind, dueAt, next time.Time) error {
	const op = "defer mail"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	_, err := s.conditional(ctx, op, deferMailSQL, id, string(kind), dueAt, next)
	return err
}

// mailDue is the mail_due_at of a pending mail: NULL when none is owed.
func mailDue(m core.PendingMail) *time.Time {
	if !m.Owed() {
		return nil
	}
	return &m.DueAt
}
