package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/restreg/restreg/core"
)

// findTokenQuery reads a token and its user in one statement: a join of
// tokens and users through both primary keys. The token's columns are
// renamed in a subquery (which SQLite flattens into the join) so that
// userColumns, which names id and created_at unqualified, stays unambiguous.
// A token whose user is gone joins nothing.
const findTokenQuery = `SELECT ` + userColumns + `, t.token_created_at
	FROM (SELECT user_id AS token_user_id, created_at AS token_created_at FROM tokens WHERE digest = ?) AS t
	JOIN users ON users.id = t.token_user_id`

// latestTokenQuery reads a user's newest token from the end of its range in
// the index tokens_user_id_created_at.
const latestTokenQuery = `SELECT digest, created_at FROM tokens WHERE user_id = ? ORDER BY created_at DESC LIMIT 1`

// FindToken returns the token with that digest and its user, in one read
// on the reader pool through a prepared statement: every authenticated
// request asks it.
func (s *Store) FindToken(ctx context.Context, digest string) (core.Token, core.User, error) {
	const op = "find token"
	if err := s.usable(ctx, op); err != nil {
		return core.Token{}, core.User{}, err
	}
	var created int64
	// The read takes microseconds and, in WAL mode, never waits for the
	// writer (a locked file is bounded by busy_timeout), so it runs under a
	// context that cannot be cancelled: for a cancellable one — every HTTP
	// request's — database/sql starts a goroutine per query to watch it,
	// which costs about as much as the read. A request already cancelled
	// was refused by usable above.
	u, err := scanUserAnd(s.findToken.QueryRowContext(context.WithoutCancel(ctx), digest), &created)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Token{}, core.User{}, fmt.Errorf("sqlite: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, core.User{}, classify(op, err)
	}
	return core.Token{Digest: digest, UserID: u.ID, CreatedAt: fromMicros(created)}, u, nil
}

// LatestToken returns the newest token of userID.
func (s *Store) LatestToken(ctx context.Context, userID string) (core.Token, error) {
	const op = "latest token"
	if err := s.usable(ctx, op); err != nil {
		return core.Token{}, err
	}
	tok := core.Token{UserID: userID}
	var created int64
	err := s.reader.QueryRowContext(ctx, latestTokenQuery, userID).Scan(&tok.Digest, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Token{}, fmt.Errorf("sqlite: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, classify(op, err)
	}
	tok.CreatedAt = fromMicros(created)
	return tok, nil
}

// DeleteToken removes the token with that digest; an unknown digest is no
// error.
func (s *Store) DeleteToken(ctx context.Context, digest string) error {
	return s.write(ctx, "delete token", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE digest = ?`, digest)
		return err
	})
}

// DeleteUserTokens removes every token of userID but keep ("" keeps none)
// and returns how many it removed.
func (s *Store) DeleteUserTokens(ctx context.Context, userID, keep string) (int, error) {
	var removed int
	err := s.write(ctx, "delete user tokens", func(ctx context.Context, tx *sql.Tx) error {
		// write may run this twice (see write): the count is set, never
		// added to, so it is that of the run that committed.
		removed = 0
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND digest <> ?`, userID, keep)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		removed = int(n)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}
