package brokers_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/adapters/watermillpub/brokers"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// startEmbeddedNATS runs a JetStream server owned by the test, storing in
// dir, so that stopping it disturbs nothing else on the machine.
func startEmbeddedNATS(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("embedded nats: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		t.Fatal("embedded nats did not become ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// outcomeCounter counts, per event, the publishes that failed and those the
// broker acknowledged.
type outcomeCounter struct {
	ports.EventPublisher
	mu       sync.Mutex
	failures int
	acked    map[string]int
}

func (c *outcomeCounter) Publish(ctx context.Context, events ...core.Event) error {
	err := c.EventPublisher.Publish(ctx, events...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.failures++
		return err
	}
	for _, ev := range events {
		c.acked[ev.ID]++
	}
	return nil
}

func (c *outcomeCounter) failed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failures
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now().UTC() }

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRelayDeliversEveryEventOnceAfterNATSComesBack(t *testing.T) {
	const users = 100
	dir := t.TempDir()
	srv := startEmbeddedNATS(t, dir, server.RANDOM_PORT)
	port := srv.Addr().(*net.TCPAddr).Port
	natsURL := srv.ClientURL()
	prefix := "restreg."
	topic := watermillpub.Topic(prefix, core.EventUserRegistered)

	var pub ports.EventPublisher
	startApp(t, testConfig(natsURL, prefix), brokers.NATSModule, fx.Populate(&pub))
	probe, js := connectNATS(t, natsURL)
	waitForStreams(t, js, []string{topic})
	probe.Close()

	srv.Shutdown()
	srv.WaitForShutdown()

	// Registrations go on while the broker is down: each stores its user
	// and event together, as the register use case does.
	store := memstore.New()
	want := map[string]bool{}
	ctx := context.Background()
	for i := range users {
		u := porttest.NewUser(fmt.Sprintf("fault%03d", i))
		now := time.Now().UTC()
		ev := core.Event{
			ID: porttest.NewEventID(), Type: core.EventUserRegistered, Version: core.EventVersion,
			OccurredAt: now, AvailableAt: now, User: u.Public(),
			Request: core.RequestInfo{ID: fmt.Sprintf("req-%03d", i), RemoteAddr: "192.0.2.1", UserAgent: "fault-test"},
		}
		if err := store.CreateUser(ctx, u, ev); err != nil {
			t.Fatalf("registration %d while the broker is down: %v", i, err)
		}
		want[ev.ID] = true
	}

	counter := &outcomeCounter{EventPublisher: pub, acked: map[string]int{}}
	relay := usecase.NewRelay(store, counter, wallClock{}, testLogger(), 100*time.Millisecond)
	runCtx, stop := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-relayDone; err != nil {
			t.Errorf("relay Run: %v", err)
		}
	})
	relay.Wake()
	waitUntil(t, "the relay to try the stopped broker three times", 30*time.Second, func() bool { return counter.failed() >= 3 })
	if n, _, err := relay.Backlog(ctx); err != nil || n != users {
		t.Fatalf("backlog while the broker is down = %d, %v; want %d", n, err, users)
	}

	startEmbeddedNATS(t, dir, port)
	waitUntil(t, "the backlog to drain after the broker came back", 90*time.Second, func() bool {
		n, _, err := relay.Backlog(ctx)
		return err == nil && n == 0
	})

	// Read the whole stream from the start: every event exactly once.
	recvCtx, cancelRecv := context.WithCancel(ctx)
	defer cancelRecv()
	msgs, err := natsReceiver(t, natsURL)(recvCtx, topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	seen := map[string]int{}
	timeout := time.After(30 * time.Second)
	for len(seen) < users {
		select {
		case m := <-msgs:
			seen[m.UUID]++
			if err := porttest.ValidateEventPayload(m.Payload); err != nil {
				t.Errorf("message %s breaks the schema: %v", m.UUID, err)
			}
		case <-timeout:
			t.Fatalf("received %d of %d events", len(seen), users)
		}
	}
	quiet := time.After(time.Second)
	for done := false; !done; {
		select {
		case m := <-msgs:
			seen[m.UUID]++
		case <-quiet:
			done = true
		}
	}
	for id, n := range seen {
		if !want[id] {
			t.Errorf("received an event nobody recorded: %s", id)
		}
		if n != 1 {
			t.Errorf("event %s arrived %d times", id, n)
		}
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	for id := range want {
		if counter.acked[id] != 1 {
			t.Errorf("the relay published event %s %d times, want once", id, counter.acked[id])
		}
	}
}
