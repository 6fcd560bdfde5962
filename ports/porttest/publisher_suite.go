package porttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// PublisherFeatures are what an event backend guarantees beyond the contract
// every backend keeps, in the manner of Watermill's pubsub/tests Features:
// EventPublisherSuite runs the cases a backend's features promise, so a
// backend states what it guarantees instead of skipping what it does not.
type PublisherFeatures struct {
	// Persistent: a message published before anyone subscribed reaches a
	// subscriber that comes later (a stream keeps it), so signals survive a
	// consumer that is restarting.
	Persistent bool
	// DeduplicatesByEventID: an event published twice (the relay republishes
	// one whose acknowledgement it never saw) reaches a subscriber once.
	DeduplicatesByEventID bool
	// GuaranteedOrder: one topic's messages reach a subscriber in the order
	// they were published.
	GuaranteedOrder bool
}

// PublisherBackend is one event backend under EventPublisherSuite.
type PublisherBackend struct {
	// Features are the backend's guarantees.
	Features PublisherFeatures
	// Start composes the backend's publisher for topics "<prefix><event
	// type>" and returns it with a receiver of those topics; both end with t.
	// A backend whose broker is not there skips t, naming the broker.
	Start func(t *testing.T, prefix string) (ports.EventPublisher, ReceiveFunc)
}

// EventPublisherSuite runs the ports.EventPublisher contract (EventPublisher)
// against b, then one case for each feature b claims. Every case composes
// the backend afresh on a topic prefix of its own.
func EventPublisherSuite(t *testing.T, b PublisherBackend) {
	t.Run("contract", func(t *testing.T) {
		prefix := newTopicPrefix()
		pub, receive := b.Start(t, prefix)
		EventPublisher(t, pub, receive, prefix)
	})
	if b.Features.Persistent {
		t.Run("persistent", func(t *testing.T) { testPersistent(t, b) })
	}
	if b.Features.DeduplicatesByEventID {
		t.Run("deduplicates by event id", func(t *testing.T) { testDeduplicates(t, b) })
	}
	if b.Features.GuaranteedOrder {
		t.Run("guaranteed order", func(t *testing.T) { testOrder(t, b) })
	}
}

// newTopicPrefix returns a prefix no other run uses, so runs against a
// shared broker never see each other's messages.
func newTopicPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	return "restreg-test-" + hex.EncodeToString(b[:]) + "."
}

// registeredEvent is a user_registered event of its own.
func registeredEvent(n int) core.Event {
	at := time.Date(2031, time.March, 14, 15, 9, 26, 0, time.UTC).Add(time.Duration(n) * time.Second)
	user := core.PublicUser{ID: NewEventID(), Username: fmt.Sprintf("user%03d", n), Email: fmt.Sprintf("user%03d@example.com", n)}
	return core.Event{
		ID: NewEventID(), Type: core.EventUserRegistered, Version: core.EventVersion,
		OccurredAt: at, AvailableAt: at, User: user,
		Request: core.RequestInfo{ID: fmt.Sprintf("req-%03d", n), RemoteAddr: "192.0.2.10", UserAgent: "contract/1.0"},
	}
}

// collect subscribes to topic and gathers what arrives until want messages
// came and a quiet period passed with no more, or the delivery timeout.
func collect(t *testing.T, receive ReceiveFunc, topic string, want int, publish func(context.Context)) []ReceivedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventDeliveryTimeout)
	defer cancel()
	msgs, err := receive(ctx, topic)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", topic, err)
	}
	if publish != nil {
		publish(ctx)
	}
	var got []ReceivedMessage
	for {
		wait := eventDeliveryTimeout
		if len(got) >= want {
			wait = eventQuietPeriod
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				return got
			}
			got = append(got, m)
		case <-time.After(wait):
			return got
		case <-ctx.Done():
			return got
		}
	}
}

func ids(msgs []ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.UUID
	}
	return out
}

// testPersistent publishes before anyone subscribes; a later subscriber
// must still get the message.
func testPersistent(t *testing.T, b PublisherBackend) {
	prefix := newTopicPrefix()
	pub, receive := b.Start(t, prefix)
	ev := registeredEvent(1)
	ctx, cancel := context.WithTimeout(context.Background(), eventDeliveryTimeout)
	defer cancel()
	if err := pub.Publish(ctx, ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := collect(t, receive, prefix+string(ev.Type), 1, nil)
	if !slices.Equal(ids(got), []string{ev.ID}) {
		t.Fatalf("a subscriber that came after the publish received %v, want the event %s once", ids(got), ev.ID)
	}
	checkEventMessage(t, prefix+string(ev.Type), got[0], ev)
}

// testDeduplicates publishes one event twice; the subscriber must get it once.
func testDeduplicates(t *testing.T, b PublisherBackend) {
	prefix := newTopicPrefix()
	pub, receive := b.Start(t, prefix)
	ev := registeredEvent(1)
	got := collect(t, receive, prefix+string(ev.Type), 1, func(ctx context.Context) {
		for range 2 {
			if err := pub.Publish(ctx, ev); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
	})
	if !slices.Equal(ids(got), []string{ev.ID}) {
		t.Fatalf("an event published twice was received as %v, want %s once", ids(got), ev.ID)
	}
}

// testOrder publishes a run of events on one topic; the subscriber must get
// them in that order.
func testOrder(t *testing.T, b PublisherBackend) {
	const n = 50
	prefix := newTopicPrefix()
	pub, receive := b.Start(t, prefix)
	events := make([]core.Event, n)
	want := make([]string, n)
	for i := range events {
		events[i] = registeredEvent(i)
		want[i] = events[i].ID
	}
	got := collect(t, receive, prefix+string(core.EventUserRegistered), n, func(ctx context.Context) {
		// Half in one call, then one at a time, as the relay publishes
		// batches and single events.
		if err := pub.Publish(ctx, events[:n/2]...); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		for _, ev := range events[n/2:] {
			if err := pub.Publish(ctx, ev); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
	})
	if !slices.Equal(ids(got), want) {
		t.Fatalf("received %d messages out of publishing order:\n got %v\nwant %v", len(got), ids(got), want)
	}
}
