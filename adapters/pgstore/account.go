package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restreg/restreg/core"
)

// The account flows after registration change a user in one transaction
// each: the user's row is written (and so locked) first, which orders the
// events of one user by seq as the outbox relies on, then its login keys,
// tokens, queued mail and events.

// errKeyTaken reports that another user holds a key of the login namespace
// a change asked for.
var errKeyTaken = errors.New("the login key belongs to another user")

// recordSQL appends the events passed as arrays ($2…$6) to the outbox for
// user $1.
var recordSQL = `WITH u AS (SELECT $1::text AS id) ` + recordEvents("u", 2)

// inTx runs fn in a transaction that commits when fn returns nil.
func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// recordTx records events about userID in tx.
func recordTx(ctx context.Context, tx pgx.Tx, userID string, events []core.Event) error {
	if len(events) == 0 {
		return nil
	}
	args, err := eventArgs(events)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, recordSQL, append([]any{userID}, args...)...); err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	return nil
}

// failed wraps an error of a transaction of op: core errors as they are,
// the others classified.
func failed(op string, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return classify(op, err)
}

// RecordLogin sets the user's LastLogin and records events in one
// transaction.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time, events ...core.Event) error {
	const op = "record login"
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET last_login = $2 WHERE id = $1`, id, nullTime(at))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return core.ErrNotFound
		}
		return recordTx(ctx, tx, id, events)
	})
	if err != nil {
		return failed(op, err)
	}
	return nil
}

// Logout removes the token with digest ("" removes none) and records
// events, in one transaction.
func (s *Store) Logout(ctx context.Context, digest string, events ...core.Event) error {
	const op = "logout"
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		if digest != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE digest = $1`, digest); err != nil {
				return err
			}
		}
		for _, ev := range events {
			// The user's row lock orders its events (see the outbox).
			if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, ev.User.ID); err != nil {
				return err
			}
			if err := recordTx(ctx, tx, ev.User.ID, []core.Event{ev}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return failed(op, err)
	}
	return nil
}

// userForUpdate reads and locks user id in tx; a missing user is
// core.ErrNotFound.
func userForUpdate(ctx context.Context, tx pgx.Tx, id string) (core.User, error) {
	u, err := scanUserAnd(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return core.User{}, core.ErrNotFound
	}
	return u, err
}

// passOnLoginKeysSQL frees the keys $1 of user $2 (whose row the
// transaction has already updated). A freed key another account still
// holds (only possible in data written before the namespace existed, see
// backfillLoginKeys) passes to that account instead, an address's owner
// first, else the oldest account, as deleteInactiveUserSQL does.
const passOnLoginKeysSQL = `WITH heirs AS (
		SELECT DISTINCT ON (k.key) k.key, h.id AS heir
		FROM login_keys k
		CROSS JOIN LATERAL (
			SELECT id, 0 AS by_username, created_at FROM users
			WHERE email_key = k.key AND unique_email_key IS NOT NULL AND id <> $2
			UNION ALL
			SELECT id, 1, created_at FROM users WHERE username_email_key = k.key AND id <> $2
		) h
		WHERE k.key = ANY($1) AND k.user_id = $2
		ORDER BY k.key, h.by_username, h.created_at, h.id
	), p AS (
		UPDATE login_keys SET user_id = heirs.heir FROM heirs WHERE login_keys.key = heirs.key
	)
	DELETE FROM login_keys WHERE key = ANY($1) AND user_id = $2 AND key NOT IN (SELECT key FROM heirs)`

// moveLoginKeys brings the keys user u holds in the login namespace from
// those of old (the same user before the change, whose row tx has already
// updated) to its own: it frees the keys it no longer has, passing them on
// (passOnLoginKeysSQL), and takes the new ones. A key another user holds
// is errKeyTaken; a concurrent taker of one key waits for the first one's
// transaction, then finds the key taken.
func moveLoginKeys(ctx context.Context, tx pgx.Tx, old, u core.User) error {
	keep := loginKeys(u)
	var free []string
	for _, key := range loginKeys(old) {
		if !slices.Contains(keep, key) {
			free = append(free, key)
		}
	}
	if len(free) > 0 {
		if _, err := tx.Exec(ctx, passOnLoginKeysSQL, free, u.ID); err != nil {
			return fmt.Errorf("free login keys: %w", err)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO login_keys (key, user_id) SELECT key, $2 FROM unnest($1::text[]) AS key
		ON CONFLICT (key) DO NOTHING`, keep, u.ID); err != nil {
		return fmt.Errorf("take login keys: %w", err)
	}
	var held int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM login_keys WHERE key = ANY($1) AND user_id = $2`, keep, u.ID).
		Scan(&held); err != nil {
		return fmt.Errorf("check login keys: %w", err)
	}
	if held != len(keep) {
		return errKeyTaken
	}
	return nil
}

// keysFailed turns the failure of a transaction of op that changed u's keys
// into the error the caller acts on; fallback is the core error when the
// key's holder is gone by now.
func (s *Store) keysFailed(ctx context.Context, op string, u core.User, err, fallback error) error {
	if _, dup := duplicateIndex(err); dup || errors.Is(err, errKeyTaken) {
		return s.explainTaken(ctx, op, u, err, fallback)
	}
	return failed(op, err)
}

// UpdateProfile sets the user's profile fields, moves its keys in the login
// namespace and records events, in one transaction.
func (s *Store) UpdateProfile(ctx context.Context, id string, p core.Profile, events ...core.Event) (core.User, error) {
	const op = "update profile"
	var u core.User
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		old, err := userForUpdate(ctx, tx, id)
		if err != nil {
			return err
		}
		u = old
		u.Username, u.UsernameKey, u.UsernameEmailKey = p.Username, p.UsernameKey, p.UsernameEmailKey
		u.FirstName, u.LastName = p.FirstName, p.LastName
		if _, err := tx.Exec(ctx, `UPDATE users SET username = $2, username_key = $3, username_email_key = NULLIF($4, ''),
			first_name = $5, last_name = $6 WHERE id = $1`,
			id, u.Username, u.UsernameKey, u.UsernameEmailKey, u.FirstName, u.LastName); err != nil {
			return err
		}
		if err := moveLoginKeys(ctx, tx, old, u); err != nil {
			return err
		}
		return recordTx(ctx, tx, id, events)
	})
	if err != nil {
		return core.User{}, s.keysFailed(ctx, op, u, err, core.ErrUsernameTaken)
	}
	return u, nil
}

// ChangePassword replaces the hash while it is still c.OldHash, with the
// token revocation and events, in one transaction. Of concurrent changes
// from one hash the first takes the row lock; the others then find the new
// hash and change nothing.
func (s *Store) ChangePassword(ctx context.Context, c core.PasswordChange, events ...core.Event) (bool, error) {
	const op = "change password"
	changed := false
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `WITH p AS (
				UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2 RETURNING id
			)
			SELECT EXISTS (SELECT 1 FROM p), EXISTS (SELECT 1 FROM users WHERE id = $1)`,
			c.UserID, c.OldHash, c.NewHash).Scan(&changed, &exists); err != nil {
			return err
		}
		if !exists {
			return core.ErrNotFound
		}
		if !changed {
			return nil
		}
		if c.RevokeTokens {
			if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1 AND digest <> $2`, c.UserID, c.KeepToken); err != nil {
				return fmt.Errorf("revoke tokens: %w", err)
			}
		}
		return recordTx(ctx, tx, c.UserID, events)
	})
	if err != nil {
		return false, failed(op, err)
	}
	return changed, nil
}

// ChangeEmail sets the user's address, moves its keys in the login
// namespace, queues mail and records events, in one transaction.
func (s *Store) ChangeEmail(ctx context.Context, c core.EmailChange, mail []core.QueuedMail, events ...core.Event) (core.User, error) {
	const op = "change e-mail"
	var u core.User
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		old, err := userForUpdate(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		u = old
		u.Email, u.EmailKey, u.UniqueEmailKey = c.Email, c.EmailKey, c.UniqueEmailKey
		if _, err := tx.Exec(ctx, `UPDATE users SET email = $2, email_key = $3, unique_email_key = NULLIF($4, '')
			WHERE id = $1`, u.ID, u.Email, u.EmailKey, u.UniqueEmailKey); err != nil {
			return err
		}
		if err := moveLoginKeys(ctx, tx, old, u); err != nil {
			return err
		}
		if err := queueMailTx(ctx, tx, mail); err != nil {
			return err
		}
		return recordTx(ctx, tx, u.ID, events)
	})
	if err != nil {
		return core.User{}, s.keysFailed(ctx, op, u, err, core.ErrEmailTaken)
	}
	return u, nil
}

// queueMailSQL inserts the mails passed as arrays.
const queueMailSQL = `INSERT INTO queued_mail (id, kind, user_id, login, address, created_at, due_at, attempts)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
		$7::timestamptz[], $8::integer[])`

// queueMailTx stores mail in tx.
func queueMailTx(ctx context.Context, tx pgx.Tx, mail []core.QueuedMail) error {
	if len(mail) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, queueMailSQL, mailArgs(mail)...); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	return nil
}

// mailArgs returns the arrays queueMailSQL reads.
func mailArgs(mail []core.QueuedMail) []any {
	n := len(mail)
	ids, kinds, users, logins, addresses := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, due := make([]time.Time, n), make([]time.Time, n)
	attempts := make([]int, n)
	for i, m := range mail {
		ids[i], kinds[i], users[i], logins[i], addresses[i] = m.ID, string(m.Kind), m.UserID, m.Login, m.Address
		created[i], due[i], attempts[i] = m.CreatedAt, m.DueAt, m.Attempts
	}
	return []any{ids, kinds, users, logins, addresses, created, due, attempts}
}

// QueueMail stores m.
func (s *Store) QueueMail(ctx context.Context, m core.QueuedMail) error {
	const op = "queue mail"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, queueMailSQL, mailArgs([]core.QueuedMail{m})...); err != nil {
		return classify(op, err)
	}
	return nil
}

// claimQueuedMailSQL leases up to $2 mails due at $1 until $3. SKIP LOCKED
// makes concurrent claims (here or on other instances) pass over the rows
// another claim is taking; a row another claim has already moved past $1
// no longer matches once locked. Either way each due mail goes to one
// claim. was_due keeps the order of the claim.
const claimQueuedMailSQL = `WITH due AS (
		SELECT id AS due_id, due_at AS was_due FROM queued_mail
		WHERE due_at <= $1
		ORDER BY due_at, id
		LIMIT $2
		FOR UPDATE SKIP LOCKED
	)
	UPDATE queued_mail SET due_at = $3, attempts = queued_mail.attempts + 1
	FROM due WHERE queued_mail.id = due.due_id
	RETURNING id, kind, user_id, login, address, created_at, due_at, attempts, due.was_due`

// ClaimQueuedMail leases up to limit due mails, the earliest due first.
func (s *Store) ClaimQueuedMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.QueuedMail, error) {
	const op = "claim queued mail"
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, claimQueuedMailSQL, now, limit, now.Add(lease))
	if err != nil {
		return nil, classify(op, err)
	}
	type claim struct {
		mail   core.QueuedMail
		wasDue time.Time
	}
	claims, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (claim, error) {
		var c claim
		var kind string
		err := row.Scan(&c.mail.ID, &kind, &c.mail.UserID, &c.mail.Login, &c.mail.Address, &c.mail.CreatedAt,
			&c.mail.DueAt, &c.mail.Attempts, &c.wasDue)
		c.mail.Kind = core.MailKind(kind)
		c.mail.CreatedAt, c.mail.DueAt = c.mail.CreatedAt.UTC(), c.mail.DueAt.UTC()
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
		return claims[i].mail.ID < claims[j].mail.ID
	})
	out := make([]core.QueuedMail, len(claims))
	for i, c := range claims {
		out[i] = c.mail
	}
	return out, nil
}

// DeleteQueuedMail removes mail id if it is still due at dueAt.
func (s *Store) DeleteQueuedMail(ctx context.Context, id string, dueAt time.Time) error {
	const op = "delete queued mail"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM queued_mail WHERE id = $1 AND due_at = $2`, id, dueAt); err != nil {
		return classify(op, err)
	}
	return nil
}

// DeferQueuedMail moves mail id from dueAt to next.
func (s *Store) DeferQueuedMail(ctx context.Context, id string, dueAt, next time.Time) error {
	const op = "defer queued mail"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE queued_mail SET due_at = $3 WHERE id = $1 AND due_at = $2`, id, dueAt, next); err != nil {
		return classify(op, err)
	}
	return nil
}

// importTokensSQL adds the tokens passed as arrays that are not stored yet.
const importTokensSQL = `INSERT INTO tokens (digest, user_id, created_at)
	SELECT digest, $1, created_at FROM unnest($2::text[], $3::timestamptz[]) AS t(digest, created_at)
	ON CONFLICT (digest) DO NOTHING`

// ImportUser creates the user u.ID or replaces its fields (its pending mail,
// verification time and events stay), moves its keys in the login
// namespace and adds the tokens not stored yet, in one transaction.
func (s *Store) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	const op = "import user"
	if !u.Mail.Owed() {
		u.Mail = core.PendingMail{} // nothing owed: nothing to keep
	}
	created := false
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		old, err := userForUpdate(ctx, tx, u.ID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			created = true
			args := append([]any{u.ID, u.Username, u.UsernameKey, u.Email, u.EmailKey, u.UniqueEmailKey,
				u.UsernameEmailKey, u.FirstName, u.LastName, u.PasswordHash, u.IsActive, u.CreatedAt,
				nullTime(u.VerificationSentAt), string(u.Mail.Kind), u.Mail.To, mailDue(u.Mail), u.Mail.Attempts,
				loginKeys(u), nullTime(u.LastLogin)},
				[]string{}, []string{}, []string{}, []time.Time{}, []time.Time{})
			if _, err := tx.Exec(ctx, createUserSQL, args...); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			created = false
			if _, err := tx.Exec(ctx, `UPDATE users SET username = $2, username_key = $3, email = $4, email_key = $5,
				unique_email_key = NULLIF($6, ''), username_email_key = NULLIF($7, ''), first_name = $8, last_name = $9,
				password_hash = $10, is_active = $11, created_at = $12, last_login = $13 WHERE id = $1`,
				u.ID, u.Username, u.UsernameKey, u.Email, u.EmailKey, u.UniqueEmailKey, u.UsernameEmailKey,
				u.FirstName, u.LastName, u.PasswordHash, u.IsActive, u.CreatedAt, nullTime(u.LastLogin)); err != nil {
				return err
			}
			if err := moveLoginKeys(ctx, tx, old, u); err != nil {
				return err
			}
		}
		if len(tokens) == 0 {
			return nil
		}
		digests := make([]string, len(tokens))
		createdAt := make([]time.Time, len(tokens))
		for i, tok := range tokens {
			digests[i], createdAt[i] = tok.Digest, tok.CreatedAt
		}
		if _, err := tx.Exec(ctx, importTokensSQL, u.ID, digests, createdAt); err != nil {
			return fmt.Errorf("import tokens: %w", err)
		}
		return nil
	})
	if err == nil {
		return created, nil
	}
	if constraint, dup := duplicateIndex(err); dup && constraint == usersPrimaryKey {
		return false, fmt.Errorf("postgres: %s: imported concurrently: %w", op, errors.Join(core.ErrUnavailable, err))
	}
	fallback := core.ErrEmailTaken
	if constraint, _ := duplicateIndex(err); constraint == usernameIndex || u.UsernameEmailKey != "" {
		fallback = core.ErrUsernameTaken
	}
	return false, s.keysFailed(ctx, op, u, err, fallback)
}
