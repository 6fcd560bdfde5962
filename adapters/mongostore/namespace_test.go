package mongostore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

func TestARefusedRegistrationFreesItsEmailNames(t *testing.T) {
	database := freshDatabase("refused")
	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	mustCreate(t, s.CreateUser(ctx, porttest.NewUser("sam")))

	// Refused for its username after its address was reserved…
	refused := porttest.NewUser("sam")
	refused.Email, refused.EmailKey, refused.UniqueEmailKey = "fresh@example.com", "fresh@example.com", "fresh@example.com"
	if err := s.CreateUser(ctx, refused); !errors.Is(err, core.ErrUsernameTaken) {
		t.Fatalf("CreateUser with a taken username = %v, want core.ErrUsernameTaken", err)
	}
	// …so the address is free for the next registration, at once.
	next := porttest.NewUser("tess")
	next.Email, next.EmailKey, next.UniqueEmailKey = refused.Email, refused.EmailKey, refused.UniqueEmailKey
	mustCreate(t, s.CreateUser(ctx, next))
	n, err := rawClient(t, sharedURI).Database(database).Collection("email_names").
		CountDocuments(ctx, bson.D{{Key: "user_id", Value: refused.ID}})
	if err != nil || n != 0 {
		t.Errorf("reservations left by the refused registration = %d, %v; want none", n, err)
	}
}

func TestOrphanedEmailNamesAreTakenOverOnlyWhenStale(t *testing.T) {
	database := freshDatabase("orphans")
	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	names := rawClient(t, sharedURI).Database(database).Collection("email_names")
	reserve := func(key, owner string, age time.Duration) {
		t.Helper()
		if _, err := names.InsertOne(ctx, bson.D{
			{Key: "_id", Value: key}, {Key: "user_id", Value: owner}, {Key: "reserved_at", Value: time.Now().Add(-age)},
		}); err != nil {
			t.Fatalf("write reservation: %v", err)
		}
	}
	withEmail := func(name, key string) core.User {
		u := porttest.NewUser(name)
		u.Email, u.EmailKey, u.UniqueEmailKey = key, key, key
		return u
	}

	// A registration that died before storing its user, long ago: taken over.
	reserve("stale@example.com", "died-long-ago", time.Hour)
	heir := withEmail("heir", "stale@example.com")
	mustCreate(t, s.CreateUser(ctx, heir))
	if got, err := s.FindUser(ctx, core.ByEmailKey, "stale@example.com"); err != nil || got.ID != heir.ID {
		t.Fatalf("FindUser after the takeover = %q, %v; want %q", got.ID, err, heir.ID)
	}
	if err := s.CreateUser(ctx, withEmail("late", "stale@example.com")); !errors.Is(err, core.ErrEmailTaken) {
		t.Errorf("CreateUser after the takeover = %v, want core.ErrEmailTaken (the heir holds it now)", err)
	}

	// A registration in flight (its user not stored yet): left alone.
	reserve("busy@example.com", "in-flight", time.Second)
	if err := s.CreateUser(ctx, withEmail("rival", "busy@example.com")); !errors.Is(err, core.ErrEmailTaken) {
		t.Errorf("CreateUser on a fresh reservation = %v, want core.ErrEmailTaken", err)
	}

	// An old reservation of a user who exists and holds the key: kept.
	owner := withEmail("owner", "kept@example.com")
	mustCreate(t, s.CreateUser(ctx, owner))
	if _, err := names.UpdateOne(ctx, bson.D{{Key: "_id", Value: "kept@example.com"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "reserved_at", Value: time.Now().Add(-time.Hour)}}}}); err != nil {
		t.Fatalf("age reservation: %v", err)
	}
	if err := s.CreateUser(ctx, withEmail("thief", "kept@example.com")); !errors.Is(err, core.ErrEmailTaken) {
		t.Errorf("CreateUser on an old reservation of a live user = %v, want core.ErrEmailTaken", err)
	}
}

// The concurrency cases of the contract do not run on FerretDB; these two
// do, because what they rely on holds there too: the server's _id
// uniqueness arbitrates reservations, and the store's per-user lock
// serialises this process's claims.

func TestOneAddressReachesOneAccountUnderConcurrency(t *testing.T) {
	s := openT(t, sharedURI, freshDatabase("race_names"), true)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			u := porttest.NewUser(fmt.Sprintf("racer%d", i))
			if i%2 == 0 {
				u.Email, u.EmailKey, u.UniqueEmailKey = "shared@example.com", "shared@example.com", "shared@example.com"
			} else {
				u.Username, u.UsernameKey, u.UsernameEmailKey = "shared@example.com", fmt.Sprintf("shared@example.com#%d", i), "shared@example.com"
			}
			errs[i] = s.CreateUser(t.Context(), u)
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, core.ErrUsernameTaken) && !errors.Is(err, core.ErrEmailTaken):
			t.Errorf("create %d: %v", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d registrations of one address won, want exactly 1", wins, n)
	}
}

func TestConcurrentClaimsTakeEachMailOnce(t *testing.T) {
	s := openT(t, sharedURI, freshDatabase("race_claims"), true)
	due := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	const users = 12
	for i := range users {
		u := porttest.NewUser(fmt.Sprintf("claimed%d", i))
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: due}
		mustCreate(t, s.CreateUser(t.Context(), u))
	}
	const n = 8
	got := make([][]core.User, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.ClaimMail(t.Context(), due, time.Minute, 3) })
	}
	wg.Wait()
	claims := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("ClaimMail %d: %v", i, errs[i])
		}
		for _, u := range got[i] {
			claims[u.ID]++
		}
	}
	// A claimer that loses a mail to another moves on to the next one, so
	// every mail is handed out although all claimers start at the same one.
	if len(claims) != users {
		t.Errorf("%d distinct mails claimed, want all %d", len(claims), users)
	}
	for id, c := range claims {
		if c != 1 {
			t.Errorf("mail of %s claimed %d times within its lease, want once", id, c)
		}
	}
}

func mustCreate(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
}
