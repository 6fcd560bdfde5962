// Package memstore keeps users, the event outbox and login tokens in memory,
// behind one mutex. It is for tests and demos: everything is lost on exit.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Module provides an empty in-memory store as every store port.
var Module = fx.Module("memstore",
	fx.Provide(fx.Annotate(New,
		fx.As(new(ports.Store)),
		fx.As(new(ports.UserStore)),
		fx.As(new(ports.Outbox)),
		fx.As(new(ports.MailQueue)),
		fx.As(new(ports.TokenStore)),
		fx.As(new(ports.AccountStore)),
		fx.As(new(ports.AccountMailQueue)),
		fx.As(new(ports.Importer)),
	)),
)

// Store is an in-memory ports.Store; the zero value is not usable, call New.
type Store struct {
	mu sync.RWMutex
	// users holds every user by ID; the maps below index it.
	users      map[string]core.User
	byUsername map[string]string
	// byEmailName is the namespace of e-mail-shaped keys (every user's
	// UniqueEmailKey and UsernameEmailKey), each owned by one user.
	byEmailName map[string]string
	// byUsernameEmail finds users by UsernameEmailKey.
	byUsernameEmail map[string]string
	// byEmail maps an e-mail key to the IDs of every user with it, since
	// without USER_EMAIL_UNIQUE several users may share one.
	byEmail map[string][]string
	// events is the outbox in record order.
	events []core.Event
	// eventUser maps an event ID to the user whose change recorded it.
	eventUser map[string]string
	tokens    map[string]core.Token
	// mail is the account flows' mail queue by mail ID.
	mail map[string]core.QueuedMail
}

var _ ports.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		users:           map[string]core.User{},
		byUsername:      map[string]string{},
		byEmailName:     map[string]string{},
		byUsernameEmail: map[string]string{},
		byEmail:         map[string][]string{},
		eventUser:       map[string]string{},
		tokens:          map[string]core.Token{},
		mail:            map[string]core.QueuedMail{},
	}
}

// CreateUser stores u with events, or nothing when a key is taken.
func (s *Store) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: create user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byUsername[u.UsernameKey]; ok {
		return fmt.Errorf("memstore: create user: %w", core.ErrUsernameTaken)
	}
	if _, ok := s.byEmailName[u.UsernameEmailKey]; ok && u.UsernameEmailKey != "" {
		return fmt.Errorf("memstore: create user: username is another account's e-mail: %w", core.ErrUsernameTaken)
	}
	if _, ok := s.byEmailName[u.UniqueEmailKey]; ok && u.UniqueEmailKey != "" {
		return fmt.Errorf("memstore: create user: %w", core.ErrEmailTaken)
	}
	if _, ok := s.users[u.ID]; ok {
		return fmt.Errorf("memstore: create user: id %q already exists", u.ID)
	}
	for _, ev := range events {
		if _, ok := s.eventUser[ev.ID]; ok {
			return fmt.Errorf("memstore: create user: event id %q already recorded", ev.ID)
		}
	}
	s.users[u.ID] = u
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
	s.record(u.ID, events)
	return nil
}

// record appends events to the outbox; the caller holds the write lock.
func (s *Store) record(userID string, events []core.Event) {
	for _, ev := range events {
		s.events = append(s.events, ev)
		s.eventUser[ev.ID] = userID
	}
}

// DeleteInactiveUser removes an inactive user with its events, tokens and
// queued mail.
func (s *Store) DeleteInactiveUser(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok || u.IsActive {
		return fmt.Errorf("memstore: delete user: no inactive user with that id: %w", core.ErrNotFound)
	}
	delete(s.users, id)
	delete(s.byUsername, u.UsernameKey)
	if u.UniqueEmailKey != "" {
		delete(s.byEmailName, u.UniqueEmailKey)
	}
	if u.UsernameEmailKey != "" {
		delete(s.byEmailName, u.UsernameEmailKey)
		delete(s.byUsernameEmail, u.UsernameEmailKey)
	}
	if u.EmailKey != "" {
		ids := slices.DeleteFunc(s.byEmail[u.EmailKey], func(other string) bool { return other == id })
		if len(ids) == 0 {
			delete(s.byEmail, u.EmailKey)
		} else {
			s.byEmail[u.EmailKey] = ids
		}
	}
	s.events = slices.DeleteFunc(s.events, func(ev core.Event) bool {
		if s.eventUser[ev.ID] != id {
			return false
		}
		delete(s.eventUser, ev.ID)
		return true
	})
	for digest, tok := range s.tokens {
		if tok.UserID == id {
			delete(s.tokens, digest)
		}
	}
	for mailID, m := range s.mail {
		if m.UserID == id {
			delete(s.mail, mailID)
		}
	}
	return nil
}

// ActivateUser marks an inactive user active and records events; it reports
// whether this call made the change.
func (s *Store) ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: activate user: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return false, fmt.Errorf("memstore: activate user: %w", core.ErrNotFound)
	}
	if u.IsActive {
		return false, nil
	}
	u.IsActive = true
	s.users[id] = u
	s.release(id)
	s.record(id, events)
	return true, nil
}

// FindUser returns the user whose field equals key; an empty key matches no one.
func (s *Store) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("memstore: find user: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var id string
	switch field {
	case core.ByID:
		id = key
	case core.ByUsernameKey:
		id = s.byUsername[key]
	case core.ByUsernameEmailKey:
		id = s.byUsernameEmail[key]
	case core.ByEmailKey:
		ids := s.byEmail[key]
		if len(ids) > 1 {
			return core.User{}, fmt.Errorf("memstore: find user by e-mail: %w", core.ErrAmbiguous)
		}
		if len(ids) == 1 {
			id = ids[0]
		}
	default:
		return core.User{}, fmt.Errorf("memstore: find user: unknown lookup field %q", field)
	}
	u, ok := s.users[id]
	if !ok || key == "" {
		return core.User{}, fmt.Errorf("memstore: find user by %s: %w", field, core.ErrNotFound)
	}
	return u, nil
}

// SetPasswordHash replaces a user's hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: set password hash: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memstore: set password hash: %w", core.ErrNotFound)
	}
	u.PasswordHash = hash
	s.users[id] = u
	return nil
}

// QueueVerificationMail makes the user owe a verification e-mail unless
// one is owed or the last went out at or after notBefore; the write lock
// makes the check and the write one step.
func (s *Store) QueueVerificationMail(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memstore: queue verification mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return false, fmt.Errorf("memstore: queue verification mail: %w", core.ErrNotFound)
	}
	if u.Mail.Owed() || (!u.VerificationSentAt.IsZero() && !u.VerificationSentAt.Before(notBefore)) {
		return false, nil
	}
	u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: at}
	s.users[id] = u
	return true, nil
}

// ClaimMail leases up to limit due mails, the earliest due first.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: claim mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []core.User
	for _, u := range s.users {
		if u.Mail.Owed() && !u.Mail.DueAt.After(now) {
			due = append(due, u)
		}
	}
	slices.SortFunc(due, func(a, b core.User) int { return a.Mail.DueAt.Compare(b.Mail.DueAt) })
	if len(due) > limit {
		due = due[:limit]
	}
	for i := range due {
		due[i].Mail.DueAt = now.Add(lease)
		due[i].Mail.Attempts++
		s.users[due[i].ID] = due[i]
	}
	return due, nil
}

// CompleteMail ends a pending mail and releases the user's held events.
func (s *Store) CompleteMail(ctx context.Context, id string, kind core.MailKind, dueAt, sentAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: complete mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memstore: complete mail: %w", core.ErrNotFound)
	}
	if u.Mail.Kind != kind || !u.Mail.DueAt.Equal(dueAt) {
		return nil
	}
	u.Mail = core.PendingMail{}
	if kind == core.MailVerification && !sentAt.IsZero() {
		u.VerificationSentAt = sentAt
	}
	s.users[id] = u
	s.release(id)
	return nil
}

// DeferMail moves a pending mail's due time after a failed send.
func (s *Store) DeferMail(ctx context.Context, id string, kind core.MailKind, dueAt, next time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: defer mail: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return fmt.Errorf("memstore: defer mail: %w", core.ErrNotFound)
	}
	if u.Mail.Kind == kind && u.Mail.DueAt.Equal(dueAt) {
		u.Mail.DueAt = next
		s.users[id] = u
	}
	return nil
}

// Ping reports whether the context still allows work; memory is always there.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: ping: %w", err)
	}
	return nil
}

// PendingEvents returns up to limit events available at now, in record order.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]core.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: pending events: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []core.Event
	for _, ev := range s.events {
		if len(out) >= limit {
			break
		}
		if !ev.AvailableAt.After(now) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// MarkPublished removes the events with the given ids.
func (s *Store) MarkPublished(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: mark published: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	done := make(map[string]bool, len(ids))
	for _, id := range ids {
		done[id] = true
	}
	s.events = slices.DeleteFunc(s.events, func(ev core.Event) bool {
		if !done[ev.ID] {
			return false
		}
		delete(s.eventUser, ev.ID)
		return true
	})
	return nil
}

// release makes a user's held events available from when they occurred;
// the caller holds the write lock.
func (s *Store) release(userID string) {
	for i, ev := range s.events {
		if s.eventUser[ev.ID] == userID && ev.AvailableAt.After(ev.OccurredAt) {
			s.events[i].AvailableAt = ev.OccurredAt
		}
	}
}

// Backlog counts unpublished events and returns the oldest occurrence time.
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, fmt.Errorf("memstore: backlog: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var oldest time.Time
	for _, ev := range s.events {
		if oldest.IsZero() || ev.OccurredAt.Before(oldest) {
			oldest = ev.OccurredAt
		}
	}
	return len(s.events), oldest, nil
}

// SaveToken records that digest belongs to userID.
func (s *Store) SaveToken(ctx context.Context, digest, userID string, created time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: save token: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[digest] = core.Token{Digest: digest, UserID: userID, CreatedAt: created}
	return nil
}

// UserIDForToken returns the user a token digest belongs to.
func (s *Store) UserIDForToken(ctx context.Context, digest string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memstore: user for token: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tok, ok := s.tokens[digest]
	id := tok.UserID
	if !ok {
		return "", fmt.Errorf("memstore: user for token: %w", core.ErrNotFound)
	}
	return id, nil
}

// FindToken returns the token with that digest and its user.
func (s *Store) FindToken(ctx context.Context, digest string) (core.Token, core.User, error) {
	if err := ctx.Err(); err != nil {
		return core.Token{}, core.User{}, fmt.Errorf("memstore: find token: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tok, ok := s.tokens[digest]
	if !ok {
		return core.Token{}, core.User{}, fmt.Errorf("memstore: find token: %w", core.ErrNotFound)
	}
	u, ok := s.users[tok.UserID]
	if !ok {
		return core.Token{}, core.User{}, fmt.Errorf("memstore: find token: its user is gone: %w", core.ErrNotFound)
	}
	return tok, u, nil
}

// LatestToken returns the newest token of userID.
func (s *Store) LatestToken(ctx context.Context, userID string) (core.Token, error) {
	if err := ctx.Err(); err != nil {
		return core.Token{}, fmt.Errorf("memstore: latest token: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var latest core.Token
	for _, tok := range s.tokens {
		if tok.UserID == userID && (latest.Digest == "" || tok.CreatedAt.After(latest.CreatedAt)) {
			latest = tok
		}
	}
	if latest.Digest == "" {
		return core.Token{}, fmt.Errorf("memstore: latest token: %w", core.ErrNotFound)
	}
	return latest, nil
}

// DeleteToken removes one token.
func (s *Store) DeleteToken(ctx context.Context, digest string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete token: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, digest)
	return nil
}

// DeleteUserTokens removes a user's tokens but keep.
func (s *Store) DeleteUserTokens(ctx context.Context, userID, keep string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: delete user tokens: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for digest, tok := range s.tokens {
		if tok.UserID == userID && digest != keep {
			delete(s.tokens, digest)
			n++
		}
	}
	return n, nil
}
