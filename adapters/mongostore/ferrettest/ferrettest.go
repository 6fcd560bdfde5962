// Package ferrettest runs FerretDB v1 (SQLite backend) inside a test process,
// so code that speaks MongoDB's wire protocol can be tested where no MongoDB
// server exists. FerretDB lacks some of MongoDB's guarantees (conditional
// updates are not atomic under concurrency); adapters/mongostore's README
// section lists them.
package ferrettest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is one embedded FerretDB serving the databases of one directory.
type Server struct {
	// Addr is the host:port it listens on, to start a successor on the same port.
	Addr string
	// URI is the mongodb:// URI to connect to it.
	URI string

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start serves the SQLite databases in dir on addr ("127.0.0.1:0" picks a
// free port). Starting again on the same dir and Addr after Stop gives a
// server with the same data, as a restarted MongoDB would.
func Start(dir, addr string) (*Server, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: addr},
		// FerretDB logs every connection at info level; keep test output to
		// what matters.
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("ferrettest: configure FerretDB: %w", err)
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
		return nil, fmt.Errorf("ferrettest: parse FerretDB URI %q: %w", uri, err)
	}
	return &Server{Addr: u.Host, URI: uri, cancel: cancel, done: done}, nil
}

// StartT is Start for one test: it fails the test when FerretDB cannot start
// and stops the server when the test ends.
func StartT(t testing.TB, dir, addr string) *Server {
	t.Helper()
	s, err := Start(dir, addr)
	if err != nil {
		t.Fatalf("start embedded FerretDB on %s: %v", addr, err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop closes the listener and every connection and waits until FerretDB
// released its files. Stopping twice is harmless.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
}
