package harness

import (
	"context"
	"time"

	"github.com/onsi/ginkgo/v2"

	"github.com/restreg/restreg/adapters/pgstore/pgtest"
)

// PostgresDatabase creates an empty database on the PostgreSQL test server
// (POSTGRES_TEST_URL, by default the local one), dropped when the current
// spec or container ends, and returns the DATABASE_URL that reaches it.
func PostgresDatabase() string {
	ginkgo.GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := pgtest.CreateDatabase(ctx, "e2e")
	if err != nil {
		ginkgo.Fail("PostgreSQL test database (is the server up? .ci/run starts it): " + err.Error())
	}
	ginkgo.DeferCleanup(func(ctx context.Context) error { return db.Drop(ctx) }, ginkgo.NodeTimeout(time.Minute))
	return db.URL
}
