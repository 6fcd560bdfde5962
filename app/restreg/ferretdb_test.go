package restreg_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// mongoURI is an embedded FerretDB (SQLite backend) serving the MongoDB wire
// protocol for the compositions on STORE=mongodb, or MONGODB_TEST_URI when a
// real MongoDB is given.
var mongoURI string

// mongoIsFerretDB says the concurrency guarantees cannot be checked on the
// MongoDB composition: FerretDB v1 does not apply conditional updates
// atomically, so several concurrent activations can win there.
var mongoIsFerretDB bool

func TestMain(m *testing.M) {
	if uri := os.Getenv("MONGODB_TEST_URI"); uri != "" {
		mongoURI = uri
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "restreg-app-ferretdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create FerretDB directory:", err)
		os.Exit(1)
	}
	f, err := startFerret(dir, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
		os.Exit(1)
	}
	mongoURI = f.uri
	mongoIsFerretDB = true
	code := m.Run()
	f.stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// ferret is an embedded FerretDB serving the SQLite databases of one directory.
type ferret struct {
	addr   string
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

// startFerret serves dir on addr ("127.0.0.1:0" picks a free port).
func startFerret(dir, addr string) (*ferret, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
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

// stop ends the server and waits until its port is closed.
func (f *ferret) stop() {
	f.cancel()
	<-f.done
}
