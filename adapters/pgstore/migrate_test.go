package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// loginNamespaceVersion is the schema version that added username e-mail
// keys, the login namespace and the mail queue.
const loginNamespaceVersion = 2

// legacySchema writes users into a new schema at the version before the
// login namespace, as a release of that time stored them, and returns the
// schema's URL.
func legacySchema(t *testing.T, users ...core.User) string {
	t.Helper()
	ctx := context.Background()
	url := testDB.NewSchemaT(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	steps, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, conn, steps, loginNamespaceVersion-1); err != nil {
		t.Fatalf("migrate to version %d: %v", loginNamespaceVersion-1, err)
	}
	for _, u := range users {
		if _, err := conn.Exec(ctx, `INSERT INTO users (id, username, username_key, email, email_key,
			unique_email_key, first_name, last_name, password_hash, is_active, created_at, verification_sent_at)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8, $9, $10, $11, $12)`,
			u.ID, u.Username, u.UsernameKey, u.Email, u.EmailKey, u.UniqueEmailKey, u.FirstName, u.LastName,
			u.PasswordHash, u.IsActive, u.CreatedAt, nullTime(u.VerificationSentAt)); err != nil {
			t.Fatalf("insert legacy user %s: %v", u.ID, err)
		}
	}
	return url
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
	rows, err := s.pool.Query(context.Background(), `SELECT key, user_id FROM login_keys`)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	var key, id string
	if _, err := pgx.ForEachRow(rows, []any{&key, &id}, func() error {
		owners[key] = id
		return nil
	}); err != nil {
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
	url := legacySchema(t, alice, bob, emile, gina)

	s := openOn(t, url, Options{})

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
	// The unique e-mail index the namespace replaced is gone, and the
	// namespace still rejects an old account's address.
	dup := porttest.NewUser("dup")
	dup.Email, dup.EmailKey, dup.UniqueEmailKey = alice.Email, alice.EmailKey, alice.UniqueEmailKey
	if err := s.CreateUser(ctx, dup); !errors.Is(err, core.ErrEmailTaken) {
		t.Errorf("CreateUser with an old account's address = %v, want core.ErrEmailTaken", err)
	}
	sharer := porttest.NewUser("sharer")
	sharer.Email, sharer.EmailKey, sharer.UniqueEmailKey = gina.Email, gina.EmailKey, gina.EmailKey
	if err := s.CreateUser(ctx, sharer); err != nil {
		t.Errorf("CreateUser with the address of an old account that held no unique key: %v", err)
	}

	var version, steps int
	if err := s.pool.QueryRow(ctx, `SELECT MAX(version), COUNT(*) FROM schema_version`).Scan(&version, &steps); err != nil {
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
	// dave's address is erin's username, and frank's and gus's differ from
	// erin's only in case (usernames were case-sensitive).
	erin := legacyUser("erin", "Shared@Example.NET", 0)
	frank := legacyUser("frank", "SHARED@example.net", time.Second)
	gus := legacyUser("gus", "shared@EXAMPLE.net", 3*time.Second)
	dave := legacyUser("dave", "dave", 2*time.Second)
	dave.Email, dave.EmailKey, dave.UniqueEmailKey = "shared@example.net", "shared@example.net", "shared@example.net"
	s := openOn(t, legacySchema(t, gus, erin, frank, dave), Options{})

	// The address keeps its key; the usernames stay findable, as several.
	if owner := loginKeyOwners(t, s)["shared@example.net"]; owner != dave.ID {
		t.Errorf("shared key owned by %q, want the address's owner %q", owner, dave.ID)
	}
	if _, err := s.FindUser(ctx, core.ByUsernameEmailKey, "shared@example.net"); !errors.Is(err, core.ErrAmbiguous) {
		t.Errorf("FindUser by a username e-mail key old accounts share = %v, want core.ErrAmbiguous", err)
	}

	// Each deletion passes the key on to an account still holding it (the
	// oldest), so no new account can take it until none is left.
	claim := func() error {
		u := porttest.NewUser("newcomer")
		u.Email, u.EmailKey, u.UniqueEmailKey = "shared@example.net", "shared@example.net", "shared@example.net"
		return s.CreateUser(ctx, u)
	}
	for _, step := range []struct{ gone, heir core.User }{{dave, erin}, {erin, frank}, {frank, gus}} {
		if err := s.DeleteInactiveUser(ctx, step.gone.ID); err != nil {
			t.Fatalf("DeleteInactiveUser(%s): %v", step.gone.ID, err)
		}
		if owner := loginKeyOwners(t, s)["shared@example.net"]; owner != step.heir.ID {
			t.Errorf("after deleting %s the shared key is owned by %q, want %q", step.gone.ID, owner, step.heir.ID)
		}
		if err := claim(); !errors.Is(err, core.ErrEmailTaken) {
			t.Fatalf("after deleting %s, CreateUser with the shared address = %v, want core.ErrEmailTaken", step.gone.ID, err)
		}
	}
	if err := s.DeleteInactiveUser(ctx, gus.ID); err != nil {
		t.Fatalf("DeleteInactiveUser(%s): %v", gus.ID, err)
	}
	if owners := loginKeyOwners(t, s); len(owners) != 0 {
		t.Errorf("login namespace after every holder left = %v, want empty", owners)
	}
	if err := claim(); err != nil {
		t.Errorf("CreateUser with the address once nobody holds it: %v", err)
	}
}

// The namespace is one constraint for both kinds of key, so the server's
// error cannot say which collided; the username's collision must win.
func TestUsernameEmailKeyCollisionIsReportedBeforeTheEmail(t *testing.T) {
	s, _ := openFresh(t)
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
	err := s.CreateUser(ctx, both)
	if !errors.Is(err, core.ErrUsernameTaken) || errors.Is(err, core.ErrEmailTaken) {
		t.Fatalf("CreateUser colliding by username and by e-mail = %v, want core.ErrUsernameTaken only", err)
	}
	// The same holds when the username collides with a username.
	named := porttest.NewUser("named")
	named.Username, named.UsernameKey = first.Username, first.UsernameKey
	named.Email, named.EmailKey, named.UniqueEmailKey = second.Email, second.EmailKey, second.EmailKey
	err = s.CreateUser(ctx, named)
	if !errors.Is(err, core.ErrUsernameTaken) || errors.Is(err, core.ErrEmailTaken) {
		t.Fatalf("CreateUser colliding by username key and by e-mail = %v, want core.ErrUsernameTaken only", err)
	}
}

// Mail claims (of both queues) and username e-mail lookups run on every
// courier tick and every login: they must read their indexes, not every user.
func TestMailClaimsAndUsernameLookupsUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, _ := openFresh(t)
	for query, c := range map[string]struct {
		index string
		args  []any
	}{
		claimMailSQL:           {"users_mail_due_at", []any{time.Now(), 10, time.Now()}},
		claimQueuedMailSQL:     {"queued_mail_due_at", []any{time.Now(), 10, time.Now()}},
		findByUsernameEmailSQL: {"users_username_email_key", []any{"a@example.com"}},
	} {
		var plan []string
		// An empty table is cheapest to scan whole; forbid that to see
		// which index the query can use.
		if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `EXPLAIN `+query, c.args...)
			if err != nil {
				return err
			}
			var line string
			_, err = pgx.ForEachRow(rows, []any{&line}, func() error {
				plan = append(plan, strings.TrimSpace(line))
				return nil
			})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, " using "+c.index+" ") || strings.Contains(text, "Sort") {
			t.Errorf("plan of %.40q… is %q, want a scan of index %s without a sort", query, text, c.index)
		}
	}
}
