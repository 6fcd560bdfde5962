package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName))
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

func TestStoreContract(t *testing.T) {
	porttest.Store(t, func(t *testing.T) ports.Store { return openTemp(t) }, porttest.StoreFeatures{AtomicConditionalUpdates: true})
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
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	active := porttest.NewUser("keeper")
	waiting := porttest.NewUser("waiter")
	waiting.FirstName = "Wäiter 🕰"
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
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for round := range 2 {
		s, err := Open(ctx, path)
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
		var versions, rows int
		if err := s.reader.QueryRow(`SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_version`).Scan(&versions, &rows); err != nil {
			t.Fatal(err)
		}
		steps, _ := migrations()
		if versions != len(steps) || rows != len(steps) {
			t.Errorf("reopen %d: schema_version has %d rows up to %d, want %d", round, rows, versions, len(steps))
		}
		// New writes keep the record order after a restart.
		u := porttest.NewUser(fmt.Sprintf("after%d", round))
		ev := porttest.NewEvent(core.EventUserRegistered, u, base.Add(time.Minute))
		if err := s.CreateUser(ctx, u, ev); err != nil {
			t.Fatal(err)
		}
		pending, err = s.PendingEvents(ctx, base.Add(time.Hour), 10)
		if err != nil || pending[len(pending)-1].ID != ev.ID {
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

func TestDatabaseFileIsPrivate(t *testing.T) {
	s := openTemp(t)
	info, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode = %v, want no access for group and others", perm)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("a directory that is a file", func(t *testing.T) {
		_, err := Open(ctx, filepath.Join(notADir, FileName))
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Open = %v, want core.ErrUnavailable", err)
		}
	})

	t.Run("a removed directory", func(t *testing.T) {
		removed := filepath.Join(dir, "gone")
		if err := os.Mkdir(removed, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(removed); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, filepath.Join(removed, FileName))
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Open = %v, want core.ErrUnavailable", err)
		}
	})

	t.Run("a file that is not a database", func(t *testing.T) {
		garbage := filepath.Join(dir, "garbage.db")
		if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 512), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(ctx, garbage)
		if err == nil {
			t.Fatal("Open of a file that is not a database succeeded")
		}
	})

	t.Run("a closed store", func(t *testing.T) {
		s, err := Open(ctx, filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping on an open store: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("Ping after Close = %v, want core.ErrUnavailable", err)
		}
		if err := s.CreateUser(ctx, porttest.NewUser("late")); !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("CreateUser after Close = %v, want core.ErrUnavailable", err)
		}
	})
}

func TestUnavailableWhenAnotherProcessHoldsTheWriteLock(t *testing.T) {
	s := openTemp(t)
	// A second handle stands in for another process: it takes the write
	// lock and keeps it past the store's busy timeout.
	other, err := Open(context.Background(), s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.writer.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(`DELETE FROM tokens WHERE digest = 'none'`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = s.CreateUser(ctx, porttest.NewUser("blocked"))
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("CreateUser while another writer holds the lock = %v, want core.ErrUnavailable", err)
	}
	// Readers are not blocked by a writer in WAL mode.
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping while another writer holds the lock: %v", err)
	}
}

func TestModuleOpensTheDatabaseInDataDir(t *testing.T) {
	settings := DefaultConfig()
	settings.DataDir = filepath.Join(t.TempDir(), "nested", "data")
	var (
		users  ports.UserStore
		outbox ports.Outbox
		tokens ports.TokenStore
		store  ports.Store
	)
	app := fxtest.New(t, fx.Supply(settings), Module, fx.Populate(&users, &outbox, &tokens, &store))
	app.RequireStart()

	ctx := context.Background()
	u := porttest.NewUser("modular")
	if err := users.CreateUser(ctx, u, porttest.NewEvent(core.EventUserRegistered, u, u.CreatedAt)); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if n, _, err := outbox.Backlog(ctx); err != nil || n != 1 {
		t.Errorf("Backlog through the Outbox port = %d, %v; want 1, nil", n, err)
	}
	if err := tokens.SaveToken(ctx, "digest", u.ID, u.CreatedAt); err != nil {
		t.Errorf("SaveToken: %v", err)
	}
	if _, err := os.Stat(filepath.Join(settings.DataDir, FileName)); err != nil {
		t.Errorf("database file not in DATA_DIR: %v", err)
	}
	app.RequireStop()
	if err := store.Ping(ctx); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Ping after the application stopped = %v, want core.ErrUnavailable", err)
	}

	reopened, err := Open(ctx, filepath.Join(settings.DataDir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if _, err := reopened.FindUser(ctx, core.ByUsernameKey, u.UsernameKey); err != nil {
		t.Errorf("user written through the module not found after reopening: %v", err)
	}
}

func TestModuleFailsOnAnUnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	settings := DefaultConfig()
	settings.DataDir = filepath.Join(file, "data")
	app := fx.New(fx.NopLogger, fx.Supply(settings), Module, fx.Invoke(func(ports.Store) {}))
	if err := app.Err(); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("building the application = %v, want core.ErrUnavailable", err)
	}
}
