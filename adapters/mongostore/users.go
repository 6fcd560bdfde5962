package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

// userDoc is a user as stored, with the events its changes recorded and the
// relay has not published yet.
type userDoc struct {
	ID          string `bson:"_id"`
	Username    string `bson:"username"`
	UsernameKey string `bson:"username_key"`
	Email       string `bson:"email"`
	EmailKey    string `bson:"email_key"`
	// UniqueEmailKey is absent, not "", when e-mails need not be unique, so
	// that the sparse unique index ignores the user.
	UniqueEmailKey string    `bson:"unique_email_key,omitempty"`
	FirstName      string    `bson:"first_name"`
	LastName       string    `bson:"last_name"`
	PasswordHash   string    `bson:"password_hash"`
	IsActive       bool      `bson:"is_active"`
	CreatedAt      time.Time `bson:"created_at"`
	// VerificationSentAt is absent until a verification e-mail went out, so
	// documents written before the field existed read as "never".
	VerificationSentAt time.Time `bson:"verification_sent_at,omitempty"`
	// Outbox is always an array (never null) so that $push can append to it.
	Outbox []outboxEntry `bson:"outbox"`
}

// outboxEntry is one pending event inside its user's document.
type outboxEntry struct {
	EventID string `bson:"event_id"`
	Type    string `bson:"type"`
	// Payload is the event's JSON exactly as it will be published.
	Payload     string    `bson:"payload"`
	OccurredAt  time.Time `bson:"occurred_at"`
	AvailableAt time.Time `bson:"available_at"`
	// Seq orders events in the order they were recorded.
	Seq int64 `bson:"seq"`
}

func (d *userDoc) user() core.User {
	return core.User{
		ID:             d.ID,
		Username:       d.Username,
		UsernameKey:    d.UsernameKey,
		Email:          d.Email,
		EmailKey:       d.EmailKey,
		UniqueEmailKey: d.UniqueEmailKey,
		FirstName:      d.FirstName,
		LastName:       d.LastName,
		PasswordHash:   d.PasswordHash,
		IsActive:       d.IsActive,
		CreatedAt:      d.CreatedAt,

		VerificationSentAt: d.VerificationSentAt,
	}
}

// entries turns events into outbox entries, numbered in argument order.
func (s *Store) entries(events []core.Event) ([]outboxEntry, error) {
	out := make([]outboxEntry, 0, len(events))
	for _, ev := range events {
		payload, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("encode event %q: %w", ev.ID, err)
		}
		out = append(out, outboxEntry{
			EventID:     ev.ID,
			Type:        string(ev.Type),
			Payload:     string(payload),
			OccurredAt:  ev.OccurredAt,
			AvailableAt: ev.AvailableAt,
			Seq:         s.nextSeq(),
		})
	}
	return out, nil
}

func (e *outboxEntry) event() (core.Event, error) {
	var ev core.Event
	if err := json.Unmarshal([]byte(e.Payload), &ev); err != nil {
		return core.Event{}, fmt.Errorf("decode event %q: %w", e.EventID, err)
	}
	ev.AvailableAt = e.AvailableAt
	return ev, nil
}

// withoutOutbox keeps user lookups from loading pending events.
var withoutOutbox = bson.D{{Key: "outbox", Value: 0}}

// CreateUser inserts u with events in one document write.
func (s *Store) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	entries, err := s.entries(events)
	if err != nil {
		return fmt.Errorf("mongodb: create user: %w", err)
	}
	doc := userDoc{
		ID:             u.ID,
		Username:       u.Username,
		UsernameKey:    u.UsernameKey,
		Email:          u.Email,
		EmailKey:       u.EmailKey,
		UniqueEmailKey: u.UniqueEmailKey,
		FirstName:      u.FirstName,
		LastName:       u.LastName,
		PasswordHash:   u.PasswordHash,
		IsActive:       u.IsActive,
		CreatedAt:      u.CreatedAt,
		Outbox:         entries,

		VerificationSentAt: u.VerificationSentAt,
	}
	if _, err := s.users.InsertOne(ctx, doc); err != nil {
		if isDuplicate(err) {
			return s.duplicateCause(ctx, u, err)
		}
		return wrap("create user", err)
	}
	return nil
}

// duplicateCause names the key a rejected insert collided with. It asks for
// the username first because the contract reports a taken username before a
// taken e-mail, whichever index the server happened to check first, and
// because FerretDB does not say which index it was.
func (s *Store) duplicateCause(ctx context.Context, u core.User, dupErr error) error {
	taken := func(field, key string) bool {
		n, err := s.users.CountDocuments(ctx, bson.D{{Key: field, Value: key}}, options.Count().SetLimit(1))
		return err == nil && n > 0
	}
	switch {
	case taken("username_key", u.UsernameKey):
		return fmt.Errorf("mongodb: create user: %w", errors.Join(core.ErrUsernameTaken, dupErr))
	case u.UniqueEmailKey != "" && taken("unique_email_key", u.UniqueEmailKey):
		return fmt.Errorf("mongodb: create user: %w", errors.Join(core.ErrEmailTaken, dupErr))
	}
	// The colliding user may have been deleted since; trust the server's word.
	switch duplicateIndex(dupErr) {
	case indexUsernameKey:
		return fmt.Errorf("mongodb: create user: %w", errors.Join(core.ErrUsernameTaken, dupErr))
	case indexUniqueEmailKey:
		return fmt.Errorf("mongodb: create user: %w", errors.Join(core.ErrEmailTaken, dupErr))
	}
	return fmt.Errorf("mongodb: create user: user id already exists: %w", dupErr)
}

// DeleteInactiveUser removes an inactive user, its pending events (they live
// in its document) and any token issued to it.
func (s *Store) DeleteInactiveUser(ctx context.Context, id string) error {
	res, err := s.users.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "is_active", Value: false}})
	if err != nil {
		return wrap("delete user", err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongodb: delete user: no inactive user with that id: %w", core.ErrNotFound)
	}
	if _, err := s.tokens.DeleteMany(ctx, bson.D{{Key: "user_id", Value: id}}); err != nil {
		return wrap("delete tokens of deleted user", err)
	}
	return nil
}

// ActivateUser flips is_active and appends events in one conditional update;
// on MongoDB exactly one of many concurrent calls matches the filter.
func (s *Store) ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error) {
	entries, err := s.entries(events)
	if err != nil {
		return false, fmt.Errorf("mongodb: activate user: %w", err)
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "is_active", Value: true}}}}
	if len(entries) > 0 {
		update = append(update, bson.E{Key: "$push", Value: bson.D{
			{Key: "outbox", Value: bson.D{{Key: "$each", Value: entries}}},
		}})
	}
	unlock := s.lockUser(id)
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "is_active", Value: false}}, update)
	unlock()
	if err != nil {
		return false, wrap("activate user", err)
	}
	if res.ModifiedCount == 1 {
		return true, nil
	}
	n, err := s.users.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}, options.Count().SetLimit(1))
	if err != nil {
		return false, wrap("activate user", err)
	}
	if n == 0 {
		return false, fmt.Errorf("mongodb: activate user: %w", core.ErrNotFound)
	}
	return false, nil
}

// FindUser returns the one user whose field equals key.
func (s *Store) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	var name string
	switch field {
	case core.ByID:
		name = "_id"
	case core.ByUsernameKey:
		name = "username_key"
	case core.ByEmailKey:
		name = "email_key"
	default:
		return core.User{}, fmt.Errorf("mongodb: find user: unknown lookup field %q", field)
	}
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("mongodb: find user: %w", err)
	}
	if key == "" {
		// Users without an e-mail have an empty key; it names nobody.
		return core.User{}, fmt.Errorf("mongodb: find user by %s: %w", field, core.ErrNotFound)
	}
	cur, err := s.users.Find(ctx, bson.D{{Key: name, Value: key}},
		options.Find().SetLimit(2).SetProjection(withoutOutbox))
	if err != nil {
		return core.User{}, wrap("find user", err)
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return core.User{}, wrap("find user", err)
	}
	switch len(docs) {
	case 0:
		return core.User{}, fmt.Errorf("mongodb: find user by %s: %w", field, core.ErrNotFound)
	case 1:
		return docs[0].user(), nil
	default:
		return core.User{}, fmt.Errorf("mongodb: find user by %s: %w", field, core.ErrAmbiguous)
	}
}

// MarkVerificationSent records at as the user's last verification e-mail
// when the previous one is older than notBefore. The condition is part of the
// update's filter, so on MongoDB one of many concurrent calls matches.
func (s *Store) MarkVerificationSent(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "verification_sent_at", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "verification_sent_at", Value: bson.D{{Key: "$lt", Value: notBefore}}}},
		}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "verification_sent_at", Value: at}}}}
	unlock := s.lockUser(id)
	res, err := s.users.UpdateOne(ctx, filter, update)
	unlock()
	if err != nil {
		return false, wrap("mark verification sent", err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	n, err := s.users.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}, options.Count().SetLimit(1))
	if err != nil {
		return false, wrap("mark verification sent", err)
	}
	if n == 0 {
		return false, fmt.Errorf("mongodb: mark verification sent: %w", core.ErrNotFound)
	}
	return false, nil
}

// SetPasswordHash replaces a user's stored hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	defer s.lockUser(id)()
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "password_hash", Value: hash}}}})
	if err != nil {
		return wrap("set password hash", err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongodb: set password hash: %w", core.ErrNotFound)
	}
	return nil
}
