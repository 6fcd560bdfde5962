package e2e

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bin/restreg and runs it with NATS, PostgreSQL, FerretDB and an SMTP server; runs without -short (make test, make e2e)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "restreg end-to-end")
}

// buildDir holds the binary built for this run (on the first process only).
var buildDir string

var _ = SynchronizedBeforeSuite(func() []byte {
	Expect(harness.LoadContract()).To(Succeed(), "every response is checked against openapi/openapi.yaml; run `make openapi`")
	if harness.External() {
		return nil
	}
	dir, err := os.MkdirTemp("", "restreg-e2e-build-")
	Expect(err).NotTo(HaveOccurred())
	buildDir = dir
	bin, err := harness.Build(dir)
	if err != nil {
		Fail(err.Error())
	}
	return []byte(bin)
}, func(bin []byte) {
	Expect(harness.LoadContract()).To(Succeed())
	harness.UseBinary(string(bin))
})

var _ = SynchronizedAfterSuite(func() {}, func() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
})

// A failing spec shows the log of every server that was running.
var _ = AfterEach(harness.ReportLogsOnFailure)
