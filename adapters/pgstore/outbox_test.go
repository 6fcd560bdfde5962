package pgstore

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports/porttest"
)

var outboxEpoch = time.Date(2031, time.May, 6, 7, 8, 9, 0, time.UTC)

func eventIDs(events []core.Event) []string {
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
	}
	return ids
}

func expectPending(t *testing.T, s *Store, limit int, want ...core.Event) {
	t.Helper()
	got, err := s.PendingEvents(context.Background(), outboxEpoch.Add(time.Hour), limit)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	if fmt.Sprint(eventIDs(got)) != fmt.Sprint(eventIDs(want)) {
		t.Fatalf("PendingEvents = %q, want %q", eventIDs(got), eventIDs(want))
	}
}

// createWithEvents stores a new user named name with n events.
func createWithEvents(t *testing.T, s *Store, name string, n int) []core.Event {
	t.Helper()
	u := porttest.NewUser(name)
	events := make([]core.Event, n)
	for i := range events {
		events[i] = porttest.NewEvent(core.EventType(fmt.Sprintf("step%d", i)), u, outboxEpoch.Add(time.Duration(i)*time.Second))
	}
	if err := s.CreateUser(context.Background(), u, events...); err != nil {
		t.Fatal(err)
	}
	return events
}

func TestEventsLeasedToOneStoreAreNotHandedToAnother(t *testing.T) {
	ctx := context.Background()
	a, url := openFresh(t)
	b := openOn(t, url, Options{})
	first := createWithEvents(t, a, "first", 2)
	second := createWithEvents(t, a, "second", 1)

	// a's relay takes the first user's first event…
	expectPending(t, a, 1, first[0])
	// …so b gets neither it nor that user's next event, which must not
	// overtake it, but does get the other user's.
	expectPending(t, b, 10, second[0])
	// a gets its own lease again (to retry a failed publish) and the event
	// behind it, but not what b leased.
	expectPending(t, a, 10, first[0], first[1])
	expectPending(t, b, 10, second[0])

	if err := a.MarkPublished(ctx, first[0].ID, first[1].ID); err != nil {
		t.Fatal(err)
	}
	third := createWithEvents(t, b, "third", 2)
	expectPending(t, b, 10, second[0], third[0], third[1])
	expectPending(t, a, 10)
}

func TestClosingAStoreHandsItsLeasedEventsOver(t *testing.T) {
	a, url := openFresh(t)
	leaving, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := createWithEvents(t, a, "handover", 2)
	expectPending(t, leaving, 1, events[0])
	expectPending(t, a, 10)
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	expectPending(t, a, 10, events[0], events[1])
}

func TestAnExpiredLeaseLetsAnotherStoreTakeOver(t *testing.T) {
	crashed, url := openFresh(t)
	short := openOn(t, url, Options{ClaimLease: 200 * time.Millisecond})
	events := createWithEvents(t, crashed, "orphan", 2)
	// short leases the events and never publishes them, as an instance that
	// died mid-batch.
	expectPending(t, short, 10, events[0], events[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := crashed.PendingEvents(context.Background(), outboxEpoch.Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 0 {
			if fmt.Sprint(eventIDs(got)) != fmt.Sprint(eventIDs(events)) {
				t.Fatalf("after the lease expired PendingEvents = %q, want %q", eventIDs(got), eventIDs(events))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the events of an expired lease were never handed to another store")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// published is what the relays handed to the broker, in the order the
// broker accepted it.
type published struct {
	mu  sync.Mutex
	log []struct{ relay, event, user string }
}

// flakyPublisher accepts events after a short random delay and refuses one
// in fifty, so relays interleave and retry.
type flakyPublisher struct {
	name string
	into *published
	mu   sync.Mutex
	rnd  *rand.Rand
}

func (p *flakyPublisher) Publish(_ context.Context, events ...core.Event) error {
	p.mu.Lock()
	fail := p.rnd.IntN(50) == 0
	delay := time.Duration(p.rnd.IntN(300)) * time.Microsecond
	p.mu.Unlock()
	time.Sleep(delay)
	if fail {
		return fmt.Errorf("broker hiccup: %w", core.ErrUnavailable)
	}
	p.into.mu.Lock()
	defer p.into.mu.Unlock()
	for _, ev := range events {
		p.into.log = append(p.into.log, struct{ relay, event, user string }{p.name, ev.ID, ev.User.ID})
	}
	return nil
}

// Two instances on one database, each with its relay, while users register
// and are activated: every event reaches the broker exactly once, and each
// user's events in the order they were recorded.
func TestTwoRelaysPublishEveryEventOnceInPerUserOrder(t *testing.T) {
	a, url := openFresh(t)
	b := openOn(t, url, Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out published
	ctx, cancel := context.WithCancel(context.Background())
	var relays sync.WaitGroup
	for i, s := range []*Store{a, b} {
		pub := &flakyPublisher{name: fmt.Sprintf("relay-%d", i), into: &out, rnd: rand.New(rand.NewPCG(uint64(i), 42))}
		r := usecase.NewRelay(s, pub, usecase.SystemClock{}, log, 5*time.Millisecond)
		relays.Go(func() { _ = r.Run(ctx) })
	}
	defer func() { cancel(); relays.Wait() }()

	const writers, perWriter = 4, 30
	recorded := make(map[string][]string) // user → event ids in record order
	var recMu sync.Mutex
	var wg sync.WaitGroup
	for w := range writers {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for i := range perWriter {
				u := porttest.NewUser(fmt.Sprintf("w%du%d", w, i))
				now := time.Now()
				reg := porttest.NewEvent(core.EventUserRegistered, u, now)
				extra := porttest.NewEvent("profile_seeded", u, now)
				if err := s.CreateUser(context.Background(), u, reg, extra); err != nil {
					t.Error(err)
					return
				}
				active := u
				active.IsActive = true
				act := porttest.NewEvent(core.EventUserActivated, active, now)
				if ok, err := s.ActivateUser(context.Background(), u.ID, act); err != nil || !ok {
					t.Errorf("ActivateUser = %v, %v", ok, err)
					return
				}
				recMu.Lock()
				recorded[u.ID] = []string{reg.ID, extra.ID, act.ID}
				recMu.Unlock()
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _, err := a.Backlog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still unpublished after 60s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	relays.Wait()

	out.mu.Lock()
	defer out.mu.Unlock()
	times := map[string]int{}
	byUser := map[string][]string{}
	byRelay := map[string]int{}
	for _, e := range out.log {
		times[e.event]++
		byUser[e.user] = append(byUser[e.user], e.event)
		byRelay[e.relay]++
	}
	total := 0
	for user, want := range recorded {
		total += len(want)
		for _, id := range want {
			if times[id] != 1 {
				t.Errorf("event %s published %d times, want once", id, times[id])
			}
		}
		if fmt.Sprint(byUser[user]) != fmt.Sprint(want) {
			t.Errorf("user %s: events published as %q, recorded as %q", user, byUser[user], want)
		}
	}
	if len(out.log) != total {
		t.Errorf("%d events published, %d recorded", len(out.log), total)
	}
	t.Logf("%d events published: %v", len(out.log), byRelay)
}
