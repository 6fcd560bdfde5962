package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/restreg/restreg/core"
)

// RecordLogin sets the user's LastLogin and records events in one
// transaction.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time, events ...core.Event) error {
	return s.write(ctx, "record login", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET last_login = ? WHERE id = ?`, nullMicros(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return core.ErrNotFound
		}
		return s.record(ctx, tx, id, events)
	})
}

// Logout removes the token with digest ("" removes none) and records events
// in one transaction.
func (s *Store) Logout(ctx context.Context, digest string, events ...core.Event) error {
	return s.write(ctx, "logout", func(ctx context.Context, tx *sql.Tx) error {
		if digest != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE digest = ?`, digest); err != nil {
				return err
			}
		}
		return s.recordByUser(ctx, tx, events)
	})
}

// recordByUser records each event under the user it is about.
func (s *Store) recordByUser(ctx context.Context, tx *sql.Tx, events []core.Event) error {
	for _, ev := range events {
		if err := s.record(ctx, tx, ev.User.ID, []core.Event{ev}); err != nil {
			return err
		}
	}
	return nil
}

// userTx reads user id inside tx; a missing user is core.ErrNotFound.
func userTx(ctx context.Context, tx *sql.Tx, id string) (core.User, error) {
	u, err := scanUserAnd(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.User{}, core.ErrNotFound
	}
	return u, err
}

// UpdateProfile sets the user's profile fields, moves its keys in the login
// namespace and records events, in one transaction.
func (s *Store) UpdateProfile(ctx context.Context, id string, p core.Profile, events ...core.Event) (core.User, error) {
	var updated core.User
	err := s.write(ctx, "update profile", func(ctx context.Context, tx *sql.Tx) error {
		old, err := userTx(ctx, tx, id)
		if err != nil {
			return err
		}
		u := old
		u.Username, u.UsernameKey, u.UsernameEmailKey = p.Username, p.UsernameKey, p.UsernameEmailKey
		u.FirstName, u.LastName = p.FirstName, p.LastName
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, username_key = ?, username_email_key = ?,
			first_name = ?, last_name = ? WHERE id = ?`,
			u.Username, u.UsernameKey, nullString(u.UsernameEmailKey), u.FirstName, u.LastName, id); err != nil {
			return s.explainInsertUser(ctx, tx, u, err)
		}
		if err := s.moveLoginKeys(ctx, tx, old, u); err != nil {
			return err
		}
		if err := s.record(ctx, tx, id, events); err != nil {
			return err
		}
		updated = u
		return nil
	})
	if err != nil {
		return core.User{}, err
	}
	return updated, nil
}

// moveLoginKeys brings the keys user u holds in the login namespace from
// those of old (the same user before the change, whose row in users tx
// has already updated) to its own: it frees the keys it no longer has,
// passing each on to an account that still holds it, then takes the new
// ones. A key another user holds is the core error explainInsertUser
// names.
func (s *Store) moveLoginKeys(ctx context.Context, tx *sql.Tx, old, u core.User) error {
	keep := loginKeys(u)
	for _, key := range loginKeys(old) {
		if slices.Contains(keep, key) {
			continue
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM login_keys WHERE key = ? AND user_id = ?`, key, u.ID)
		if err != nil {
			return fmt.Errorf("free login key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("free login key: %w", err)
		} else if n > 0 {
			if err := passOnLoginKey(ctx, tx, key); err != nil {
				return err
			}
		}
	}
	for _, key := range keep {
		_, err := tx.ExecContext(ctx, `INSERT INTO login_keys (key, user_id) VALUES (?, ?)`, key, u.ID)
		if err == nil {
			continue
		}
		var owner string
		if qerr := tx.QueryRowContext(ctx, `SELECT user_id FROM login_keys WHERE key = ?`, key).Scan(&owner); qerr == nil && owner == u.ID {
			continue // the user had it already
		}
		return s.explainInsertUser(ctx, tx, u, err)
	}
	return nil
}

// ChangePassword replaces the hash while it is still c.OldHash, with the
// token revocation and events, in one transaction.
func (s *Store) ChangePassword(ctx context.Context, c core.PasswordChange, events ...core.Event) (bool, error) {
	var changed bool
	err := s.write(ctx, "change password", func(ctx context.Context, tx *sql.Tx) error {
		changed = false
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`,
			c.NewHash, c.UserID, c.OldHash)
		if err != nil {
			return err
		}
		ok, err := changedOrExists(ctx, tx, res, c.UserID)
		if err != nil || !ok {
			return err
		}
		if c.RevokeTokens {
			if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND digest <> ?`, c.UserID, c.KeepToken); err != nil {
				return fmt.Errorf("revoke tokens: %w", err)
			}
		}
		if err := s.record(ctx, tx, c.UserID, events); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// ChangeEmail sets the user's address, moves its keys in the login
// namespace, queues mail and records events, in one transaction.
func (s *Store) ChangeEmail(ctx context.Context, c core.EmailChange, mail []core.QueuedMail, events ...core.Event) (core.User, error) {
	var updated core.User
	err := s.write(ctx, "change e-mail", func(ctx context.Context, tx *sql.Tx) error {
		old, err := userTx(ctx, tx, c.UserID)
		if err != nil {
			return err
		}
		u := old
		u.Email, u.EmailKey, u.UniqueEmailKey = c.Email, c.EmailKey, c.UniqueEmailKey
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ?, email_key = ?, unique_email_key = ? WHERE id = ?`,
			u.Email, u.EmailKey, nullString(u.UniqueEmailKey), u.ID); err != nil {
			return s.explainInsertUser(ctx, tx, u, err)
		}
		if err := s.moveLoginKeys(ctx, tx, old, u); err != nil {
			return err
		}
		for _, m := range mail {
			if err := insertQueuedMail(ctx, tx, m); err != nil {
				return err
			}
		}
		if err := s.record(ctx, tx, u.ID, events); err != nil {
			return err
		}
		updated = u
		return nil
	})
	if err != nil {
		return core.User{}, err
	}
	return updated, nil
}

const queuedMailColumns = `id, kind, user_id, login, address, created_at, due_at, attempts`

// claimQueuedMailQuery selects the due mails, earliest first, in order from
// the index queued_mail_due_at.
const claimQueuedMailQuery = `SELECT ` + queuedMailColumns + ` FROM queued_mail
	WHERE due_at <= ? ORDER BY due_at, id LIMIT ?`

func insertQueuedMail(ctx context.Context, tx *sql.Tx, m core.QueuedMail) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO queued_mail (`+queuedMailColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, string(m.Kind), m.UserID, m.Login, m.Address, micros(m.CreatedAt), micros(m.DueAt), m.Attempts)
	if err != nil {
		return fmt.Errorf("queue mail %q: %w", m.ID, err)
	}
	return nil
}

// QueueMail stores m.
func (s *Store) QueueMail(ctx context.Context, m core.QueuedMail) error {
	return s.write(ctx, "queue mail", func(ctx context.Context, tx *sql.Tx) error {
		return insertQueuedMail(ctx, tx, m)
	})
}

// ClaimQueuedMail leases up to limit due mails, the earliest due first. The
// single writer makes the read and the update one step: no other claim
// runs in between.
func (s *Store) ClaimQueuedMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.QueuedMail, error) {
	const op = "claim queued mail"
	if limit <= 0 {
		return nil, s.usable(ctx, op)
	}
	var claimed []core.QueuedMail
	err := s.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		claimed = claimed[:0]
		rows, err := tx.QueryContext(ctx, claimQueuedMailQuery, micros(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m core.QueuedMail
			var kind string
			var created, due int64
			if err := rows.Scan(&m.ID, &kind, &m.UserID, &m.Login, &m.Address, &created, &due, &m.Attempts); err != nil {
				_ = rows.Close()
				return err
			}
			m.Kind, m.CreatedAt, m.DueAt = core.MailKind(kind), fromMicros(created), fromMicros(due)
			claimed = append(claimed, m)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		// Report the due time as stored, so that DeleteQueuedMail and
		// DeferQueuedMail given it match.
		due := micros(now.Add(lease))
		for i := range claimed {
			if _, err := tx.ExecContext(ctx, `UPDATE queued_mail SET due_at = ?, attempts = attempts + 1 WHERE id = ?`,
				due, claimed[i].ID); err != nil {
				return err
			}
			claimed[i].DueAt = fromMicros(due)
			claimed[i].Attempts++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// DeleteQueuedMail removes mail id if it is still due at dueAt.
func (s *Store) DeleteQueuedMail(ctx context.Context, id string, dueAt time.Time) error {
	return s.write(ctx, "delete queued mail", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM queued_mail WHERE id = ? AND due_at = ?`, id, micros(dueAt))
		return err
	})
}

// DeferQueuedMail moves mail id from dueAt to next.
func (s *Store) DeferQueuedMail(ctx context.Context, id string, dueAt, next time.Time) error {
	return s.write(ctx, "defer queued mail", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE queued_mail SET due_at = ? WHERE id = ? AND due_at = ?`,
			micros(next), id, micros(dueAt))
		return err
	})
}

// ImportUser creates the user u.ID or replaces its fields (its pending mail,
// verification time and events stay), moves its keys in the login
// namespace and adds the tokens not stored yet, in one transaction.
func (s *Store) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	var created bool
	err := s.write(ctx, "import user", func(ctx context.Context, tx *sql.Tx) error {
		old, err := userTx(ctx, tx, u.ID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			created = true
			if err := s.insertUserTx(ctx, tx, u); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			created = false
			if _, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, username_key = ?, email = ?,
				email_key = ?, unique_email_key = ?, username_email_key = ?, first_name = ?, last_name = ?,
				password_hash = ?, is_active = ?, created_at = ?, last_login = ? WHERE id = ?`,
				u.Username, u.UsernameKey, u.Email, u.EmailKey, nullString(u.UniqueEmailKey),
				nullString(u.UsernameEmailKey), u.FirstName, u.LastName, u.PasswordHash, u.IsActive,
				micros(u.CreatedAt), nullMicros(u.LastLogin), u.ID); err != nil {
				return s.explainInsertUser(ctx, tx, u, err)
			}
			if err := s.moveLoginKeys(ctx, tx, old, u); err != nil {
				return err
			}
		}
		for _, tok := range tokens {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (digest, user_id, created_at) VALUES (?, ?, ?)
				ON CONFLICT (digest) DO NOTHING`, tok.Digest, u.ID, micros(tok.CreatedAt)); err != nil {
				return fmt.Errorf("import token: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}
