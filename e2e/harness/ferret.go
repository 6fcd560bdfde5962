package harness

import (
	"fmt"
	"os"
	"sync"

	"github.com/onsi/ginkgo/v2"

	"github.com/restreg/restreg/adapters/mongostore/ferrettest"
)

// FerretDB is an embedded FerretDB (SQLite backend) in the test process,
// the MongoDB the STORE=mongodb cell runs against. It can be stopped and
// started again on the same address with the same data to play an outage.
// (It is test equipment, like the SMTP server, not part of restreg under test.)
type FerretDB struct {
	dir string

	mu   sync.Mutex
	addr string
	uri  string
	srv  *ferrettest.Server
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
	if f.srv != nil {
		return fmt.Errorf("FerretDB already running on %s", f.addr)
	}
	srv, err := ferrettest.Start(f.dir, f.addr)
	if err != nil {
		return err
	}
	f.srv, f.addr, f.uri = srv, srv.Addr, srv.URI
	return nil
}

// Stop closes the listener and every connection and waits until FerretDB
// released its files.
func (f *FerretDB) Stop() {
	f.mu.Lock()
	srv := f.srv
	f.srv = nil
	f.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}
