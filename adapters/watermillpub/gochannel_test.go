package watermillpub_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
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

func TestGoChannelPublishingDoesNotWaitForListeners(t *testing.T) {
	var pub ports.EventPublisher
	var sub message.Subscriber
	startApp(t, testConfig("", "app."), watermillpub.GoChannelModule, fx.Populate(&pub, &sub))

	// A subscriber that never reads must not hold up the relay.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := sub.Subscribe(ctx, "app.user_registered"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range 50 {
			if err := pub.Publish(context.Background(), sampleEvent(core.EventUserRegistered)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
}

func TestReceiverGetsSignalsAndAgainAfterAnError(t *testing.T) {
	var pub ports.EventPublisher
	got := make(chan core.Event, 4)
	var calls atomic.Int32
	handler := func(_ context.Context, ev core.Event) error {
		got <- ev
		if calls.Add(1) == 1 {
			return errors.New("crm is down")
		}
		return nil
	}
	activated := make(chan core.Event, 4)
	startApp(t, testConfig("", "app."), watermillpub.GoChannelModule,
		watermillpub.Receiver(core.EventUserRegistered, handler),
		watermillpub.Receiver(core.EventUserActivated, func(_ context.Context, ev core.Event) error { activated <- ev; return nil }),
		fx.Populate(&pub))

	ev := sampleEvent(core.EventUserRegistered)
	if err := pub.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	ev.AvailableAt = time.Time{}
	for attempt := 1; attempt <= 2; attempt++ {
		select {
		case r := <-got:
			if r != ev {
				t.Fatalf("attempt %d: receiver got %+v, want %+v", attempt, r, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("attempt %d: receiver got nothing", attempt)
		}
	}
	select {
	case r := <-got:
		t.Errorf("receiver got the event again after handling it: %+v", r)
	case r := <-activated:
		t.Errorf("the user_activated receiver got a user_registered signal: %+v", r)
	case <-time.After(1500 * time.Millisecond):
	}
}

func TestListenSkipsMessagesThatAreNotEvents(t *testing.T) {
	g := watermillpub.NewGoChannel(testLogger())
	t.Cleanup(func() { _ = g.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan core.Event, 4)
	if err := watermillpub.Listen(ctx, g, "app.", core.EventUserActivated, func(_ context.Context, ev core.Event) error {
		got <- ev
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := g.Publish("app.user_activated", message.NewMessage("not-an-event", []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent(core.EventUserActivated)
	if err := watermillpub.NewPublisher(g, "app.").Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.ID != ev.ID {
			t.Fatalf("handler got %+v, want event %s", r, ev.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler never got the event published after a malformed message")
	}
	select {
	case r := <-got:
		t.Errorf("handler got a second call: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	ev := sampleEvent(core.EventUserRegistered)
	for b.Loop() {
		if _, err := watermillpub.EncodeEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}
