package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/adapters/mongostore"
	"github.com/restreg/restreg/adapters/mongostore/ferrettest"
)

// sharedURI is the embedded FerretDB every test uses unless it needs a server
// of its own to stop and start.
var sharedURI string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mongostore-ferretdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create FerretDB directory:", err)
		os.Exit(1)
	}
	srv, err := ferrettest.Start(dir, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
		os.Exit(1)
	}
	sharedURI = srv.URI
	code := m.Run()
	srv.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var dbCounter atomic.Int64

// freshDatabase returns a database name no other test uses.
func freshDatabase(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), dbCounter.Add(1))
}

// openT opens a store on database of uri and closes it (after dropping the
// database when drop is set) at the end of the test.
func openT(t testing.TB, uri, database string, drop bool) *mongostore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongostore.Open(ctx, uri, database)
	if err != nil {
		t.Fatalf("Open(%s): %v", database, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if drop {
			dropDatabase(t, uri, database)
		}
		if err := s.Close(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawClient connects to uri directly, for what the store does not expose.
func rawClient(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatalf("connect to %s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c
}

func dropDatabase(t testing.TB, uri, database string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Errorf("connect to drop %s: %v", database, err)
		return
	}
	defer func() { _ = c.Disconnect(ctx) }()
	if err := c.Database(database).Drop(ctx); err != nil {
		t.Errorf("drop %s: %v", database, err)
	}
}

// concurrencyLimit returns why the server at uri cannot pass the concurrency
// cases of the contract, or "" when it can. FerretDB says who it is in
// buildInfo (ferretdbVersion); MongoDB does not have that field.
func concurrencyLimit(t testing.TB, uri string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var info bson.M
	if err := rawClient(t, uri).Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		t.Fatalf("buildInfo: %v", err)
	}
	if v, ok := info["ferretdbVersion"]; ok {
		return fmt.Sprintf("the server is FerretDB (buildInfo reports ferretdbVersion %q), which does not apply conditional updates, $push and $inc atomically, so several concurrent activations can all win; set MONGODB_TEST_URI to a real MongoDB to run these cases", fmt.Sprint(v))
	}
	return ""
}
