package usecase_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// sourceUsers is an ImportSource over a slice sorted by id.
type sourceUsers struct {
	mu    sync.Mutex
	users []core.SourceUser
	reads int
}

func (s *sourceUsers) CountUsers(_ context.Context, after int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, u := range s.users {
		if u.ID > after {
			n++
		}
	}
	return n, nil
}

func (s *sourceUsers) ReadUsers(_ context.Context, after int64, limit int) ([]core.SourceUser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	var out []core.SourceUser
	for _, u := range s.users {
		if u.ID > after && len(out) < limit {
			out = append(out, u)
		}
	}
	return out, nil
}

// failingImporter refuses every write after the first ok ones, as a store
// that went away does.
type failingImporter struct {
	*memstore.Store
	mu sync.Mutex
	ok int
}

func (f *failingImporter) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	f.mu.Lock()
	if f.ok == 0 {
		f.mu.Unlock()
		return false, core.ErrUnavailable
	}
	f.ok--
	f.mu.Unlock()
	return f.Store.ImportUser(ctx, u, tokens...)
}

const (
	importedPassword = "correct horse battery staple"
	importedHash     = "pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA="
	// importedTokenKey is a DRF token key (40 hex characters).
	importedTokenKey = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
)

var joined = time.Date(2021, 3, 4, 5, 6, 7, 123456000, time.UTC)

// djangoUsers are Django accounts: an active one with a token, one that
// never verified, and two whose addresses differ only in case.
func djangoUsers() []core.SourceUser {
	return []core.SourceUser{
		{ID: 3, Username: "Ann", Email: "ann@Example.COM", FirstName: "Ann", LastName: "Lee", PasswordHash: importedHash, IsActive: true,
			DateJoined: joined, LastLogin: joined.Add(time.Hour), Tokens: []core.SourceToken{{Key: importedTokenKey, Created: joined}}},
		{ID: 7, Username: "bob", Email: "bob@example.com", PasswordHash: importedHash, DateJoined: joined},
		{ID: 8, Username: "carol", Email: "Carol@example.com", PasswordHash: importedHash, IsActive: true, DateJoined: joined},
		{ID: 12, Username: "carol2", Email: "carol@example.com", PasswordHash: "", IsActive: true, DateJoined: joined},
	}
}

func newImport(f *fixture, src *sourceUsers) *usecase.ImportUsers {
	return usecase.NewImportUsers(usecase.NewImportConfig(f.settings), src, f.store, f.store, f.log)
}

func storedIDs(t *testing.T, f *fixture, ids ...string) []string {
	t.Helper()
	var found []string
	for _, id := range ids {
		_, err := f.store.FindUser(context.Background(), core.ByID, id)
		switch {
		case err == nil:
			found = append(found, id)
		case !errors.Is(err, core.ErrNotFound):
			t.Fatal(err)
		}
	}
	return found
}

// Imported users keep their Django ids, their fields and keys as register/
// would derive them, their password (login works with it) and their DRF
// token (authentication accepts the same key).
func TestImportKeepsIDsPasswordsAndTokens(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	src := &sourceUsers{users: djangoUsers()}
	var conflicts []usecase.ImportConflict
	rep, err := newImport(f, src).Run(ctx, usecase.ImportOptions{Conflict: func(c usecase.ImportConflict) error {
		conflicts = append(conflicts, c)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := usecase.ImportReport{Read: 4, Created: 3, Conflicts: 1, Tokens: 1, LastID: 12}
	if rep != want {
		t.Errorf("report = %+v, want %+v", rep, want)
	}

	ann, err := f.store.FindUser(ctx, core.ByID, "3")
	if err != nil {
		t.Fatal(err)
	}
	if ann.Username != "Ann" || ann.UsernameKey != core.UsernameKey("Ann", true) || ann.Email != "ann@example.com" ||
		ann.EmailKey != "ann@example.com" || ann.UniqueEmailKey != "ann@example.com" || ann.FirstName != "Ann" || ann.LastName != "Lee" ||
		ann.PasswordHash != importedHash || !ann.IsActive || !ann.CreatedAt.Equal(joined) || !ann.LastLogin.Equal(joined.Add(time.Hour)) {
		t.Errorf("imported user = %+v", ann)
	}
	if bob, err := f.store.FindUser(ctx, core.ByID, "7"); err != nil || bob.IsActive || !bob.LastLogin.IsZero() {
		t.Errorf("inactive user = %+v, %v; want it inactive, never logged in", bob, err)
	}

	res, err := f.login.Handle(ctx, usecase.LoginInput{Login: core.Str("ANN"), Password: core.Str(importedPassword)})
	if err != nil || res.Token == "" {
		t.Errorf("login with the Django password: %+v, %v", res, err)
	}
	auth := usecase.NewAuthenticate(usecase.NewAuthenticateConfig(f.settings), f.store, f.clock)
	p, err := auth.Key(ctx, importedTokenKey)
	if err != nil || p.User.ID != "3" {
		t.Errorf("the DRF token key authenticates as %+v, %v; want user 3", p.User, err)
	}

	wantConflict := usecase.ImportConflict{ID: 12, Username: "carol2", Email: "carol@example.com", Reason: usecase.ConflictEmail, With: "8"}
	if len(conflicts) != 1 || conflicts[0] != wantConflict {
		t.Errorf("conflicts = %+v, want [%+v]", conflicts, wantConflict)
	}
	if got := storedIDs(t, f, "3", "7", "8", "12"); !slices.Equal(got, []string{"3", "7", "8"}) {
		t.Errorf("stored ids = %v, want 3 7 8", got)
	}
}

// Without USER_EMAIL_UNIQUE, addresses differing only in case are no
// conflict; with case-insensitive usernames, names differing only in case
// are.
func TestImportConflictsFollowTheSettings(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.UserEmailUnique = false })
	users := append(djangoUsers(), core.SourceUser{ID: 20, Username: "ANN", Email: "other@example.com", PasswordHash: importedHash, DateJoined: joined},
		core.SourceUser{ID: 21, Username: "", Email: "x@example.com", DateJoined: joined})
	var conflicts []usecase.ImportConflict
	rep, err := newImport(f, &sourceUsers{users: users}).Run(context.Background(), usecase.ImportOptions{Conflict: func(c usecase.ImportConflict) error {
		conflicts = append(conflicts, c)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 4 || rep.Conflicts != 2 {
		t.Errorf("report = %+v, want 4 created, 2 conflicts", rep)
	}
	want := []usecase.ImportConflict{
		{ID: 20, Username: "ANN", Email: "other@example.com", Reason: usecase.ConflictUsername, With: "3"},
		{ID: 21, Email: "x@example.com", Reason: usecase.ConflictInvalid},
	}
	if !slices.Equal(conflicts, want) {
		t.Errorf("conflicts = %+v, want %+v", conflicts, want)
	}
}

// Re-running updates the users written before and creates none twice; the
// lower id keeps a contested key whatever the batch size and parallelism.
func TestImportRerunUpdatesAndNeverDuplicates(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	src := &sourceUsers{users: djangoUsers()}
	if _, err := newImport(f, src).Run(ctx, usecase.ImportOptions{BatchSize: 2, Workers: 4}); err != nil {
		t.Fatal(err)
	}
	src.users[0].FirstName = "Annie"
	src.users[1].IsActive = true
	rep, err := newImport(f, src).Run(ctx, usecase.ImportOptions{BatchSize: 3, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 0 || rep.Updated != 3 || rep.Conflicts != 1 {
		t.Errorf("second run = %+v, want 0 created, 3 updated, 1 conflict", rep)
	}
	ann, _ := f.store.FindUser(ctx, core.ByID, "3")
	bob, _ := f.store.FindUser(ctx, core.ByID, "7")
	if ann.FirstName != "Annie" || !bob.IsActive {
		t.Errorf("after the re-run: ann %q, bob active %v; want the source's new values", ann.FirstName, bob.IsActive)
	}
	owner, err := f.store.FindUser(ctx, core.ByEmailKey, "carol@example.com")
	if err != nil || owner.ID != "8" {
		t.Errorf("carol@example.com belongs to %q, %v; want 8, the lower id", owner.ID, err)
	}
}

// Within one batch written in parallel, the lower id keeps a contested key.
func TestImportLowerIDWinsWithinABatch(t *testing.T) {
	f := newFixture(t, nil)
	var users []core.SourceUser
	for i := int64(1); i <= 40; i++ {
		users = append(users, core.SourceUser{ID: i, Username: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			Email: "Same@example.com", PasswordHash: importedHash, DateJoined: joined})
	}
	rep, err := newImport(f, &sourceUsers{users: users}).Run(context.Background(), usecase.ImportOptions{Workers: 16})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Created != 1 || rep.Conflicts != 39 {
		t.Fatalf("report = %+v, want 1 created and 39 conflicts", rep)
	}
	if got := storedIDs(t, f, "1"); len(got) != 1 {
		t.Error("user 1, the lowest id, should own the shared address")
	}
}

// A dry run reads and checks everything, reports what a real run would do,
// and writes nothing.
func TestImportDryRunWritesNothing(t *testing.T) {
	f := newFixture(t, nil)
	var checkpoints []int64
	var conflicts int
	rep, err := newImport(f, &sourceUsers{users: djangoUsers()}).Run(context.Background(), usecase.ImportOptions{
		DryRun:     true,
		Checkpoint: func(id int64) error { checkpoints = append(checkpoints, id); return nil },
		Conflict:   func(usecase.ImportConflict) error { conflicts++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := usecase.ImportReport{Read: 4, Created: 3, Conflicts: 1, Tokens: 1, LastID: 12}
	if rep != want || conflicts != 1 {
		t.Errorf("dry run = %+v (%d conflicts reported), want %+v", rep, conflicts, want)
	}
	if got := storedIDs(t, f, "3", "7", "8", "12"); len(got) != 0 || len(checkpoints) != 0 {
		t.Errorf("a dry run stored %v and checkpointed %v", got, checkpoints)
	}
}

// A store that fails mid-import stops the run; the last checkpoint names
// a batch written in full, and a run resumed after it finishes the import
// with every user present once.
func TestImportResumesAfterTheLastCheckpoint(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	var users []core.SourceUser
	for i := int64(1); i <= 10; i++ {
		users = append(users, core.SourceUser{ID: i * 10, Username: "user" + string(rune('a'+i)), PasswordHash: importedHash, DateJoined: joined})
	}
	src := &sourceUsers{users: users}
	broken := &failingImporter{Store: f.store, ok: 5}
	var checkpoint int64
	opts := usecase.ImportOptions{BatchSize: 3, Workers: 2, Checkpoint: func(id int64) error { checkpoint = id; return nil }}
	_, err := usecase.NewImportUsers(usecase.NewImportConfig(f.settings), src, broken, f.store, f.log).Run(ctx, opts)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("a failing store: %v, want core.ErrUnavailable", err)
	}
	if checkpoint != 30 {
		t.Fatalf("checkpoint = %d, want 30 (the first batch of 3 written in full)", checkpoint)
	}
	opts.After = checkpoint
	rep, err := newImport(f, src).Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != 7 || rep.LastID != 100 || checkpoint != 100 {
		t.Errorf("resumed run = %+v, checkpoint %d; want the 7 users after id 30 read", rep, checkpoint)
	}
	var ids []string
	for _, u := range users {
		ids = append(ids, strconv.FormatInt(u.ID, 10))
	}
	if got := storedIDs(t, f, ids...); len(got) != 10 {
		t.Errorf("stored %v, want all 10 users", got)
	}
}

// With OnlyNew, a re-run brings over the users created since and leaves
// the ones already imported as they are here: an activation done here is
// not undone by the source's old state.
func TestImportOnlyNewKeepsWhatChangedHere(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	src := &sourceUsers{users: djangoUsers()}
	if _, err := newImport(f, src).Run(ctx, usecase.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.ActivateUser(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	src.users[0].FirstName = "Changed in the source"
	src.users = append(src.users, core.SourceUser{ID: 30, Username: "dave", Email: "dave@example.com", PasswordHash: importedHash, DateJoined: joined})
	rep, err := newImport(f, src).Run(ctx, usecase.ImportOptions{OnlyNew: true})
	if err != nil {
		t.Fatal(err)
	}
	want := usecase.ImportReport{Read: 5, Created: 1, Kept: 3, Conflicts: 1, LastID: 30}
	if rep != want {
		t.Errorf("report = %+v, want %+v", rep, want)
	}
	bob, _ := f.store.FindUser(ctx, core.ByID, "7")
	ann, _ := f.store.FindUser(ctx, core.ByID, "3")
	if !bob.IsActive || ann.FirstName != "Ann" {
		t.Errorf("kept users changed: bob active %v (want true), ann %q (want Ann)", bob.IsActive, ann.FirstName)
	}
	if got := storedIDs(t, f, "30"); len(got) != 1 {
		t.Error("the new user was not imported")
	}
}
