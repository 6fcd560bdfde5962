package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	"go.uber.org/fx/fxtest"
)

// synchronousOnFreshConnection returns PRAGMA synchronous on a connection
// the store's writer opens now (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA), so what
// is checked is what every connection gets, not a one-off setting.
func synchronousOnFreshConnection(t *testing.T, s *Store) int {
	t.Helper()
	// Dropping the idle connection makes the next query open a new one.
	s.writer.SetMaxIdleConns(0)
	s.writer.SetMaxIdleConns(1)
	var level int
	if err := s.writer.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&level); err != nil {
		t.Fatal(err)
	}
	return level
}

// A commit is on disk before it is answered: a power cut cannot roll back
// an activation whose event already went out.
func TestWritesAreDurableByDefault(t *testing.T) {
	s := openTemp(t)
	if got := synchronousOnFreshConnection(t, s); got != 2 {
		t.Errorf("PRAGMA synchronous = %d, want 2 (FULL)", got)
	}
}

func TestSynchronousSetting(t *testing.T) {
	for _, c := range []struct {
		setting string
		want    int
	}{{"FULL", 2}, {"NORMAL", 1}, {"normal", 1}} {
		lc := fxtest.NewLifecycle(t)
		s, err := newForApp(lc, Config{DataDir: t.TempDir(), Synchronous: c.setting})
		if err != nil {
			t.Fatalf("%s: %v", c.setting, err)
		}
		lc.RequireStart()
		if got := synchronousOnFreshConnection(t, s); got != c.want {
			t.Errorf("SQLITE_SYNCHRONOUS=%s: PRAGMA synchronous = %d, want %d", c.setting, got, c.want)
		}
		lc.RequireStop()
	}
	if _, err := OpenWith(context.Background(), filepath.Join(t.TempDir(), FileName), Options{Synchronous: "OFF"}); err == nil {
		t.Error("synchronous=OFF accepted")
	}
}
