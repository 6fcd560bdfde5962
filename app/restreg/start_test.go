package restreg_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/app/restreg"
)

// startT starts the composed server for s, quietly, and stops it (checking
// the stop) when the test ends.
func startT(t testing.TB, s restreg.Config, extra ...fx.Option) *restreg.Running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := restreg.Start(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}
