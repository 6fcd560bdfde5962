// Command restreg-load drives a restreg server on this machine and prints
// requests/s, latency, errors by status, the server's peak RSS and the raw
// speed of the password hasher. It is a separate binary so that the load
// tool and its dependencies stay out of the production restreg binary. See
// `restreg-load --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/restreg/restreg/app/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := loadtest.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
