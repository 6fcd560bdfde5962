package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

const (
	// maxConflictsShown bounds the user ids an upgrade error lists.
	maxConflictsShown = 10
	// upgradeBatch is how many users the upgrade reads at once; its
	// progress is recorded after each batch.
	upgradeBatch = 500
	// upgradeDocID names the meta document that records how far the
	// upgrade got.
	upgradeDocID = "upgrade"
)

// upgradeDoc records the last user id the upgrade finished, so that a
// start-up that ran out of time resumes there instead of starting over.
type upgradeDoc struct {
	ID    string `bson:"_id"`
	After string `bson:"after"`
}

// upgrade brings a database a schema version 1 build wrote to this build's:
// every user gets its username e-mail key and the reservations of its
// e-mail-shaped login names, in _id order. Each step is idempotent and the
// progress is recorded, so an upgrade that was interrupted (a start-up
// that ran out of time), or that two instances run at once, resumes on the
// next start. A user whose key another user already holds (one's username
// is the other's address, possible before one namespace was enforced)
// stops the upgrade: which of the two keeps it is the operator's decision.
func (s *Store) upgrade(ctx context.Context) error {
	var progress upgradeDoc
	err := s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: upgradeDocID}}).Decode(&progress)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return wrap("upgrade: read progress", err)
	}
	after := progress.After
	var conflicts []string
	for {
		users, err := s.upgradeCandidates(ctx, after)
		if err != nil {
			return err
		}
		if len(users) == 0 {
			break
		}
		for _, d := range users {
			ok, err := s.upgradeUser(ctx, d.ID, d.Username, d.UniqueEmailKey, d.UsernameEmailKey, d.CreatedAt)
			if err != nil {
				return err
			}
			if !ok {
				conflicts = append(conflicts, d.ID)
			}
		}
		after = users[len(users)-1].ID
		if len(conflicts) > 0 {
			continue // the next start checks the conflicting users again
		}
		_, err = s.meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: upgradeDocID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "after", Value: after}}}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return wrap("upgrade: record progress", err)
		}
	}
	if len(conflicts) > 0 {
		shown := conflicts[:min(len(conflicts), maxConflictsShown)]
		return fmt.Errorf("mongodb: upgrade database %q to schema version %d: the username or e-mail of %d users is another user's username or e-mail (%s); usernames and e-mail addresses now share one namespace, so change or delete one of each pair and start again",
			s.db.Name(), SchemaVersion, len(conflicts), strings.Join(shown, ", "))
	}
	_, err = s.meta.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: schemaDocID}, {Key: "version", Value: bson.D{{Key: "$lt", Value: SchemaVersion}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: SchemaVersion}}}})
	if err != nil {
		return wrap("upgrade: record schema version", err)
	}
	return nil
}

// upgradeUserDoc is what the upgrade reads of a user.
type upgradeUserDoc struct {
	ID               string    `bson:"_id"`
	Username         string    `bson:"username"`
	UniqueEmailKey   string    `bson:"unique_email_key"`
	UsernameEmailKey string    `bson:"username_email_key"`
	CreatedAt        time.Time `bson:"created_at"`
}

// upgradeCandidates returns the next upgradeBatch users after the id after.
func (s *Store) upgradeCandidates(ctx context.Context, after string) ([]upgradeUserDoc, error) {
	cur, err := s.users.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().
			SetSort(bson.D{{Key: "_id", Value: 1}}).
			SetLimit(upgradeBatch).
			SetProjection(bson.D{
				{Key: "username", Value: 1}, {Key: "unique_email_key", Value: 1},
				{Key: "username_email_key", Value: 1}, {Key: "created_at", Value: 1},
			}))
	if err != nil {
		return nil, wrap("upgrade: read users", err)
	}
	var users []upgradeUserDoc
	if err := cur.All(ctx, &users); err != nil {
		return nil, wrap("upgrade: read users", err)
	}
	return users, nil
}

// upgradeUser stores one user's username e-mail key and reserves its keys;
// it reports false when another user holds one of them. The reservations
// date from the user's creation, not from the upgrade, so that those of a
// user the operator deletes to resolve a conflict are taken over by the
// next start at once, like any other orphan of a user long gone.
func (s *Store) upgradeUser(ctx context.Context, id, username, uniqueEmailKey, usernameEmailKey string, created time.Time) (bool, error) {
	if created.IsZero() || created.After(time.Now()) {
		created = time.Now() // never later than now: that would never age
	}
	if usernameEmailKey == "" {
		usernameEmailKey = core.UsernameEmailKey(username)
		if usernameEmailKey != "" {
			_, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "username_email_key", Value: usernameEmailKey}}}})
			if isDuplicate(err) {
				return false, nil
			}
			if err != nil {
				return false, wrap("upgrade: set username e-mail key", err)
			}
		}
	}
	for _, c := range emailNames(usernameEmailKey, uniqueEmailKey) {
		_, err := s.reserve(ctx, "upgrade", c.key, id, created)
		if errors.Is(err, errNameTaken) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return true, nil
}
