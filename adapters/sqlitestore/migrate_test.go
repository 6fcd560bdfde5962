package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// loginNamespaceVersion is the schema version that added username e-mail
// keys, the login namespace and the mail queue.
const loginNamespaceVersion = 3

// legacyDatabase writes users into a new database at the schema version
// before the login namespace, as a release of that time stored them, and
// returns its path.
func legacyDatabase(t *testing.T, users ...core.User) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	steps, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, db, steps, loginNamespaceVersion-1); err != nil {
		t.Fatalf("migrate to version %d: %v", loginNamespaceVersion-1, err)
	}
	for _, u := range users {
		var unique any
		if u.UniqueEmailKey != "" {
			unique = u.UniqueEmailKey
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO users (id, username, username_key, email, email_key,
			unique_email_key, first_name, last_name, password_hash, is_active, created_at, verification_sent_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Username, u.UsernameKey, u.Email, u.EmailKey, unique, u.FirstName, u.LastName,
			u.PasswordHash, u.IsActive, micros(u.CreatedAt), nullMicros(u.VerificationSentAt)); err != nil {
			t.Fatalf("insert legacy user %s: %v", u.ID, err)
		}
	}
	return path
}

// legacyUser returns a user as stored before the login namespace (no
// username e-mail key), created at the given offset from a fixed instant.
func legacyUser(name, username string, created time.Duration) core.User {
	u := porttest.NewUser(name)
	u.Username, u.UsernameKey = username, username
	u.CreatedAt = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC).Add(created)
	return u
}

func loginKeyOwners(t *testing.T, s *Store) map[string]string {
	t.Helper()
	rows, err := s.reader.Query(`SELECT key, user_id FROM login_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	owners := map[string]string{}
	for rows.Next() {
		var key, id string
		if err := rows.Scan(&key, &id); err != nil {
			t.Fatal(err)
		}
		owners[key] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return owners
}

func TestUpgradeKeepsUsersAndPutsTheirKeysInTheNamespace(t *testing.T) {
	ctx := context.Background()
	alice := legacyUser("alice", "alice", 0)
	bob := legacyUser("bob", "Bob@Example.COM", time.Second)
	bob.VerificationSentAt = bob.CreatedAt.Add(time.Minute)
	// NFKC turns the fullwidth letters and "＠" into ASCII and the e-mail
	// key lower-cases "É": SQL's lower() alone would get both wrong.
	emile := legacyUser("emile", "Émile＠Ｅxample.ORG", 2*time.Second)
	emile.IsActive = true
	// Without USER_EMAIL_UNIQUE: the address is nobody's key.
	gina := legacyUser("gina", "gina", 3*time.Second)
	gina.UniqueEmailKey = ""
	path := legacyDatabase(t, alice, bob, emile, gina)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open on a database of the previous schema: %v", err)
	}
	defer s.Close()

	bob.UsernameEmailKey = "bob@example.com"
	emile.UsernameEmailKey = "émile@example.org"
	for _, want := range []core.User{alice, bob, emile, gina} {
		got, err := s.FindUser(ctx, core.ByID, want.ID)
		if err != nil {
			t.Fatalf("FindUser(%q) after the upgrade: %v", want.ID, err)
		}
		if got != want {
			t.Errorf("user after the upgrade:\n got %+v\nwant %+v", got, want)
		}
	}
	for key, want := range map[string]string{"bob@example.com": bob.ID, "émile@example.org": emile.ID} {
		got, err := s.FindUser(ctx, core.ByUsernameEmailKey, key)
		if err != nil || got.ID != want {
			t.Errorf("FindUser(username e-mail key %q) = %s, %v; want %s", key, got.ID, err, want)
		}
	}

	wantOwners := map[string]string{
		alice.UniqueEmailKey: alice.ID,
		bob.UniqueEmailKey:   bob.ID, "bob@example.com": bob.ID,
		emile.UniqueEmailKey: emile.ID, "émile@example.org": emile.ID,
	}
	got := loginKeyOwners(t, s)
	if len(got) != len(wantOwners) {
		t.Errorf("login namespace = %v, want %v", got, wantOwners)
	}
	for key, id := range wantOwners {
		if got[key] != id {
			t.Errorf("login key %q owned by %q, want %q", key, got[key], id)
		}
	}

	// New accounts meet the old ones in the namespace.
	taker := porttest.NewUser("taker")
	taker.Username, taker.UsernameKey, taker.UsernameEmailKey = alice.Email, alice.EmailKey, alice.EmailKey
	if err := s.CreateUser(ctx, taker); !errors.Is(err, core.ErrUsernameTaken) {
		t.Errorf("CreateUser with a username equal to an old account's e-mail = %v, want core.ErrUsernameTaken", err)
	}
	for _, key := range []string{"bob@example.com", "émile@example.org"} {
		u := porttest.NewUser("mailer")
		u.Email, u.EmailKey, u.UniqueEmailKey = key, key, key
		if err := s.CreateUser(ctx, u); !errors.Is(err, core.ErrEmailTaken) {
			t.Errorf("CreateUser with the e-mail %q, an old account's username = %v, want core.ErrEmailTaken", key, err)
		}
	}
	sharer := porttest.NewUser("sharer")
	sharer.Email, sharer.EmailKey, sharer.UniqueEmailKey = gina.Email, gina.EmailKey, gina.EmailKey
	if err := s.CreateUser(ctx, sharer); err != nil {
		t.Errorf("CreateUser with the address of an old account that held no unique key: %v", err)
	}

	var version, steps int
	if err := s.reader.QueryRow(`SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&version, &steps); err != nil {
		t.Fatal(err)
	}
	if all, _ := migrations(); version != len(all) || steps != len(all) {
		t.Errorf("schema_version has %d rows up to %d after the upgrade, want %d", steps, version, len(all))
	}
}

// Data written before the namespace existed may already hold one key
// twice; the upgrade must neither fail on it nor hide an account.
func TestUpgradeKeepsKeysOldAccountsAlreadyShared(t *testing.T) {
	ctx := context.Background()
	// dave's address is erin's username, and frank's differs from erin's
	// only in case (usernames were case-sensitive).
	erin := legacyUser("erin", "Shared@Example.NET", 0)
	frank := legacyUser("frank", "SHARED@example.net", time.Second)
	dave := legacyUser("dave", "dave", 2*time.Second)
	dave.Email, dave.EmailKey, dave.UniqueEmailKey = "shared@example.net", "shared@example.net", "shared@example.net"
	path := legacyDatabase(t, erin, frank, dave)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open on a database with shared keys: %v", err)
	}
	defer s.Close()

	// The address keeps its key; both usernames stay findable, as two.
	if owner := loginKeyOwners(t, s)["shared@example.net"]; owner != dave.ID {
		t.Errorf("shared key owned by %q, want the address's owner %q", owner, dave.ID)
	}
	if _, err := s.FindUser(ctx, core.ByUsernameEmailKey, "shared@example.net"); !errors.Is(err, core.ErrAmbiguous) {
		t.Errorf("FindUser by a username e-mail key two old accounts share = %v, want core.ErrAmbiguous", err)
	}

	// Each deletion passes the key on to an account still holding it, so
	// no new account can take it until none is left.
	claim := func() error {
		u := porttest.NewUser("newcomer")
		u.Email, u.EmailKey, u.UniqueEmailKey = "shared@example.net", "shared@example.net", "shared@example.net"
		return s.CreateUser(ctx, u)
	}
	for _, gone := range []core.User{dave, erin} {
		if err := s.DeleteInactiveUser(ctx, gone.ID); err != nil {
			t.Fatalf("DeleteInactiveUser(%s): %v", gone.ID, err)
		}
		if err := claim(); !errors.Is(err, core.ErrEmailTaken) {
			t.Fatalf("after deleting %s, CreateUser with the shared address = %v, want core.ErrEmailTaken", gone.ID, err)
		}
	}
	if owner := loginKeyOwners(t, s)["shared@example.net"]; owner != frank.ID {
		t.Errorf("shared key owned by %q, want the last holder %q", owner, frank.ID)
	}
	if err := s.DeleteInactiveUser(ctx, frank.ID); err != nil {
		t.Fatalf("DeleteInactiveUser(%s): %v", frank.ID, err)
	}
	if err := claim(); err != nil {
		t.Errorf("CreateUser with the address once nobody holds it: %v", err)
	}
}

func TestUsernameEmailKeyCollisionIsReportedBeforeTheEmail(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	first := porttest.NewUser("first")
	second := porttest.NewUser("second")
	for _, u := range []core.User{first, second} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// Its username is first's address and its address is second's.
	both := porttest.NewUser("both")
	both.Username, both.UsernameKey, both.UsernameEmailKey = first.Email, first.EmailKey, first.EmailKey
	both.Email, both.EmailKey, both.UniqueEmailKey = second.Email, second.EmailKey, second.EmailKey
	if err := s.CreateUser(ctx, both); !errors.Is(err, core.ErrUsernameTaken) {
		t.Fatalf("CreateUser colliding by username and by e-mail = %v, want core.ErrUsernameTaken", err)
	}
}

func TestMailClaimsAndUsernameLookupsUseTheirIndexes(t *testing.T) {
	s := openTemp(t)
	for query, index := range map[string]string{
		claimQuery:               "users_mail_due_at",
		claimQueuedMailQuery:     "queued_mail_due_at",
		findByUsernameEmailQuery: "users_username_email_key",
	} {
		args := make([]any, strings.Count(query, "?"))
		for i := range args {
			args[i] = 1
		}
		rows, err := s.reader.Query(`EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "INDEX "+index) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("plan of %q is %q, want a read of index %s without a sort", query, text, index)
		}
	}
}
