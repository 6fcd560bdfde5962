package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/restreg/restreg/core"
)

// index adds u's keys to the lookup maps; the caller holds the write lock.
func (s *Store) index(u core.User) {
	s.byUsername[u.UsernameKey] = u.ID
	if u.UniqueEmailKey != "" {
		s.byEmailName[u.UniqueEmailKey] = u.ID
	}
	if u.UsernameEmailKey != "" {
		s.byEmailName[u.UsernameEmailKey] = u.ID
		s.byUsernameEmail[u.UsernameEmailKey] = u.ID
	}
	if u.EmailKey != "" {
		s.byEmail[u.EmailKey] = append(s.byEmail[u.EmailKey], u.ID)
	}
}

// unindex removes u's keys from the lookup maps; the caller holds the write
// lock.
func (s *Store) unindex(u core.User) {
	if s.byUsername[u.UsernameKey] == u.ID {
		delete(s.byUsername, u.UsernameKey)
	}
	if u.UniqueEmailKey != "" && s.byEmailName[u.UniqueEmailKey] == u.ID {
		delete(s.byEmailName, u.UniqueEmailKey)
	}
	if u.UsernameEmailKey != "" {
		if s.byEmailName[u.UsernameEmailKey] == u.ID {
			delete(s.byEmailName, u.UsernameEmailKey)
		}
		if s.byUsernameEmail[u.UsernameEmailKey] == u.ID {
			delete(s.byUsernameEmail, u.UsernameEmailKey)
		}
	}
	if u.EmailKey != "" {
		ids := slices.DeleteFunc(slices.Clone(s.byEmail[u.EmailKey]), func(other string) bool { return other == u.ID })
		if len(ids) == 0 {
			delete(s.byEmail, u.EmailKey)
		} else {
			s.byEmail[u.EmailKey] = ids
		}
	}
}

// conflict reports which of u's keys another user holds (username first);
// the caller holds a lock.
func (s *Store) conflict(u core.User) error {
	if owner, ok := s.byUsername[u.UsernameKey]; ok && owner != u.ID {
		return core.ErrUsernameTaken
	}
	if owner, ok := s.byEmailName[u.UsernameEmailKey]; ok && u.UsernameEmailKey != "" && owner != u.ID {
		return core.ErrUsernameTaken
	}
	if owner, ok := s.byEmailName[u.UniqueEmailKey]; ok && u.UniqueEmailKey != "" && owner != u.ID {
		return core.ErrEmailTaken
	}
	return nil
}

// replace swaps the stored user for u under the namespace rule; the caller
// holds the write lock.
func (s *Store) replace(old, u core.User) error {
	s.unindex(old)
	if err := s.conflict(u); err != nil {
		s.index(old)
		return err
	}
	s.users[u.ID] = u
	s.index(u)
	return nil
}

// RecordLogin sets the user's LastLogin and records events.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time, events ...core.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: record login: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memstore: record login: %w", core.ErrNotFound)
	}
	u.LastLogin = at
	s.users[id] = u
	s.record(id, events)
	return nil
}

// Logout removes one token and records events.
func (s *Store) Logout(ctx context.Context, digest string, events ...core.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: logout: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	userID := s.tokens[digest].UserID
	if digest != "" {
		delete(s.tokens, digest)
	}
	for _, ev := range events {
		id := ev.User.ID
		if id == "" {
			id = userID
		}
		s.record(id, []core.Event{ev})
	}
	return nil
}

// UpdateProfile sets the user's profile fields and records events.
func (s *Store) UpdateProfile(ctx context.Context, id string, p core.Profile, events ...core.Event) (core.User, error) {
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("memstore: update profile: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return core.User{}, fmt.Errorf("memstore: update profile: %w", core.ErrNotFound)
	}
	u := old
	u.Username, u.UsernameKey, u.UsernameEmailKey = p.Username, p.UsernameKey, p.UsernameEmailKey
	u.FirstName, u.LastName = p.FirstName, p.LastName
	if err := s.replace(old, u); err != nil {
		return core.User{}, fmt.Errorf("memstore: update profile: %w", err)
	}
	s.record(id, events)
	return u, nil
}

// ChangePassword replaces the hash while it is still c.OldHash.
func (s *Store) ChangePassword(ctx context.Context, c core.PasswordChange, events ...core.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: change password: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[c.UserID]
	if !ok {
		return false, fmt.Errorf("memstore: change password: %w", core.ErrNotFound)
	}
	if u.PasswordHash != c.OldHash {
		return false, nil
	}
	u.PasswordHash = c.NewHash
	s.users[c.UserID] = u
	if c.RevokeTokens {
		for digest, tok := range s.tokens {
			if tok.UserID == c.UserID && digest != c.KeepToken {
				delete(s.tokens, digest)
			}
		}
	}
	s.record(c.UserID, events)
	return true, nil
}

// ChangeEmail sets the user's address, queues mail and records events.
func (s *Store) ChangeEmail(ctx context.Context, c core.EmailChange, mail []core.QueuedMail, events ...core.Event) (core.User, error) {
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("memstore: change e-mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[c.UserID]
	if !ok {
		return core.User{}, fmt.Errorf("memstore: change e-mail: %w", core.ErrNotFound)
	}
	u := old
	u.Email, u.EmailKey, u.UniqueEmailKey = c.Email, c.EmailKey, c.UniqueEmailKey
	if err := s.replace(old, u); err != nil {
		return core.User{}, fmt.Errorf("memstore: change e-mail: %w", err)
	}
	for _, m := range mail {
		s.mail[m.ID] = m
	}
	s.record(c.UserID, events)
	return u, nil
}

// QueueMail stores m.
func (s *Store) QueueMail(ctx context.Context, m core.QueuedMail) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: queue mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mail[m.ID] = m
	return nil
}

// ClaimQueuedMail leases up to limit due mails, the earliest due first.
func (s *Store) ClaimQueuedMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.QueuedMail, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: claim queued mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []core.QueuedMail
	for _, m := range s.mail {
		if !m.DueAt.After(now) {
			due = append(due, m)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].DueAt.Equal(due[j].DueAt) {
			return due[i].DueAt.Before(due[j].DueAt)
		}
		return due[i].ID < due[j].ID
	})
	if len(due) > limit {
		due = due[:limit]
	}
	for i := range due {
		due[i].DueAt = now.Add(lease)
		due[i].Attempts++
		s.mail[due[i].ID] = due[i]
	}
	return due, nil
}

// DeleteQueuedMail removes mail id if it is still due at dueAt.
func (s *Store) DeleteQueuedMail(ctx context.Context, id string, dueAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete queued mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.mail[id]; ok && m.DueAt.Equal(dueAt) {
		delete(s.mail, id)
	}
	return nil
}

// DeferQueuedMail moves mail id from dueAt to next.
func (s *Store) DeferQueuedMail(ctx context.Context, id string, dueAt, next time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: defer queued mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.mail[id]; ok && m.DueAt.Equal(dueAt) {
		m.DueAt = next
		s.mail[id] = m
	}
	return nil
}

// ImportUser creates or replaces the user u.ID and adds its tokens.
func (s *Store) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: import user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.users[u.ID]
	if exists {
		u.Mail, u.VerificationSentAt = old.Mail, old.VerificationSentAt
		if err := s.replace(old, u); err != nil {
			return false, fmt.Errorf("memstore: import user: %w", err)
		}
	} else {
		if err := s.conflict(u); err != nil {
			return false, fmt.Errorf("memstore: import user: %w", err)
		}
		s.users[u.ID] = u
		s.index(u)
	}
	for _, tok := range tokens {
		if _, ok := s.tokens[tok.Digest]; !ok {
			tok.UserID = u.ID
			s.tokens[tok.Digest] = tok
		}
	}
	return !exists, nil
}
