// Package e2e holds restreg's end-to-end suites. They build bin/restreg,
// run it as a separate process with chosen settings and talk to it only as
// its users do: over HTTP (every response checked against the committed
// openapi/openapi.yaml), through the e-mail it sends, and through the signals
// it publishes on a broker.
//
// Run them with `make e2e`, `go test ./e2e/...` or, for one cell of the
// store × mail × events matrix, `ginkgo --label-filter=store:mongodb ./e2e`.
// The harness package starts and stops the servers and test dependencies.
package e2e
