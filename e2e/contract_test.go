package e2e

import (
	"testing"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/e2e/harness"
)

// TestHTTPContractOnTheBinary runs the HTTP contract suite — the one the
// compositions run in-process (app/restreg's TestHTTPContractOn*) — against
// bin/restreg as a separate process: one process per case, on SQLite and
// file mail, with the case's settings as environment variables.
func TestHTTPContractOnTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bin/restreg and runs it as a process; runs without -short (make test, make e2e)")
	}
	bin, err := harness.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	apisuite.Run(t, apisuite.ProcessStart(bin, map[string]string{"STORE": "sqlite", "EVENTS_BACKEND": "gochannel"}))
}
