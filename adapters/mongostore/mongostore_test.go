package mongostore_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/mongostore"
	"github.com/restreg/restreg/adapters/mongostore/ferrettest"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// contract runs the store contract against the server at uri, leaving out
// what the server is known not to guarantee.
func contract(t *testing.T, uri string) {
	limit := concurrencyLimit(t, uri)
	if limit != "" {
		t.Logf("without the concurrency cases: %s", limit)
	}
	porttest.Store(t, func(t *testing.T) ports.Store {
		return openT(t, uri, freshDatabase("contract"), true)
	}, porttest.StoreFeatures{AtomicConditionalUpdates: limit == ""})
}

// TestContract runs the store contract against the embedded FerretDB and,
// when MONGODB_TEST_URI names one (e.g. mongodb://127.0.0.1:27017), against a
// real MongoDB server, concurrency cases included.
func TestContract(t *testing.T) {
	t.Run("embedded FerretDB", func(t *testing.T) { contract(t, sharedURI) })
	if uri := os.Getenv("MONGODB_TEST_URI"); uri != "" {
		t.Run("MongoDB at MONGODB_TEST_URI", func(t *testing.T) { contract(t, uri) })
	} else {
		t.Log("MONGODB_TEST_URI is not set: the contract ran against the embedded FerretDB only")
	}
}

func TestDataSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	const database = "restart"
	first := ferrettest.StartT(t, dir, "127.0.0.1:0")
	s := openT(t, first.URI, database, false)
	ctx := t.Context()

	active := porttest.NewUser("anna")
	active.IsActive = true
	inactive := porttest.NewUser("boris")
	registered := porttest.NewEvent(core.EventUserRegistered, inactive, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	registered.AvailableAt = registered.OccurredAt.Add(24 * time.Hour)
	inactive.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: registered.OccurredAt}
	if err := s.CreateUser(ctx, active); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := s.CreateUser(ctx, inactive, registered); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	digest := strings.Repeat("9f", 32)
	if err := s.SaveToken(ctx, digest, active.ID, registered.OccurredAt); err != nil {
		t.Fatalf("SaveToken: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	first.Stop()

	second := ferrettest.StartT(t, dir, "127.0.0.1:0")
	s = openT(t, second.URI, database, false)
	for _, want := range []core.User{active, inactive} {
		got, err := s.FindUser(ctx, core.ByUsernameKey, want.UsernameKey)
		if err != nil {
			t.Fatalf("after restart, FindUser(%q): %v", want.UsernameKey, err)
		}
		if got.ID != want.ID || got.PasswordHash != want.PasswordHash || got.IsActive != want.IsActive || got.EmailKey != want.EmailKey {
			t.Errorf("after restart, user = %+v, want %+v", got, want)
		}
	}
	if id, err := s.UserIDForToken(ctx, digest); err != nil || id != active.ID {
		t.Errorf("after restart, UserIDForToken = %q, %v; want %q", id, err, active.ID)
	}
	// The held event is still held, and the owed e-mail still owed.
	if evs, err := s.PendingEvents(ctx, registered.OccurredAt.Add(time.Hour), 10); err != nil || len(evs) != 0 {
		t.Errorf("after restart, held event pending early: %v, %v", evs, err)
	}
	if n, oldest, err := s.Backlog(ctx); err != nil || n != 1 || !oldest.Equal(registered.OccurredAt) {
		t.Errorf("after restart, Backlog = %d, %v, %v; want 1, %v", n, oldest, err, registered.OccurredAt)
	}
	claimed, err := s.ClaimMail(ctx, registered.OccurredAt.Add(time.Hour), time.Minute, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != inactive.ID {
		t.Fatalf("after restart, ClaimMail = %+v, %v; want the mail of %q", claimed, err, inactive.ID)
	}
	if err := s.CompleteMail(ctx, inactive.ID, core.MailVerification, claimed[0].Mail.DueAt, registered.OccurredAt.Add(time.Hour)); err != nil {
		t.Fatalf("CompleteMail: %v", err)
	}
	evs, err := s.PendingEvents(ctx, registered.OccurredAt.Add(time.Hour), 10)
	if err != nil || len(evs) != 1 || evs[0].ID != registered.ID || evs[0].User != registered.User {
		t.Errorf("after restart and the mail sent, PendingEvents = %+v, %v; want %q", evs, err, registered.ID)
	}
	// The unique indexes came back with the data.
	if err := s.CreateUser(ctx, porttest.NewUser("anna")); !errors.Is(err, core.ErrUsernameTaken) {
		t.Errorf("after restart, duplicate username = %v, want core.ErrUsernameTaken", err)
	}
}

// within runs call and fails the test if it has not returned after limit:
// an unreachable server must produce an error, never a hang.
func within(t *testing.T, limit time.Duration, name string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("%s did not return within %s while the server was down", name, limit)
		return nil
	}
}

func TestOutageIsUnavailableAndTheSameStoreRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running: waits out the driver's reconnection after stopping the embedded FerretDB; runs without -short (make test)")
	}
	dir := t.TempDir()
	srv := ferrettest.StartT(t, dir, "127.0.0.1:0")
	s := openT(t, srv.URI, "outage", false)
	ctx := t.Context() // no deadline: the store's own timeouts must end the calls
	before := porttest.NewUser("before")
	if err := s.CreateUser(ctx, before); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	srv.Stop()
	const limit = 30 * time.Second
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"FindUser", func() error { _, err := s.FindUser(ctx, core.ByID, before.ID); return err }},
		{"CreateUser", func() error { return s.CreateUser(ctx, porttest.NewUser("during")) }},
		{"PendingEvents", func() error { _, err := s.PendingEvents(ctx, time.Now(), 10); return err }},
		{"ChangePassword", func() error {
			_, err := s.ChangePassword(ctx, core.PasswordChange{UserID: before.ID, OldHash: before.PasswordHash, NewHash: "new"})
			return err
		}},
		{"UpdateProfile", func() error {
			_, err := s.UpdateProfile(ctx, before.ID, core.Profile{Username: "Re@Example.org", UsernameKey: "re@example.org",
				UsernameEmailKey: "re@example.org"})
			return err
		}},
		{"ClaimQueuedMail", func() error { _, err := s.ClaimQueuedMail(ctx, time.Now(), time.Minute, 10); return err }},
	}
	for _, c := range calls {
		err := within(t, limit, c.name, c.call)
		if !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("%s while the server is down = %v, want an error wrapping core.ErrUnavailable", c.name, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := within(t, limit, "Ping with a deadline", func() error { return s.Ping(short) })
	cancel()
	if !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping past its deadline = %v, want core.ErrUnavailable and context.DeadlineExceeded", err)
	}

	ferrettest.StartT(t, dir, srv.Addr)
	deadline := time.Now().Add(time.Minute)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not reconnect after the server came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, err := s.FindUser(ctx, core.ByID, before.ID)
	if err != nil || got.UsernameKey != before.UsernameKey || got.PasswordHash != before.PasswordHash {
		t.Fatalf("after recovery, FindUser = %+v, %v; want the user as before the outage", got, err)
	}
	after := porttest.NewUser("after")
	if err := s.CreateUser(ctx, after); err != nil {
		t.Fatalf("after recovery, CreateUser: %v", err)
	}
}

func TestModuleProvidesOneStoreForEveryPortAndDisconnectsOnStop(t *testing.T) {
	settings := mongostore.Config{URI: sharedURI, Database: freshDatabase("module")}
	t.Cleanup(func() { dropDatabase(t, sharedURI, settings.Database) })

	var (
		store  ports.Store
		users  ports.UserStore
		outbox ports.Outbox
		tokens ports.TokenStore
	)
	app := fx.New(fx.NopLogger, fx.Supply(settings), mongostore.Module, fx.Populate(&store, &users, &outbox, &tokens))
	if err := app.Err(); err != nil {
		t.Fatalf("building the app: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	u := porttest.NewUser("module")
	ev := porttest.NewEvent(core.EventUserRegistered, u, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := users.CreateUser(ctx, u, ev); err != nil {
		t.Fatalf("CreateUser through ports.UserStore: %v", err)
	}
	if got, err := store.FindUser(ctx, core.ByID, u.ID); err != nil || got.ID != u.ID {
		t.Fatalf("FindUser through ports.Store = %+v, %v", got, err)
	}
	if n, _, err := outbox.Backlog(ctx); err != nil || n != 1 {
		t.Fatalf("Backlog through ports.Outbox = %d, %v; want 1", n, err)
	}
	if err := tokens.SaveToken(ctx, strings.Repeat("ab", 32), u.ID, time.Now()); err != nil {
		t.Fatalf("SaveToken through ports.TokenStore: %v", err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := store.Ping(ctx); err == nil {
		t.Fatal("Ping after Stop succeeded; the client was not disconnected")
	}
}

func TestModuleStartFailsPromptlyWhenTheServerIsDown(t *testing.T) {
	// A port that was just free and is closed again: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	settings := mongostore.DefaultConfig()
	settings.URI = "mongodb://" + addr + "/"
	var store ports.Store
	app := fx.New(fx.NopLogger, fx.Supply(settings), mongostore.Module, fx.Populate(&store))
	if err := app.Err(); err != nil {
		t.Fatalf("building the app: %v", err)
	}
	// fx's own start timeout is 15s; the store must give up before that.
	err = within(t, time.Minute, "app.Start", func() error { return app.Start(t.Context()) })
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Start with the server down = %v, want an error wrapping core.ErrUnavailable", err)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	database := freshDatabase("schema")
	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	meta := rawClient(t, sharedURI).Database(database).Collection("meta")
	if _, err := meta.UpdateOne(ctx, bson.D{{Key: "_id", Value: "schema"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: mongostore.SchemaVersion + 1}}}}); err != nil {
		t.Fatalf("raise schema version: %v", err)
	}
	_, err := mongostore.Open(ctx, sharedURI, database)
	if err == nil || !strings.Contains(err.Error(), "schema version") {
		t.Fatalf("Open on a newer schema = %v, want a schema version error", err)
	}
	if errors.Is(err, core.ErrUnavailable) {
		t.Errorf("a newer schema is reported as a passing outage: %v", err)
	}
	// The store opened before keeps working: the check is at start-up only.
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	const password = "s3cr3t-pa55"
	for _, uri := range []string{
		"mongodb://ann:" + password + "@127.0.0.1:notaport/",
		"mongodb://ann:" + password + "@127.0.0.1:27017/?authMechanism=NOPE",
	} {
		_, err := mongostore.Open(t.Context(), uri, "restreg")
		if err == nil {
			t.Fatalf("Open(%q) succeeded", strings.ReplaceAll(uri, password, "…"))
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
	if _, err := mongostore.Open(t.Context(), "", "restreg"); err == nil {
		t.Error("Open with an empty URI succeeded")
	}
}

func TestUsersWithoutUniqueEmailLeaveTheFieldOut(t *testing.T) {
	// The unique e-mail indexes are sparse, so they must never see ""
	// (MongoDB would then let only one user go without a unique e-mail or
	// without an "@" in the username); the mail queue's index is sparse
	// too, so users owing nothing must not have the field.
	database := freshDatabase("layout")
	s := openT(t, sharedURI, database, true)
	ctx := t.Context()
	u := porttest.NewUser("layout")
	u.UniqueEmailKey = ""
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	var doc bson.M
	if err := rawClient(t, sharedURI).Database(database).Collection("users").
		FindOne(ctx, bson.D{{Key: "_id", Value: u.ID}}).Decode(&doc); err != nil {
		t.Fatalf("read document: %v", err)
	}
	for _, field := range []string{"unique_email_key", "username_email_key", "mail"} {
		if _, ok := doc[field]; ok {
			t.Errorf("document has %s although it is empty: %v", field, doc)
		}
	}
	if doc["email_key"] != u.EmailKey || doc["username_key"] != u.UsernameKey {
		t.Errorf("document keys = %v, %v; want %q, %q", doc["email_key"], doc["username_key"], u.EmailKey, u.UsernameKey)
	}
}
