package e2e

import (
	"net/http"
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
	if harness.External() {
		// The suite needs a fresh server with its own settings per case; a
		// deployment is checked by the Ginkgo journeys on its settings.
		t.Skip("starts a fresh bin/restreg for each case, and " + harness.EnvBaseURL + " points at a running deployment")
	}
	bin, err := harness.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.LoadContract(); err != nil {
		t.Fatalf("every answer is checked against openapi/openapi.yaml; run `make openapi`: %v", err)
	}
	start := apisuite.ProcessStart(bin, map[string]string{"STORE": "sqlite", "EVENTS_BACKEND": "gochannel"})
	apisuite.Run(t, func(t *testing.T, configure func(*apisuite.Settings)) *apisuite.Env {
		env := start(t, configure)
		env.CheckAnswer = documented
		return env
	})
}

// documented checks an answer against the committed OpenAPI document, when
// the document speaks for its request.
func documented(method, url string, requestBody []byte, status int, header http.Header, body []byte) error {
	if ok, err := harness.Describes(method, url); !ok {
		return err
	}
	return harness.ValidateResponse(&harness.Response{
		Method: method, URL: url, RequestBody: string(requestBody),
		Status: status, Header: header, Body: body,
	})
}
