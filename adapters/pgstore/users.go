package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restreg/restreg/core"
)

const userColumns = `id, username, username_key, email, email_key, COALESCE(unique_email_key, ''),
	COALESCE(username_email_key, ''), first_name, last_name, password_hash, is_active, created_at,
	verification_sent_at, COALESCE(mail_kind, ''), mail_to, mail_due_at, mail_attempts, last_login`

// recordEvents is the part of a statement that appends the events passed as
// arrays ($E+0 … $E+4: ids, types, payloads, occurred and available times)
// to the outbox for the user the CTE named by from returns, in the order
// given, so that seq follows the record order.
func recordEvents(from string, first int) string {
	p := func(i int) string { return fmt.Sprintf("$%d", first+i) }
	return `INSERT INTO outbox (event_id, user_id, type, payload, occurred_at, available_at)
		SELECT e.event_id, ` + from + `.id, e.type, e.payload::json, e.occurred_at, e.available_at
		FROM ` + from + `, unnest(` + p(0) + `::text[], ` + p(1) + `::text[], ` + p(2) + `::text[], ` +
		p(3) + `::timestamptz[], ` + p(4) + `::timestamptz[])
			WITH ORDINALITY AS e(event_id, type, payload, occurred_at, available_at, ord)
		ORDER BY e.ord`
}

// eventArgs returns the five arrays recordEvents reads.
func eventArgs(events []core.Event) ([]any, error) {
	ids := make([]string, len(events))
	types := make([]string, len(events))
	payloads := make([]string, len(events))
	occurred := make([]time.Time, len(events))
	available := make([]time.Time, len(events))
	for i, ev := range events {
		payload, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode event %q: %w", ev.ID, err)
		}
		ids[i], types[i], payloads[i] = ev.ID, string(ev.Type), string(payload)
		occurred[i], available[i] = ev.OccurredAt, ev.AvailableAt
	}
	return []any{ids, types, payloads, occurred, available}, nil
}

// createUserSQL inserts the user (its last login is $19), its keys in the
// login namespace ($18) and its events in one statement, hence one transaction: a duplicate key
// rejects them all.
var createUserSQL = `WITH u AS (
		INSERT INTO users (id, username, username_key, email, email_key, unique_email_key, username_email_key,
			first_name, last_name, password_hash, is_active, created_at, verification_sent_at,
			mail_kind, mail_to, mail_due_at, mail_attempts, last_login)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10, $11, $12, $13,
			NULLIF($14, ''), $15, $16, $17, $19)
		RETURNING id
	), k AS (
		INSERT INTO login_keys (key, user_id) SELECT key, u.id FROM u, unnest($18::text[]) AS key
	)
	` + recordEvents("u", 20)

// CreateUser stores u, its keys in the login namespace and its events in
// one transaction.
func (s *Store) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	const op = "create user"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	evArgs, err := eventArgs(events)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if !u.Mail.Owed() {
		u.Mail = core.PendingMail{} // nothing owed: nothing to keep
	}
	args := append([]any{u.ID, u.Username, u.UsernameKey, u.Email, u.EmailKey, u.UniqueEmailKey, u.UsernameEmailKey,
		u.FirstName, u.LastName, u.PasswordHash, u.IsActive, u.CreatedAt, nullTime(u.VerificationSentAt),
		string(u.Mail.Kind), u.Mail.To, mailDue(u.Mail), u.Mail.Attempts, loginKeys(u), nullTime(u.LastLogin)}, evArgs...)
	if _, err := s.pool.Exec(ctx, createUserSQL, args...); err != nil {
		return s.explainInsertUser(ctx, u, err)
	}
	return nil
}

// loginKeys returns the keys u holds in the login namespace, each once (a
// user may use its own address as its username).
func loginKeys(u core.User) []string {
	keys := make([]string, 0, 2)
	if u.UsernameEmailKey != "" {
		keys = append(keys, u.UsernameEmailKey)
	}
	if u.UniqueEmailKey != "" && u.UniqueEmailKey != u.UsernameEmailKey {
		keys = append(keys, u.UniqueEmailKey)
	}
	return keys
}

// takenSQL tells which of a new user's keys ($1 username key, $2 username
// e-mail key, $3 unique e-mail key) other users ($4 is the new user's id)
// hold.
const takenSQL = `SELECT
		EXISTS (SELECT 1 FROM users WHERE username_key = $1 AND id <> $4),
		$2 <> '' AND EXISTS (SELECT 1 FROM login_keys WHERE key = $2 AND user_id <> $4),
		$3 <> '' AND EXISTS (SELECT 1 FROM login_keys WHERE key = $3 AND user_id <> $4)`

// explainInsertUser turns a failed user insert into the core error the
// caller acts on. When several keys collide the server names whichever it
// checked first, and the login namespace is one constraint for both kinds
// of key, so the keys are looked up explicitly, the username's first: it
// wins, as the port wants.
func (s *Store) explainInsertUser(ctx context.Context, u core.User, err error) error {
	const op = "create user"
	constraint, dup := duplicateIndex(err)
	if !dup {
		return classify(op, err)
	}
	// No other user holds the key any more: it was deleted since the
	// insert failed. The key was taken when it did; report it by the
	// constraint, the username side when the namespace cannot say which.
	var fallback error
	switch {
	case constraint == usernameIndex, constraint == loginKeysPrimaryKey && u.UsernameEmailKey != "":
		fallback = core.ErrUsernameTaken
	case constraint == loginKeysPrimaryKey:
		fallback = core.ErrEmailTaken
	case constraint == usersPrimaryKey:
		return fmt.Errorf("postgres: %s: user id already exists: %w", op, err)
	default:
		return fmt.Errorf("postgres: %s: duplicate key in %s: %w", op, constraint, err)
	}
	return s.explainTaken(ctx, op, u, err, fallback)
}

// explainTaken turns err, a write of u that met a key another user holds,
// into the core error naming that key, the username's first; fallback is
// the error when no other user holds any of u's keys any more (deleted
// since).
func (s *Store) explainTaken(ctx context.Context, op string, u core.User, err, fallback error) error {
	var username, usernameEmail, email bool
	if qerr := s.pool.QueryRow(ctx, takenSQL, u.UsernameKey, u.UsernameEmailKey, u.UniqueEmailKey, u.ID).
		Scan(&username, &usernameEmail, &email); qerr != nil {
		return classify(op, errors.Join(err, qerr))
	}
	switch {
	case username:
		return fmt.Errorf("postgres: %s: %w", op, errors.Join(core.ErrUsernameTaken, err))
	case usernameEmail:
		return fmt.Errorf("postgres: %s: username is another account's e-mail: %w", op, errors.Join(core.ErrUsernameTaken, err))
	case email:
		return fmt.Errorf("postgres: %s: %w", op, errors.Join(core.ErrEmailTaken, err))
	}
	return fmt.Errorf("postgres: %s: %w", op, errors.Join(fallback, err))
}

// deleteInactiveUserSQL removes the user, if inactive (and so its pending
// mail), with its events, tokens, queued mail and login keys in one
// statement. A freed key another account still holds (only possible in
// data written before the namespace existed, see backfillLoginKeys) passes
// to that account instead (an address's owner first, else the oldest account), so it stays
// unavailable to new registrations. The statement's snapshot still shows
// the deleted user, hence the id <> $1 among the heirs.
const deleteInactiveUserSQL = `WITH d AS (
		DELETE FROM users WHERE id = $1 AND NOT is_active RETURNING id
	), o AS (
		DELETE FROM outbox WHERE user_id IN (SELECT id FROM d)
	), t AS (
		DELETE FROM tokens WHERE user_id IN (SELECT id FROM d)
	), m AS (
		DELETE FROM queued_mail WHERE user_id IN (SELECT id FROM d)
	), heirs AS (
		SELECT DISTINCT ON (k.key) k.key, h.id AS heir
		FROM login_keys k
		CROSS JOIN LATERAL (
			SELECT id, 0 AS by_username, created_at FROM users
			WHERE email_key = k.key AND unique_email_key IS NOT NULL AND id <> $1
			UNION ALL
			SELECT id, 1, created_at FROM users WHERE username_email_key = k.key AND id <> $1
		) h
		WHERE k.user_id IN (SELECT id FROM d)
		ORDER BY k.key, h.by_username, h.created_at, h.id
	), p AS (
		UPDATE login_keys SET user_id = heirs.heir FROM heirs WHERE login_keys.key = heirs.key
	), f AS (
		DELETE FROM login_keys
		WHERE user_id IN (SELECT id FROM d) AND key NOT IN (SELECT key FROM heirs)
	)
	SELECT count(*) FROM d`

// DeleteInactiveUser removes an inactive user with its events and tokens.
func (s *Store) DeleteInactiveUser(ctx context.Context, id string) error {
	const op = "delete inactive user"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	var deleted int
	if err := s.pool.QueryRow(ctx, deleteInactiveUserSQL, id).Scan(&deleted); err != nil {
		return classify(op, err)
	}
	if deleted == 0 {
		return fmt.Errorf("postgres: %s: no inactive user with that id: %w", op, core.ErrNotFound)
	}
	return nil
}

// activateUserSQL is one conditional update: of many concurrent statements
// for one user the first takes the row lock and commits; the others then
// find is_active set, change nothing, release nothing and record nothing.
// The winner releases the user's held events before recording its own.
var activateUserSQL = `WITH a AS (
		UPDATE users SET is_active = true WHERE id = $1 AND NOT is_active RETURNING id
	), r AS (
		` + releaseHeldEvents("a") + `
	), e AS (
		` + recordEvents("a", 2) + `
	)
	SELECT EXISTS (SELECT 1 FROM a), EXISTS (SELECT 1 FROM users WHERE id = $1)`

// ActivateUser marks an inactive user active and records events in the same
// transaction; exactly one of many concurrent callers wins.
func (s *Store) ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error) {
	const op = "activate user"
	if err := s.usable(ctx, op); err != nil {
		return false, err
	}
	evArgs, err := eventArgs(events)
	if err != nil {
		return false, fmt.Errorf("postgres: %s: %w", op, err)
	}
	return s.conditional(ctx, op, activateUserSQL, append([]any{id}, evArgs...)...)
}

// conditional runs a statement that selects whether its conditional write
// changed the user and whether the user exists, and reports the first;
// when the user does not exist, core.ErrNotFound.
func (s *Store) conditional(ctx context.Context, op, query string, args ...any) (bool, error) {
	var changed, exists bool
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&changed, &exists); err != nil {
		return false, classify(op, err)
	}
	if !exists {
		return false, fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	return changed, nil
}

// FindUser returns the user whose field equals key; an empty key matches no one.
func (s *Store) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	op := "find user by " + string(field)
	if err := s.usable(ctx, op); err != nil {
		return core.User{}, err
	}
	var query string
	switch field {
	case core.ByID:
		query = `SELECT ` + userColumns + ` FROM users WHERE id = $1`
	case core.ByUsernameKey:
		query = `SELECT ` + userColumns + ` FROM users WHERE username_key = $1`
	case core.ByEmailKey:
		query = `SELECT ` + userColumns + ` FROM users WHERE email_key = $1 LIMIT 2`
	case core.ByUsernameEmailKey:
		query = findByUsernameEmailSQL
	default:
		return core.User{}, fmt.Errorf("postgres: find user: unknown lookup field %q", field)
	}
	if key == "" {
		return core.User{}, fmt.Errorf("postgres: %s: empty key: %w", op, core.ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, query, key)
	if err != nil {
		return core.User{}, classify(op, err)
	}
	found, err := pgx.CollectRows(rows, scanUser)
	if err != nil {
		return core.User{}, classify(op, err)
	}
	switch len(found) {
	case 0:
		return core.User{}, fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return core.User{}, fmt.Errorf("postgres: %s: %w", op, core.ErrAmbiguous)
}

// findByUsernameEmailSQL looks a user up by username e-mail key through the
// partial index users_username_email_key. Only data written before the
// login namespace existed can hold one key twice (see backfillLoginKeys):
// LIMIT 2 reports that as ambiguous.
const findByUsernameEmailSQL = `SELECT ` + userColumns + ` FROM users WHERE username_email_key = $1 LIMIT 2`

// scanUser reads the userColumns of one row.
func scanUser(row pgx.CollectableRow) (core.User, error) { return scanUserAnd(row) }

// scanUserAnd reads a row of userColumns followed by the columns extra
// scans into.
func scanUserAnd(row pgx.Row, extra ...any) (core.User, error) {
	var u core.User
	var sent, due, login *time.Time
	var kind string
	err := row.Scan(append([]any{&u.ID, &u.Username, &u.UsernameKey, &u.Email, &u.EmailKey, &u.UniqueEmailKey,
		&u.UsernameEmailKey, &u.FirstName, &u.LastName, &u.PasswordHash, &u.IsActive, &u.CreatedAt, &sent,
		&kind, &u.Mail.To, &due, &u.Mail.Attempts, &login}, extra...)...)
	u.CreatedAt = u.CreatedAt.UTC()
	if login != nil {
		u.LastLogin = login.UTC()
	}
	if sent != nil {
		u.VerificationSentAt = sent.UTC()
	}
	u.Mail.Kind = core.MailKind(kind)
	if due != nil {
		u.Mail.DueAt = due.UTC()
	}
	return u, err
}

// SetPasswordHash replaces a user's hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	const op = "set password hash"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	if err != nil {
		return classify(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	return nil
}

// nullTime stores the zero time as NULL ("never").
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
