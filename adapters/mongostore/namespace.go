package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

const (
	// createBudget bounds every write of one CreateUser, counted from before
	// its first reservation: the driver stops sending, and the server stops
	// applying, an operation whose deadline passed.
	createBudget = 30 * time.Second
	// orphanAfter is how old a reservation whose owner does not hold the key
	// must be before another registration takes it over. Twice createBudget
	// leaves room for the clocks of two API nodes to differ by a minute.
	orphanAfter = 2 * time.Minute
	// releaseTimeout bounds the undoing of reservations, which runs even when
	// the request's context has ended.
	releaseTimeout = 5 * time.Second
	// reserveAttempts bounds the retries of one reservation whose holder
	// changed between two reads.
	reserveAttempts = 3
)

// errNameTaken reports that another user holds an e-mail-shaped login name.
var errNameTaken = errors.New("the e-mail name belongs to another user")

// emailNameDoc reserves one e-mail-shaped login name (a unique e-mail key or
// a username e-mail key) for one user.
type emailNameDoc struct {
	Key        string    `bson:"_id"`
	UserID     string    `bson:"user_id"`
	ReservedAt time.Time `bson:"reserved_at"`
}

// nameClaim is one key a new user needs in the namespace, with the error a
// collision on it means.
type nameClaim struct {
	key   string
	taken error
}

// emailNames lists the keys u needs, the username's first (the contract
// reports a taken username before a taken e-mail), each once: one user may
// use its own address as its username.
func emailNames(usernameEmailKey, uniqueEmailKey string) []nameClaim {
	var out []nameClaim
	if usernameEmailKey != "" {
		out = append(out, nameClaim{usernameEmailKey, core.ErrUsernameTaken})
	}
	if uniqueEmailKey != "" && uniqueEmailKey != usernameEmailKey {
		out = append(out, nameClaim{uniqueEmailKey, core.ErrEmailTaken})
	}
	return out
}

// reserve makes key userID's, stamped with since (zero: now); op names the
// caller in errors. written reports whether this call may have written a
// reservation, which the caller undoes if the user is not stored after all;
// a reservation userID already had is not the caller's to undo. It returns
// errNameTaken when another user holds the key.
func (s *Store) reserve(ctx context.Context, op, key, userID string, since time.Time) (written bool, err error) {
	for range reserveAttempts {
		now := time.Now()
		stamp := since
		if stamp.IsZero() {
			stamp = now
		}
		_, err := s.names.InsertOne(ctx, emailNameDoc{Key: key, UserID: userID, ReservedAt: stamp})
		if err == nil {
			return true, nil
		}
		if !isDuplicate(err) {
			return true, wrap(op+": reserve e-mail name", err)
		}
		var held emailNameDoc
		err = s.names.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&held)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released in between: try again
		}
		if err != nil {
			return false, wrap(op+": read e-mail name", err)
		}
		if held.UserID == userID {
			return false, nil
		}
		orphan, err := s.orphaned(ctx, op, held, now)
		if err != nil {
			return false, err
		}
		if !orphan {
			return false, errNameTaken
		}
		won, err := s.takeOver(ctx, op, held, userID, stamp)
		if err != nil || won {
			return won, err
		}
	}
	return false, errNameTaken
}

// orphaned reports whether a reservation may be taken over: it is older than
// orphanAfter and its owner does not exist (a registration that died half
// way, a deletion that could not free its names) or does not hold the key.
func (s *Store) orphaned(ctx context.Context, op string, held emailNameDoc, now time.Time) (bool, error) {
	if now.Sub(held.ReservedAt) < orphanAfter {
		return false, nil
	}
	n, err := s.users.CountDocuments(ctx, bson.D{
		{Key: "_id", Value: held.UserID},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "unique_email_key", Value: held.Key}},
			bson.D{{Key: "username_email_key", Value: held.Key}},
		}},
	}, options.Count().SetLimit(1))
	if err != nil {
		return false, wrap(op+": check owner of e-mail name", err)
	}
	return n == 0, nil
}

// takeOver moves an orphaned reservation to userID, stamped with stamp,
// unless it changed since it was read, and reports whether it did.
func (s *Store) takeOver(ctx context.Context, op string, held emailNameDoc, userID string, stamp time.Time) (bool, error) {
	// The reservation is a document of its own; the user lock keeps this
	// process's takeovers of one key from overlapping on FerretDB.
	defer s.lockUser(emailNamesCollection + "/" + held.Key)()
	res, err := s.names.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: held.Key}, {Key: "user_id", Value: held.UserID}, {Key: "reserved_at", Value: held.ReservedAt}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "user_id", Value: userID}, {Key: "reserved_at", Value: stamp}}}})
	if err != nil {
		return true, wrap(op+": take over e-mail name", err)
	}
	return res.MatchedCount == 1, nil
}

// release deletes userID's reservations of keys, for op. It runs after the request
// may have ended (a failed registration undoing its reservations), so it
// has a deadline of its own.
func (s *Store) release(ctx context.Context, op, userID string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	_, err := s.names.DeleteMany(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}},
		{Key: "user_id", Value: userID},
	})
	if err != nil {
		return wrap(op+": free e-mail names", err)
	}
	return nil
}

// heldByOther reports whether a user other than userID holds key, through a
// reservation or (in data written before reservations existed) a field.
func (s *Store) heldByOther(ctx context.Context, key, userID string) bool {
	n, err := s.names.CountDocuments(ctx, bson.D{
		{Key: "_id", Value: key},
		{Key: "user_id", Value: bson.D{{Key: "$ne", Value: userID}}},
	}, options.Count().SetLimit(1))
	if err == nil && n > 0 {
		return true
	}
	n, err = s.users.CountDocuments(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: userID}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "unique_email_key", Value: key}},
			bson.D{{Key: "username_email_key", Value: key}},
		}},
	}, options.Count().SetLimit(1))
	return err == nil && n > 0
}

// takenCause names which of u's keys another user holds after a
// registration was refused, checking the username first as the contract
// asks whichever key the server tripped over first. fallback is returned
// when no holder is found any more (it was deleted since).
func (s *Store) takenCause(ctx context.Context, u core.User, cause, fallback error) error {
	taken := func(sentinel error) error {
		return fmt.Errorf("mongodb: create user: %w", errors.Join(sentinel, cause))
	}
	n, err := s.users.CountDocuments(ctx, bson.D{{Key: "username_key", Value: u.UsernameKey}}, options.Count().SetLimit(1))
	if err == nil && n > 0 {
		return taken(core.ErrUsernameTaken)
	}
	for _, c := range emailNames(u.UsernameEmailKey, u.UniqueEmailKey) {
		if s.heldByOther(ctx, c.key, u.ID) {
			return taken(c.taken)
		}
	}
	return fallback
}
