package harness

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"time"

	"github.com/onsi/ginkgo/v2"
)

// Run runs a restreg command other than serve (e.g. import-django) to its
// end with DefaultSettings overlaid by settings, which must name the
// DATA_DIR, and returns its output and exit code.
func Run(settings map[string]string, args ...string) (stdout, stderr string, code int) {
	ginkgo.GinkgoHelper()
	RequireOwnServer("runs the restreg binary")
	bin := currentBinary()
	if bin == "" {
		ginkgo.Fail("harness.Run: no restreg binary; call harness.UseBinary in SynchronizedBeforeSuite")
	}
	if settings["DATA_DIR"] == "" {
		ginkgo.Fail("harness.Run: settings name no DATA_DIR")
	}
	env := DefaultSettings()
	for k, v := range settings {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = processEnv(env)
	cmd.Dir = settings["DATA_DIR"]
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		ginkgo.Fail("run " + bin + ": " + err.Error())
	}
	return out.String(), errOut.String(), code
}
