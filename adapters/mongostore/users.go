package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
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
	UniqueEmailKey string `bson:"unique_email_key,omitempty"`
	// UsernameEmailKey is absent, not "", when the username holds no "@",
	// for the same reason.
	UsernameEmailKey string    `bson:"username_email_key,omitempty"`
	FirstName        string    `bson:"first_name"`
	LastName         string    `bson:"last_name"`
	PasswordHash     string    `bson:"password_hash"`
	IsActive         bool      `bson:"is_active"`
	CreatedAt        time.Time `bson:"created_at"`
	// VerificationSentAt is absent until a verification e-mail went out, so
	// documents written before the field existed read as "never".
	VerificationSentAt time.Time `bson:"verification_sent_at,omitempty"`
	// LastLogin is absent until the user logged in.
	LastLogin time.Time `bson:"last_login,omitempty"`
	// Mail is absent while no e-mail is owed (mail.go).
	Mail *mailDoc `bson:"mail,omitempty"`
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
		ID:               d.ID,
		Username:         d.Username,
		UsernameKey:      d.UsernameKey,
		Email:            d.Email,
		EmailKey:         d.EmailKey,
		UniqueEmailKey:   d.UniqueEmailKey,
		UsernameEmailKey: d.UsernameEmailKey,
		FirstName:        d.FirstName,
		LastName:         d.LastName,
		PasswordHash:     d.PasswordHash,
		IsActive:         d.IsActive,
		CreatedAt:        d.CreatedAt,
		Mail:             d.Mail.pending(),
		LastLogin:        d.LastLogin,

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

// CreateUser reserves u's e-mail-shaped login names (namespace.go), then
// inserts u with its pending mail and events in one document write.
func (s *Store) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	entries, err := s.entries(events)
	if err != nil {
		return fmt.Errorf("mongodb: create user: %w", err)
	}
	doc := userDoc{
		ID:               u.ID,
		Username:         u.Username,
		UsernameKey:      u.UsernameKey,
		Email:            u.Email,
		EmailKey:         u.EmailKey,
		UniqueEmailKey:   u.UniqueEmailKey,
		UsernameEmailKey: u.UsernameEmailKey,
		FirstName:        u.FirstName,
		LastName:         u.LastName,
		PasswordHash:     u.PasswordHash,
		IsActive:         u.IsActive,
		CreatedAt:        u.CreatedAt,
		Mail:             newMailDoc(u.Mail),
		Outbox:           entries,
		LastLogin:        u.LastLogin,

		VerificationSentAt: u.VerificationSentAt,
	}
	// From here on every write lands within createBudget, which is what
	// lets other registrations tell an orphaned reservation from ours.
	ctx, cancel := context.WithTimeout(ctx, createBudget)
	defer cancel()
	var written []string
	for _, c := range emailNames(u.UsernameEmailKey, u.UniqueEmailKey) {
		w, err := s.reserve(ctx, "create user", c.key, u.ID, time.Time{})
		if w {
			written = append(written, c.key)
		}
		if err != nil {
			// Nothing of u is stored yet, so undoing is always safe; what
			// cannot be undone now is an orphan for a later takeover.
			_ = s.release(ctx, "create user", u.ID, written)
			if errors.Is(err, errNameTaken) {
				return s.takenCause(ctx, u, err, fmt.Errorf("mongodb: create user: %w", errors.Join(c.taken, err)))
			}
			return err
		}
	}
	if _, err := s.users.InsertOne(ctx, doc); err != nil {
		if !isDuplicate(err) {
			// The insert may have been applied nonetheless, so the
			// reservations stay; unused, they are orphans.
			return wrap("create user", err)
		}
		_ = s.release(ctx, "create user", u.ID, written)
		return s.duplicateCause(ctx, u, err)
	}
	return nil
}

// duplicateCause names the key a rejected insert collided with. It asks for
// the username first because the contract reports a taken username before a
// taken e-mail, whichever index the server happened to check first, and
// because FerretDB does not say which index it was.
func (s *Store) duplicateCause(ctx context.Context, u core.User, dupErr error) error {
	fallback := fmt.Errorf("mongodb: create user: user id already exists: %w", dupErr)
	// The colliding user may have been deleted since; trust the server's word.
	switch duplicateIndex(dupErr) {
	case indexUsernameKey, indexUsernameEmailKey:
		fallback = fmt.Errorf("mongodb: create user: %w", errors.Join(core.ErrUsernameTaken, dupErr))
	case indexUniqueEmailKey:
		fallback = fmt.Errorf("mongodb: create user: %w", errors.Join(core.ErrEmailTaken, dupErr))
	}
	return s.takenCause(ctx, u, dupErr, fallback)
}

// DeleteInactiveUser removes an inactive user, its pending events and mail
// (they live in its document), then frees its e-mail-shaped login names and
// removes any token issued to it and its queued mail.
func (s *Store) DeleteInactiveUser(ctx context.Context, id string) error {
	var doc struct {
		UniqueEmailKey   string `bson:"unique_email_key"`
		UsernameEmailKey string `bson:"username_email_key"`
	}
	// The whole document comes back: FerretDB v1 has no projection for
	// findAndModify.
	unlock := s.lockUser(id)
	err := s.users.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: id}, {Key: "is_active", Value: false}}).Decode(&doc)
	unlock()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongodb: delete user: no inactive user with that id: %w", core.ErrNotFound)
	}
	if err != nil {
		return wrap("delete user", err)
	}
	// Freed only now that the user is gone, so that no other user can take
	// a key while this one still has it; a failure leaves orphans that the
	// next registration of the key takes over.
	var keys []string
	for _, c := range emailNames(doc.UsernameEmailKey, doc.UniqueEmailKey) {
		keys = append(keys, c.key)
	}
	if err := s.release(ctx, "delete user", id, keys); err != nil {
		return err
	}
	if _, err := s.tokens.DeleteMany(ctx, bson.D{{Key: "user_id", Value: id}}); err != nil {
		return wrap("delete tokens of deleted user", err)
	}
	if _, err := s.queuedMail().DeleteMany(ctx, bson.D{{Key: "user_id", Value: id}}); err != nil {
		return wrap("delete queued mail of deleted user", err)
	}
	return nil
}

// ActivateUser sets is_active, releases the user's held events and appends
// events in one conditional update on {_id, is_active: false}: on MongoDB
// exactly one of many concurrent calls matches the filter.
func (s *Store) ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mongodb: activate user: %w", err)
	}
	entries, err := s.entries(events)
	if err != nil {
		return false, fmt.Errorf("mongodb: activate user: %w", err)
	}
	defer s.lockUser(id)()
	for range outboxAttempts {
		var doc struct {
			IsActive bool          `bson:"is_active"`
			Outbox   bson.RawValue `bson:"outbox"`
		}
		err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "is_active", Value: 1}, {Key: "outbox", Value: 1}})).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, fmt.Errorf("mongodb: activate user: %w", core.ErrNotFound)
		}
		if err != nil {
			return false, wrap("activate user", err)
		}
		if doc.IsActive {
			return false, nil
		}
		filter := bson.D{{Key: "_id", Value: id}, {Key: "is_active", Value: false}}
		set := bson.D{{Key: "is_active", Value: true}}
		update := bson.D{}
		released, held, err := releaseHeld(doc.Outbox)
		if err != nil {
			return false, fmt.Errorf("mongodb: activate user: %w", err)
		}
		if held {
			// The whole array is rewritten, on condition that nobody
			// changed it since it was read.
			filter = append(filter, bson.E{Key: "outbox", Value: doc.Outbox})
			for _, e := range entries {
				released = append(released, e)
			}
			set = append(set, bson.E{Key: "outbox", Value: released})
		} else if len(entries) > 0 {
			update = append(update, bson.E{Key: "$push", Value: bson.D{
				{Key: "outbox", Value: bson.D{{Key: "$each", Value: entries}}},
			}})
		}
		update = append(update, bson.E{Key: "$set", Value: set})
		res, err := s.users.UpdateOne(ctx, filter, update)
		if err != nil {
			return false, wrap("activate user", err)
		}
		if res.MatchedCount == 1 {
			return true, nil
		}
		// Activated, deleted or its outbox changed since the read: look again.
	}
	return false, fmt.Errorf("mongodb: activate user: the outbox of the user kept changing, gave up after %d attempts", outboxAttempts)
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
	case core.ByUsernameEmailKey:
		name = "username_email_key"
	default:
		return core.User{}, fmt.Errorf("mongodb: find user: unknown lookup field %q", field)
	}
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("mongodb: find user: %w", err)
	}
	if key == "" {
		// Users without an e-mail (or an "@" in the username) have an
		// empty key; it names nobody.
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

// QueueVerificationMail makes the user owe a verification e-mail due at at
// when it owes none and the previous one is older than notBefore. The
// conditions are part of the update's filter, so on MongoDB one of many
// concurrent calls matches.
func (s *Store) QueueVerificationMail(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "mail", Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "verification_sent_at", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "verification_sent_at", Value: bson.D{{Key: "$lt", Value: notBefore}}}},
		}},
	}
	mail := newMailDoc(core.PendingMail{Kind: core.MailVerification, DueAt: at})
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "mail", Value: mail}}}}
	unlock := s.lockUser(id)
	res, err := s.users.UpdateOne(ctx, filter, update)
	unlock()
	if err != nil {
		return false, wrap("queue verification mail", err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	if err := s.mustExist(ctx, id, "queue verification mail"); err != nil {
		return false, err
	}
	return false, nil
}

// mustExist returns core.ErrNotFound when no user has id, after a
// conditional update matched nothing.
func (s *Store) mustExist(ctx context.Context, id, op string) error {
	n, err := s.users.CountDocuments(ctx, bson.D{{Key: "_id", Value: id}}, options.Count().SetLimit(1))
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("mongodb: %s: %w", op, core.ErrNotFound)
	}
	return nil
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
