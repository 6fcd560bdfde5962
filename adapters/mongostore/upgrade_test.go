package mongostore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/restreg/restreg/adapters/mongostore"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// writeVersion1 stores users as a schema version 1 build wrote them: no
// username_email_key field and no email_names reservations.
func writeVersion1(t *testing.T, db *mongo.Database, users ...core.User) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.Collection("meta").InsertOne(ctx, bson.D{{Key: "_id", Value: "schema"}, {Key: "version", Value: 1}}); err != nil {
		t.Fatalf("write meta: %v", err)
	}
	for _, u := range users {
		doc := bson.D{
			{Key: "_id", Value: u.ID}, {Key: "username", Value: u.Username}, {Key: "username_key", Value: u.UsernameKey},
			{Key: "email", Value: u.Email}, {Key: "email_key", Value: u.EmailKey},
			{Key: "first_name", Value: u.FirstName}, {Key: "last_name", Value: u.LastName},
			{Key: "password_hash", Value: u.PasswordHash}, {Key: "is_active", Value: u.IsActive},
			{Key: "created_at", Value: u.CreatedAt}, {Key: "outbox", Value: bson.A{}},
		}
		if u.UniqueEmailKey != "" {
			doc = append(doc, bson.E{Key: "unique_email_key", Value: u.UniqueEmailKey})
		}
		if _, err := db.Collection("users").InsertOne(ctx, doc); err != nil {
			t.Fatalf("write version 1 user: %v", err)
		}
	}
}

func TestOpenUpgradesASchemaVersion1Database(t *testing.T) {
	database := freshDatabase("upgrade")
	db := rawClient(t, sharedURI).Database(database)
	boss := porttest.NewUser("boss")
	boss.Username, boss.UsernameKey = "Boss@Example.com", "boss@example.com"
	plain := porttest.NewUser("plain")
	writeVersion1(t, db, boss, plain)

	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	got, err := s.FindUser(ctx, core.ByUsernameEmailKey, "boss@example.com")
	if err != nil || got.ID != boss.ID {
		t.Fatalf("FindUser by the username e-mail key of an upgraded user = %q, %v; want %q", got.ID, err, boss.ID)
	}
	// The old users' names are in the one namespace now.
	email := porttest.NewUser("newcomer")
	email.Email, email.EmailKey, email.UniqueEmailKey = "boss@example.com", "boss@example.com", "boss@example.com"
	if err := s.CreateUser(ctx, email); !errors.Is(err, core.ErrEmailTaken) {
		t.Errorf("an e-mail equal to an upgraded user's username = %v, want core.ErrEmailTaken", err)
	}
	name := porttest.NewUser("impostor")
	name.Username, name.UsernameKey, name.UsernameEmailKey = plain.Email, plain.EmailKey, plain.EmailKey
	if err := s.CreateUser(ctx, name); !errors.Is(err, core.ErrUsernameTaken) {
		t.Errorf("a username equal to an upgraded user's e-mail = %v, want core.ErrUsernameTaken", err)
	}
	var meta struct {
		Version int `bson:"version"`
	}
	if err := db.Collection("meta").FindOne(ctx, bson.D{{Key: "_id", Value: "schema"}}).Decode(&meta); err != nil || meta.Version != mongostore.SchemaVersion {
		t.Errorf("schema version after the upgrade = %d, %v; want %d", meta.Version, err, mongostore.SchemaVersion)
	}
}

func TestAnUpgradeThatFindsTwoAccountsForOneAddressStopsUntilResolved(t *testing.T) {
	database := freshDatabase("upgrade_conflict")
	db := rawClient(t, sharedURI).Database(database)
	t.Cleanup(func() { dropDatabase(t, sharedURI, database) })
	byName := porttest.NewUser("byname")
	byName.Username, byName.UsernameKey = "twice@example.com", "twice@example.com"
	byEmail := porttest.NewUser("byemail")
	byEmail.Email, byEmail.EmailKey, byEmail.UniqueEmailKey = "twice@example.com", "twice@example.com", "twice@example.com"
	byName.CreatedAt = time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	byEmail.CreatedAt = byName.CreatedAt.Add(time.Hour)
	writeVersion1(t, db, byName, byEmail)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := mongostore.Open(ctx, sharedURI, database)
	if err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("Open on two accounts sharing an address = %v, want an error about the namespace", err)
	}
	if errors.Is(err, core.ErrUnavailable) {
		t.Errorf("a data conflict is reported as a passing outage: %v", err)
	}
	if strings.Contains(err.Error(), "twice@example.com") {
		t.Errorf("the error shows the address; it names accounts by id only: %v", err)
	}
	// The operator removes the account that got the address first; its
	// reservation dates from its creation, so the other takes it over.
	kept, removed := byName, byEmail
	if strings.Contains(err.Error(), byEmail.ID) {
		kept, removed = byEmail, byName
	}
	if !strings.Contains(err.Error(), kept.ID) {
		t.Fatalf("the error names neither account: %v", err)
	}
	if _, err := db.Collection("users").DeleteOne(ctx, bson.D{{Key: "_id", Value: removed.ID}}); err != nil {
		t.Fatalf("delete %s: %v", removed.ID, err)
	}
	s := openT(t, sharedURI, database, false)
	by := core.ByUsernameEmailKey
	if kept.ID == byEmail.ID {
		by = core.ByEmailKey
	}
	if got, err := s.FindUser(ctx, by, "twice@example.com"); err != nil || got.ID != kept.ID {
		t.Fatalf("after the upgrade, FindUser(%s) = %q, %v; want %q", by, got.ID, err, kept.ID)
	}
	other := porttest.NewUser("other")
	other.Email, other.EmailKey, other.UniqueEmailKey = "twice@example.com", "twice@example.com", "twice@example.com"
	if err := s.CreateUser(ctx, other); err == nil {
		t.Error("after the upgrade, a third account got the address")
	}
}

func TestAnInterruptedUpgradeResumesAfterTheLastUserItFinished(t *testing.T) {
	database := freshDatabase("upgrade_resume")
	db := rawClient(t, sharedURI).Database(database)
	done := porttest.NewUser("done")
	done.ID, done.Username, done.UsernameKey = "u1", "done@example.com", "done@example.com"
	todo := porttest.NewUser("todo")
	todo.ID, todo.Username, todo.UsernameKey = "u2", "todo@example.com", "todo@example.com"
	writeVersion1(t, db, done, todo)
	// As a start-up that ran out of time after u1 leaves it.
	if _, err := db.Collection("meta").InsertOne(t.Context(), bson.D{{Key: "_id", Value: "upgrade"}, {Key: "after", Value: "u1"}}); err != nil {
		t.Fatalf("write progress: %v", err)
	}
	s := openT(t, sharedURI, database, true)
	if got, err := s.FindUser(t.Context(), core.ByUsernameEmailKey, "todo@example.com"); err != nil || got.ID != todo.ID {
		t.Errorf("the user after the recorded progress: FindUser = %q, %v; want %q", got.ID, err, todo.ID)
	}
	// u1 is not done again: a large database converges over several
	// start-ups instead of starting over each time.
	if _, err := s.FindUser(t.Context(), core.ByUsernameEmailKey, "done@example.com"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("the user before the recorded progress was upgraded again: FindUser = %v, want core.ErrNotFound", err)
	}
}
