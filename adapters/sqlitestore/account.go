package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/restreg/restreg/core"
)

// TODO(account-store): the account ports on this store.
var errAccountPending = errors.ErrUnsupported

// RecordLogin is not written yet.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time, events ...core.Event) error {
	return fmt.Errorf("sqlitestore: record login: %w", errAccountPending)
}

// Logout is not written yet.
func (s *Store) Logout(ctx context.Context, digest string, events ...core.Event) error {
	return fmt.Errorf("sqlitestore: logout: %w", errAccountPending)
}

// UpdateProfile is not written yet.
func (s *Store) UpdateProfile(ctx context.Context, id string, p core.Profile, events ...core.Event) (core.User, error) {
	return core.User{}, fmt.Errorf("sqlitestore: update profile: %w", errAccountPending)
}

// ChangePassword is not written yet.
func (s *Store) ChangePassword(ctx context.Context, c core.PasswordChange, events ...core.Event) (bool, error) {
	return false, fmt.Errorf("sqlitestore: change password: %w", errAccountPending)
}

// ChangeEmail is not written yet.
func (s *Store) ChangeEmail(ctx context.Context, c core.EmailChange, mail []core.QueuedMail, events ...core.Event) (core.User, error) {
	return core.User{}, fmt.Errorf("sqlitestore: change e-mail: %w", errAccountPending)
}

// QueueMail is not written yet.
func (s *Store) QueueMail(ctx context.Context, m core.QueuedMail) error {
	return fmt.Errorf("sqlitestore: queue mail: %w", errAccountPending)
}

// ClaimQueuedMail is not written yet; it claims nothing so couriers keep running.
func (s *Store) ClaimQueuedMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.QueuedMail, error) {
	return nil, nil
}

// DeleteQueuedMail is not written yet.
func (s *Store) DeleteQueuedMail(ctx context.Context, id string, dueAt time.Time) error {
	return fmt.Errorf("sqlitestore: delete queued mail: %w", errAccountPending)
}

// DeferQueuedMail is not written yet.
func (s *Store) DeferQueuedMail(ctx context.Context, id string, dueAt, next time.Time) error {
	return fmt.Errorf("sqlitestore: defer queued mail: %w", errAccountPending)
}

// ImportUser is not written yet.
func (s *Store) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	return false, fmt.Errorf("sqlitestore: import user: %w", errAccountPending)
}
