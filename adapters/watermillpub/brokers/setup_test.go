package brokers_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(url, prefix string) watermillpub.Config {
	return watermillpub.Config{URL: url, TopicPrefix: prefix}
}

// startApp starts an fx application made of module and opts with s and a
// logger in the graph, and stops it when the test ends.
func startApp(t *testing.T, s watermillpub.Config, module fx.Option, opts ...fx.Option) {
	t.Helper()
	app := fx.New(append([]fx.Option{fx.NopLogger, fx.Supply(s), fx.Supply(testLogger()), module}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

func sampleEvent(typ core.EventType) core.Event {
	at := time.Date(2031, time.March, 14, 15, 9, 26, 535897000, time.UTC)
	return core.Event{
		ID:          porttest.NewEventID(),
		Type:        typ,
		Version:     core.EventVersion,
		OccurredAt:  at,
		AvailableAt: at.Add(time.Minute),
		User:        core.PublicUser{ID: "u-1", Username: "ada", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", IsActive: typ == core.EventUserActivated},
		Request:     core.RequestInfo{ID: "req-1", RemoteAddr: "192.0.2.1", UserAgent: "test/1"},
	}
}
