package mongostore_test

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// A change writes the mails it owes into its user's document; a process
// that dies before moving them into the queue (or half way through) must
// not lose them: the next claim moves them, each once.
func TestMailsAChangeLeftInItsUserAreClaimedOnce(t *testing.T) {
	database := freshDatabase("mailoutbox")
	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	u := porttest.NewUser("crashed")
	mustCreate(t, s.CreateUser(ctx, u))
	due := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	mail := func(id string) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "kind", Value: string(core.MailEmailChanged)}, {Key: "user_id", Value: u.ID},
			{Key: "login", Value: ""}, {Key: "address", Value: "old@example.com"}, {Key: "created_at", Value: due},
			{Key: "due_at", Value: due}, {Key: "attempts", Value: 0}}
	}
	db := rawClient(t, sharedURI).Database(database)
	// Both mails are still in the user's document; "moved" also reached
	// the queue before the process died.
	if _, err := db.Collection("users").UpdateOne(ctx, bson.D{{Key: "_id", Value: u.ID}},
		bson.D{{Key: "$push", Value: bson.D{{Key: "mail_outbox", Value: bson.D{{Key: "$each", Value: bson.A{mail("left"), mail("moved")}}}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("queued_mail").InsertOne(ctx, mail("moved")); err != nil {
		t.Fatal(err)
	}

	got, err := s.ClaimQueuedMail(ctx, due, time.Minute, 10)
	if err != nil {
		t.Fatalf("ClaimQueuedMail: %v", err)
	}
	if len(got) != 2 || got[0].ID != "left" || got[1].ID != "moved" {
		t.Fatalf("ClaimQueuedMail = %+v, want the mails left and moved, once each", got)
	}
	if got[0].UserID != u.ID || got[0].Address != "old@example.com" || got[0].Kind != core.MailEmailChanged {
		t.Errorf("moved mail = %+v, want its fields intact", got[0])
	}
	if again, err := s.ClaimQueuedMail(ctx, due.Add(30*time.Second), time.Minute, 10); err != nil || len(again) != 0 {
		t.Errorf("ClaimQueuedMail within the lease = %+v, %v; want none", again, err)
	}
	n, err := db.Collection("users").CountDocuments(ctx, bson.D{{Key: "_id", Value: u.ID}, {Key: "mail_outbox", Value: bson.D{{Key: "$exists", Value: true}}}})
	if err != nil || n != 0 {
		t.Errorf("users still holding moved mails = %d, %v; want none", n, err)
	}
}

// A key change reserves the new e-mail-shaped name before writing the user
// and frees the old one after; a refused change frees what it reserved.
func TestKeyChangesKeepTheReservationsInStep(t *testing.T) {
	database := freshDatabase("rekey")
	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	holder := porttest.NewUser("holder")
	holder.Username, holder.UsernameKey = "Taken@Example.org", "taken@example.org"
	u := porttest.NewUser("mover")
	mustCreate(t, s.CreateUser(ctx, holder))
	mustCreate(t, s.CreateUser(ctx, u))
	names := rawClient(t, sharedURI).Database(database).Collection("email_names")
	owner := func(key string) string {
		t.Helper()
		var doc struct {
			UserID string `bson:"user_id"`
		}
		if err := names.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&doc); err != nil {
			return ""
		}
		return doc.UserID
	}

	// Refused for its username key after its e-mail name was reserved.
	_, err := s.UpdateProfile(ctx, u.ID, core.Profile{Username: "Taken@Example.org", UsernameKey: "taken@example.org",
		UsernameEmailKey: "taken@example.org"})
	if !errors.Is(err, core.ErrUsernameTaken) {
		t.Fatalf("UpdateProfile to a taken username = %v, want core.ErrUsernameTaken", err)
	}
	if got := owner("taken@example.org"); got != "" {
		t.Errorf("a refused change left its reservation (owned by %q)", got)
	}

	if _, err := s.ChangeEmail(ctx, core.EmailChange{UserID: u.ID, Email: "new@example.org", EmailKey: "new@example.org",
		UniqueEmailKey: "new@example.org"}, nil); err != nil {
		t.Fatalf("ChangeEmail: %v", err)
	}
	if got := owner("new@example.org"); got != u.ID {
		t.Errorf("new address reserved for %q, want %q", got, u.ID)
	}
	if got := owner(u.UniqueEmailKey); got != "" {
		t.Errorf("old address still reserved for %q after the change", got)
	}
}
