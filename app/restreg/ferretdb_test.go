package restreg_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/restreg/restreg/adapters/mongostore/ferrettest"
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
		code := m.Run()
		dropPostgres()
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "restreg-app-ferretdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create FerretDB directory:", err)
		os.Exit(1)
	}
	f, err := ferrettest.Start(dir, "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
		os.Exit(1)
	}
	mongoURI = f.URI
	mongoIsFerretDB = true
	code := m.Run()
	dropPostgres()
	f.Stop()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
