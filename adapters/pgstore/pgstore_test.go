package pgstore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/restreg/restreg/adapters/pgstore/pgtest"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// testDB is this package run's own database; every test opens its stores on
// a fresh schema of it.
var testDB *pgtest.Database

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// No database: the tests that need one skip (testDB.NewSchemaT).
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	db, err := pgtest.CreateDatabase(ctx, "pgstore")
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "PostgreSQL test database (is the server up? .ci/run starts it): %v\n", err)
		os.Exit(1)
	}
	testDB = db
	code := m.Run()
	if err := db.Drop(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// openOn opens a store on url and closes it when the test ends.
func openOn(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// openFresh opens a store on a new, empty schema and returns it with the
// schema's URL, to open more stores on the same data.
func openFresh(t testing.TB) (*Store, string) {
	t.Helper()
	url := testDB.NewSchemaT(t)
	return openOn(t, url, Options{}), url
}

func TestStoreContract(t *testing.T) {
	porttest.Store(t, func(t *testing.T) ports.Store { s, _ := openFresh(t); return s }, porttest.StoreFeatures{AtomicConditionalUpdates: true})
}

func TestEmbeddedMigrationsAreNumberedInOrder(t *testing.T) {
	steps, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range steps {
		if m.version != i+1 {
			t.Errorf("migration %d is %s (version %d)", i, m.name, m.version)
		}
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	url := testDB.NewSchemaT(t)
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	active := porttest.NewUser("keeper")
	waiting := porttest.NewUser("waiter")
	waiting.FirstName = "Wäiter 🕰"
	waiting.VerificationSentAt = base.Add(time.Second)
	waiting.Username, waiting.UsernameKey, waiting.UsernameEmailKey = "Waiter@Example.ORG", "waiter@example.org", "waiter@example.org"
	// The verification e-mail it owes must outlive a restart.
	waiting.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: base.Add(time.Second)}
	reg := porttest.NewEvent(core.EventUserRegistered, active, base)
	held := porttest.NewEvent(core.EventUserRegistered, waiting, base.Add(time.Second))
	held.AvailableAt = base.Add(24 * time.Hour)
	if err := s.CreateUser(ctx, active, reg); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, waiting, held); err != nil {
		t.Fatal(err)
	}
	activated := active
	activated.IsActive = true
	act := porttest.NewEvent(core.EventUserActivated, activated, base.Add(2*time.Second))
	if ok, err := s.ActivateUser(ctx, active.ID, act); err != nil || !ok {
		t.Fatalf("ActivateUser = %v, %v", ok, err)
	}
	if err := s.SaveToken(ctx, "d1g3st", active.ID, base); err != nil {
		t.Fatal(err)
	}
	// Events the relay was handed but did not publish before the restart
	// are handed out again afterwards.
	if got, err := s.PendingEvents(ctx, base.Add(time.Hour), 1); err != nil || len(got) != 1 {
		t.Fatalf("PendingEvents before the restart = %v, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for round := range 2 {
		s, err := Open(ctx, url, Options{})
		if err != nil {
			t.Fatalf("reopen %d: %v", round, err)
		}
		for _, want := range []core.User{activated, waiting} {
			got, err := s.FindUser(ctx, core.ByID, want.ID)
			if err != nil {
				t.Fatalf("reopen %d: FindUser(%q): %v", round, want.ID, err)
			}
			if !got.CreatedAt.Equal(want.CreatedAt.Truncate(time.Microsecond)) {
				t.Errorf("reopen %d: CreatedAt = %v, want %v", round, got.CreatedAt, want.CreatedAt)
			}
			got.CreatedAt = want.CreatedAt
			if got != want {
				t.Errorf("reopen %d: user = %+v, want %+v", round, got, want)
			}
		}
		pending, err := s.PendingEvents(ctx, base.Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 2 || pending[0].ID != reg.ID || pending[1].ID != act.ID {
			t.Errorf("reopen %d: pending = %+v, want %s then %s", round, pending, reg.ID, act.ID)
		}
		if n, oldest, err := s.Backlog(ctx); err != nil || n != 3 || !oldest.Equal(base) {
			t.Errorf("reopen %d: Backlog = %d, %v, %v; want 3, %v", round, n, oldest, err, base)
		}
		if got, err := s.FindUser(ctx, core.ByUsernameEmailKey, waiting.UsernameEmailKey); err != nil || got.ID != waiting.ID {
			t.Errorf("reopen %d: FindUser by username e-mail key = %q, %v; want %q", round, got.ID, err, waiting.ID)
		}
		// Claim the mail: the next round finds the lease and the attempt
		// count as this one left them.
		claimAt := base.Add(time.Duration(round+1) * time.Hour)
		claimed, err := s.ClaimMail(ctx, claimAt, time.Minute, 10)
		if err != nil || len(claimed) != 1 || claimed[0].ID != waiting.ID || claimed[0].Mail.Attempts != round+1 {
			t.Fatalf("reopen %d: ClaimMail = %+v, %v; want the mail of %s on attempt %d", round, claimed, err, waiting.ID, round+1)
		}
		waiting.Mail.DueAt, waiting.Mail.Attempts = claimAt.Add(time.Minute), round+1
		if id, err := s.UserIDForToken(ctx, "d1g3st"); err != nil || id != active.ID {
			t.Errorf("reopen %d: UserIDForToken = %q, %v", round, id, err)
		}
		var version, rows int
		if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_version`).Scan(&version, &rows); err != nil {
			t.Fatal(err)
		}
		steps, _ := migrations()
		if version != len(steps) || rows != len(steps) {
			t.Errorf("reopen %d: schema_version has %d rows up to %d, want %d", round, rows, version, len(steps))
		}
		// New writes keep the record order after a restart.
		u := porttest.NewUser(fmt.Sprintf("after%d", round))
		ev := porttest.NewEvent(core.EventUserRegistered, u, base.Add(time.Minute))
		if err := s.CreateUser(ctx, u, ev); err != nil {
			t.Fatal(err)
		}
		pending, err = s.PendingEvents(ctx, base.Add(time.Hour), 10)
		if err != nil || len(pending) == 0 || pending[len(pending)-1].ID != ev.ID {
			t.Errorf("reopen %d: the newest event is not last: %v, %v", round, pending, err)
		}
		if err := s.MarkPublished(ctx, ev.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestInstancesStartingAtOnceMigrateOnce(t *testing.T) {
	url := testDB.NewSchemaT(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(context.Background(), url, Options{})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Open: %v", i, err)
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	if t.Failed() {
		return
	}
	steps, _ := migrations()
	var rows int
	if err := stores[0].pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM schema_version`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(steps) {
		t.Errorf("schema_version has %d rows, want %d (each step applied once)", rows, len(steps))
	}
	u := porttest.NewUser("shared")
	if err := stores[1].CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].FindUser(context.Background(), core.ByID, u.ID); err != nil {
		t.Errorf("a user written through one instance is not seen by another: %v", err)
	}
}

func TestAnOlderBuildRefusesANewerSchema(t *testing.T) {
	s, url := openFresh(t)
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO schema_version (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), url, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("Open on a newer schema = %v, want a refusal", err)
	}
	if errors.Is(err, core.ErrUnavailable) {
		t.Errorf("a newer schema is not a passing outage, but the error says so: %v", err)
	}
}

func TestSettingsAndURLParametersConfigureThePool(t *testing.T) {
	config, err := poolConfig("postgres://u@db.example:5432/app", Options{MaxConns: 7, ConnectTimeout: 3 * time.Second, StatementTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if config.MaxConns != 7 || config.ConnConfig.ConnectTimeout != 3*time.Second ||
		config.ConnConfig.RuntimeParams["statement_timeout"] != "1500" {
		t.Errorf("options not applied: max conns %d, connect timeout %v, statement timeout %q",
			config.MaxConns, config.ConnConfig.ConnectTimeout, config.ConnConfig.RuntimeParams["statement_timeout"])
	}
	config, err = poolConfig("postgres://u@db.example:5432/app?pool_max_conns=3&connect_timeout=9&statement_timeout=250&application_name=accounts",
		Options{MaxConns: 7, ConnectTimeout: 3 * time.Second, StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if config.MaxConns != 3 || config.ConnConfig.ConnectTimeout != 9*time.Second ||
		config.ConnConfig.RuntimeParams["statement_timeout"] != "250" || config.ConnConfig.RuntimeParams["application_name"] != "accounts" {
		t.Errorf("the URL's parameters do not win: max conns %d, connect timeout %v, params %v",
			config.MaxConns, config.ConnConfig.ConnectTimeout, config.ConnConfig.RuntimeParams)
	}
	config, err = poolConfig("postgres://u@db.example/app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if config.MaxConns != DefaultMaxConns || config.ConnConfig.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("defaults not applied: max conns %d, connect timeout %v", config.MaxConns, config.ConnConfig.ConnectTimeout)
	}
}

func TestErrorsNeverShowTheDatabaseURL(t *testing.T) {
	const password = "hunter2-secret"
	for _, url := range []string{
		"postgres://restreg:" + password + "@127.0.0.1:notaport/db",
		"mysql://restreg:" + password + "@127.0.0.1/db",
		"postgres://restreg:" + password + "@127.0.0.1:5432/db?sslmode=bogus",
		"postgres://restreg:" + password + "@" + closedAddr(t) + "/db?connect_timeout=2",
	} {
		_, err := Open(context.Background(), url, Options{})
		if err == nil {
			t.Errorf("Open(%s…) succeeded", url[:12])
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestAClosedStoreIsUnavailable(t *testing.T) {
	s, _ := openFresh(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Ping after Close = %v, want core.ErrUnavailable", err)
	}
	if err := s.CreateUser(context.Background(), porttest.NewUser("late")); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("CreateUser after Close = %v, want core.ErrUnavailable", err)
	}
}

// A statement stuck behind a lock is cancelled by the server after
// DATABASE_STATEMENT_TIMEOUT and reported as unavailability (503), not left
// to hang the request.
func TestAStatementStuckBehindALockIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s, url := openFresh(t)
	u := porttest.NewUser("locked")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	other := openOn(t, url, Options{})
	tx, err := other.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, u.ID); err != nil {
		t.Fatal(err)
	}
	impatient := openOn(t, url, Options{StatementTimeout: 200 * time.Millisecond})
	err = impatient.SetPasswordHash(ctx, u.ID, "new-hash")
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("SetPasswordHash while another transaction holds the row = %v, want core.ErrUnavailable", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := impatient.SetPasswordHash(ctx, u.ID, "new-hash"); err != nil {
		t.Fatalf("SetPasswordHash once the lock is gone: %v", err)
	}
}

func TestModuleConnectsToDatabaseURL(t *testing.T) {
	settings := DefaultConfig()
	settings.URL = testDB.NewSchemaT(t)
	var (
		users  ports.UserStore
		outbox ports.Outbox
		mail   ports.MailQueue
		tokens ports.TokenStore
		store  ports.Store
	)
	app := fxtest.New(t, fx.Supply(settings), Module, fx.Populate(&users, &outbox, &mail, &tokens, &store))
	app.RequireStart()

	ctx := context.Background()
	u := porttest.NewUser("modular")
	u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: u.CreatedAt}
	if err := users.CreateUser(ctx, u, porttest.NewEvent(core.EventUserRegistered, u, u.CreatedAt)); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if n, _, err := outbox.Backlog(ctx); err != nil || n != 1 {
		t.Errorf("Backlog through the Outbox port = %d, %v; want 1, nil", n, err)
	}
	if got, err := mail.ClaimMail(ctx, u.CreatedAt, time.Minute, 10); err != nil || len(got) != 1 || got[0].ID != u.ID {
		t.Errorf("ClaimMail through the MailQueue port = %v, %v; want the mail of %s", got, err, u.ID)
	}
	if err := tokens.SaveToken(ctx, "digest", u.ID, u.CreatedAt); err != nil {
		t.Errorf("SaveToken: %v", err)
	}
	app.RequireStop()
	if err := store.Ping(ctx); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Ping after the application stopped = %v, want core.ErrUnavailable", err)
	}

	reopened := openOn(t, settings.URL, Options{})
	if _, err := reopened.FindUser(ctx, core.ByUsernameKey, u.UsernameKey); err != nil {
		t.Errorf("user written through the module not found after reopening: %v", err)
	}
}

func TestModuleBuildsWithoutTheServerAndFailsToStartWithoutIt(t *testing.T) {
	settings := DefaultConfig()
	settings.URL = "postgres://restreg@" + closedAddr(t) + "/restreg"
	settings.ConnectTimeout = 2 * time.Second
	app := fx.New(fx.NopLogger, fx.Supply(settings), Module, fx.Invoke(func(ports.Store) {}))
	if err := app.Err(); err != nil {
		t.Fatalf("building the application touched the network: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Start(ctx); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("starting without a server = %v, want core.ErrUnavailable", err)
	}
}
