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
