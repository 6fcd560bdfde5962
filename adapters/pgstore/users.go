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
	first_name, last_name, password_hash, is_active, created_at, verification_sent_at`

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

// createUserSQL inserts the user and its events in one statement, hence one
// transaction: a duplicate key rejects both.
var createUserSQL = `WITH u AS (
		INSERT INTO users (id, username, username_key, email, email_key, unique_email_key,
			first_name, last_name, password_hash, is_active, created_at, verification_sent_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10, $11, $12)
		RETURNING id
	)
	` + recordEvents("u", 13)

// CreateUser stores u and its events in one transaction.
func (s *Store) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	const op = "create user"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	evArgs, err := eventArgs(events)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	args := append([]any{u.ID, u.Username, u.UsernameKey, u.Email, u.EmailKey, u.UniqueEmailKey,
		u.FirstName, u.LastName, u.PasswordHash, u.IsActive, u.CreatedAt, nullTime(u.VerificationSentAt)}, evArgs...)
	if _, err := s.pool.Exec(ctx, createUserSQL, args...); err != nil {
		return s.explainInsertUser(ctx, u, err)
	}
	return nil
}

// explainInsertUser turns a failed user insert into the core error the
// caller acts on. The port wants the username reported when both keys
// collide, whichever index the server checked first, so an e-mail collision
// is only reported once the username is known to be free.
func (s *Store) explainInsertUser(ctx context.Context, u core.User, err error) error {
	const op = "create user"
	index, dup := duplicateIndex(err)
	switch {
	case !dup:
		return classify(op, err)
	case index == usernameIndex:
		return fmt.Errorf("postgres: %s: %w", op, errors.Join(core.ErrUsernameTaken, err))
	case index == uniqueEmailIndex:
		var taken bool
		if qerr := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE username_key = $1)`,
			u.UsernameKey).Scan(&taken); qerr != nil {
			return classify(op, errors.Join(err, qerr))
		}
		if taken {
			return fmt.Errorf("postgres: %s: %w", op, errors.Join(core.ErrUsernameTaken, err))
		}
		return fmt.Errorf("postgres: %s: %w", op, errors.Join(core.ErrEmailTaken, err))
	}
	return fmt.Errorf("postgres: %s: duplicate key in %s: %w", op, index, err)
}

// deleteInactiveUserSQL removes the user, if inactive, with its events and
// tokens in one statement.
const deleteInactiveUserSQL = `WITH d AS (
		DELETE FROM users WHERE id = $1 AND NOT is_active RETURNING id
	), o AS (
		DELETE FROM outbox WHERE user_id IN (SELECT id FROM d)
	), t AS (
		DELETE FROM tokens WHERE user_id IN (SELECT id FROM d)
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
// find is_active set, change nothing and record nothing.
var activateUserSQL = `WITH a AS (
		UPDATE users SET is_active = true WHERE id = $1 AND NOT is_active RETURNING id
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
	var activated, exists bool
	if err := s.pool.QueryRow(ctx, activateUserSQL, append([]any{id}, evArgs...)...).Scan(&activated, &exists); err != nil {
		return false, classify(op, err)
	}
	if !exists {
		return false, fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	return activated, nil
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

func scanUser(row pgx.CollectableRow) (core.User, error) {
	var u core.User
	var sent *time.Time
	err := row.Scan(&u.ID, &u.Username, &u.UsernameKey, &u.Email, &u.EmailKey, &u.UniqueEmailKey,
		&u.FirstName, &u.LastName, &u.PasswordHash, &u.IsActive, &u.CreatedAt, &sent)
	u.CreatedAt = u.CreatedAt.UTC()
	if sent != nil {
		u.VerificationSentAt = sent.UTC()
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

// markVerificationSentSQL checks and writes in one conditional update, so of
// concurrent marks with one notBefore the first wins and the others find the
// new time too recent.
const markVerificationSentSQL = `WITH m AS (
		UPDATE users SET verification_sent_at = $2
		WHERE id = $1 AND (verification_sent_at IS NULL OR verification_sent_at < $3)
		RETURNING id
	)
	SELECT EXISTS (SELECT 1 FROM m), EXISTS (SELECT 1 FROM users WHERE id = $1)`

// MarkVerificationSent records at as the user's last verification e-mail
// when the previous one is older than notBefore.
func (s *Store) MarkVerificationSent(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	const op = "mark verification sent"
	if err := s.usable(ctx, op); err != nil {
		return false, err
	}
	var marked, exists bool
	if err := s.pool.QueryRow(ctx, markVerificationSentSQL, id, at, notBefore).Scan(&marked, &exists); err != nil {
		return false, classify(op, err)
	}
	if !exists {
		return false, fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	return marked, nil
}

// nullTime stores the zero time as NULL ("never").
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
