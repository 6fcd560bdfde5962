package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/adapters/mongostore"
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
	srv, err := startFerret(dir, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
		os.Exit(1)
	}
	sharedURI = srv.uri
	code := m.Run()
	srv.stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// ferret is an embedded FerretDB (SQLite backend) running in this process.
type ferret struct {
	// addr is the host:port it listens on, to start a successor on.
	addr   string
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

// startFerret serves the SQLite databases in dir on addr ("127.0.0.1:0" picks
// a free port).
func startFerret(dir, addr string) (*ferret, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: addr},
		// FerretDB logs every connection at info level; keep test output to
		// what matters.
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	uri := f.MongoDBURI()
	u, err := url.Parse(uri)
	if err != nil {
		cancel()
		<-done
		return nil, fmt.Errorf("parse FerretDB URI %q: %w", uri, err)
	}
	return &ferret{addr: u.Host, uri: uri, cancel: cancel, done: done}, nil
}

// stop closes the listener and every connection and waits until FerretDB
// released its files.
func (f *ferret) stop() {
	f.cancel()
	<-f.done
}

// startFerretT is startFerret for one test, stopped at its end.
func startFerretT(t testing.TB, dir, addr string) *ferret {
	t.Helper()
	srv, err := startFerret(dir, addr)
	if err != nil {
		t.Fatalf("start embedded FerretDB on %s: %v", addr, err)
	}
	t.Cleanup(func() {
		select {
		case <-srv.done:
		default:
			srv.stop()
		}
	})
	return srv
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
