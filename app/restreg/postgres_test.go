package restreg_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/pgstore/pgtest"
)

// postgres is this package run's own PostgreSQL database, created when a
// test first needs it; every server gets a schema of its own in it.
var postgres struct {
	once sync.Once
	db   *pgtest.Database
	err  error
}

// postgresURL returns the DATABASE_URL of a new, empty schema.
func postgresURL(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; runs without -short (make test)")
	}
	postgres.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		postgres.db, postgres.err = pgtest.CreateDatabase(ctx, "app")
	})
	if postgres.err != nil {
		t.Fatalf("PostgreSQL test database (is the server up? .ci/run starts it): %v", postgres.err)
	}
	return postgres.db.NewSchemaT(t)
}

// dropPostgres removes the package's database once every test is done.
func dropPostgres() {
	if postgres.db == nil {
		return
	}
	if err := postgres.db.Drop(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
