// Command restreg serves self-service registration with e-mail verification.
// See `restreg help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/restreg/restreg/app/restreg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := restreg.Main(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
