package harness

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/onsi/ginkgo/v2"
)

// FerretDB is an embedded FerretDB (SQLite backend) in the test process,
// the MongoDB the STORE=mongodb cell runs against. It can be stopped and
// started again on the same address with the same data to play an outage.
type FerretDB struct {
	dir string

	mu     sync.Mutex
	addr   string
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartFerretDB runs FerretDB on a free port of 127.0.0.1 with its data in a
// temporary directory, stopped and removed when the current spec or
// container ends.
func StartFerretDB() *FerretDB {
	ginkgo.GinkgoHelper()
	dir, err := os.MkdirTemp("", "restreg-e2e-ferretdb-")
	if err != nil {
		ginkgo.Fail("create FerretDB directory: " + err.Error())
	}
	f := &FerretDB{dir: dir, addr: "127.0.0.1:0"}
	ginkgo.DeferCleanup(os.RemoveAll, dir)
	if err := f.Start(); err != nil {
		ginkgo.Fail("start FerretDB: " + err.Error())
	}
	ginkgo.DeferCleanup(f.Stop)
	return f
}

// URI is the MONGODB_URI that reaches this FerretDB.
func (f *FerretDB) URI() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uri
}

// Start serves (again) on the FerretDB's address.
func (f *FerretDB) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done != nil {
		return fmt.Errorf("FerretDB already running on %s", f.addr)
	}
	db, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: f.addr},
		// FerretDB logs every connection at info level; only its errors
		// belong in a failing spec's output.
		Logger:    slog.New(slog.NewTextHandler(ginkgo.GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelError})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + f.dir + "/",
	})
	if err != nil {
		return fmt.Errorf("configure FerretDB: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = db.Run(ctx)
	}()
	uri := db.MongoDBURI()
	u, err := url.Parse(uri)
	if err != nil {
		cancel()
		<-done
		return fmt.Errorf("parse FerretDB URI %q: %w", uri, err)
	}
	f.addr, f.uri, f.cancel, f.done = u.Host, uri, cancel, done
	return nil
}

// Stop closes the listener and every connection and waits until FerretDB
// released its files.
func (f *FerretDB) Stop() {
	f.mu.Lock()
	cancel, done := f.cancel, f.done
	f.cancel, f.done = nil, nil
	f.mu.Unlock()
	if done == nil {
		return
	}
	cancel()
	<-done
}
