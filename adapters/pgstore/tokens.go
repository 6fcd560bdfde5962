package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restreg/restreg/core"
)

// SaveToken records that digest belongs to userID.
func (s *Store) SaveToken(ctx context.Context, digest, userID string, created time.Time) error {
	const op = "save token"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO tokens (digest, user_id, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (digest) DO UPDATE SET user_id = excluded.user_id, created_at = excluded.created_at`,
		digest, userID, created); err != nil {
		return classify(op, err)
	}
	return nil
}

// UserIDForToken returns the user a token digest belongs to.
func (s *Store) UserIDForToken(ctx context.Context, digest string) (string, error) {
	const op = "user for token"
	if err := s.usable(ctx, op); err != nil {
		return "", err
	}
	var id string
	err := s.pool.QueryRow(ctx, `SELECT user_id FROM tokens WHERE digest = $1`, digest).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return "", classify(op, err)
	}
	return id, nil
}

// findTokenSQL reads a token and its user in one statement: a join of
// tokens and users through both primary keys (pgx prepares and caches it on
// each connection). The token's columns are renamed in a subquery, which
// the planner pulls up into the join, so that userColumns, which names id
// and created_at unqualified, stays unambiguous. A token whose user is gone
// joins nothing.
const findTokenSQL = `SELECT ` + userColumns + `, t.token_created_at
	FROM (SELECT user_id AS token_user_id, created_at AS token_created_at FROM tokens WHERE digest = $1) AS t
	JOIN users ON users.id = t.token_user_id`

// latestTokenSQL reads a user's newest token from the end of its range in
// the index tokens_user_id_created_at.
const latestTokenSQL = `SELECT digest, created_at FROM tokens WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1`

// FindToken returns the token with that digest and its user, in one round
// trip: every authenticated request asks it.
func (s *Store) FindToken(ctx context.Context, digest string) (core.Token, core.User, error) {
	const op = "find token"
	if err := s.usable(ctx, op); err != nil {
		return core.Token{}, core.User{}, err
	}
	var created time.Time
	u, err := scanUserAnd(s.pool.QueryRow(ctx, findTokenSQL, digest), &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Token{}, core.User{}, fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, core.User{}, classify(op, err)
	}
	return core.Token{Digest: digest, UserID: u.ID, CreatedAt: created.UTC()}, u, nil
}

// LatestToken returns the newest token of userID.
func (s *Store) LatestToken(ctx context.Context, userID string) (core.Token, error) {
	const op = "latest token"
	if err := s.usable(ctx, op); err != nil {
		return core.Token{}, err
	}
	tok := core.Token{UserID: userID}
	err := s.pool.QueryRow(ctx, latestTokenSQL, userID).Scan(&tok.Digest, &tok.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return core.Token{}, fmt.Errorf("postgres: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, classify(op, err)
	}
	tok.CreatedAt = tok.CreatedAt.UTC()
	return tok, nil
}

// DeleteToken removes the token with that digest; an unknown digest is no
// error.
func (s *Store) DeleteToken(ctx context.Context, digest string) error {
	const op = "delete token"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE digest = $1`, digest); err != nil {
		return classify(op, err)
	}
	return nil
}

// DeleteUserTokens removes every token of userID but keep ("" keeps none)
// and returns how many it removed.
func (s *Store) DeleteUserTokens(ctx context.Context, userID, keep string) (int, error) {
	const op = "delete user tokens"
	if err := s.usable(ctx, op); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1 AND digest <> $2`, userID, keep)
	if err != nil {
		return 0, classify(op, err)
	}
	return int(tag.RowsAffected()), nil
}
