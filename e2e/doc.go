// Package e2e holds restreg's end-to-end suites. They build bin/restreg,
// run it as a separate process with chosen settings and talk to it only as
// its users do: over HTTP (every response checked against the committed
// openapi/openapi.yaml), through the e-mail it sends, and through the signals
// it publishes on a broker.
//
// TestHTTPContractOnTheBinary runs the HTTP contract suite (app/apisuite),
// the one the compositions run in-process, against bin/restreg; the Ginkgo
// specs keep what needs a process: signals, restarts, kills, brokers, SMTP
// and memory, plus the default-settings journeys that also run against a
// deployment named by RESTREG_E2E_BASE_URL.
//
// Run them with `make e2e`, `go test ./e2e/...` or, for one cell of the
// store × mail × events matrix, `ginkgo --label-filter=store:mongodb ./e2e`.
// The harness package starts and stops the servers and test dependencies.
package e2e
