package usecase

import (
	"context"
	"errors"
	"fmt"
	"github.com/restreg/restreg/ports/porttest"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

// relayOutbox is an in-memory ports.Outbox whose reads and marks can be made
// to fail, and which checks that only acknowledged events are ever marked.
type relayOutbox struct {
	mu         sync.Mutex
	events     []core.Event
	failReads  int
	failMarks  int
	markCalls  [][]string
	acked      func(id string) bool
	badMarkIDs []string
}

func (o *relayOutbox) record(evs ...core.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, evs...)
}

func (o *relayOutbox) PendingEvents(_ context.Context, now time.Time, limit int) ([]core.Event, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failReads > 0 {
		o.failReads--
		return nil, fmt.Errorf("test outbox: read: %w", core.ErrUnavailable)
	}
	var out []core.Event
	for _, ev := range o.events {
		if len(out) == limit {
			break
		}
		if !ev.AvailableAt.After(now) {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (o *relayOutbox) MarkPublished(_ context.Context, ids ...string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failMarks > 0 {
		o.failMarks--
		return fmt.Errorf("test outbox: mark: %w", core.ErrUnavailable)
	}
	o.markCalls = append(o.markCalls, slices.Clone(ids))
	for _, id := range ids {
		if o.acked != nil && !o.acked(id) {
			o.badMarkIDs = append(o.badMarkIDs, id)
		}
	}
	o.events = slices.DeleteFunc(o.events, func(ev core.Event) bool { return slices.Contains(ids, ev.ID) })
	return nil
}

func (o *relayOutbox) ReleaseEvents(_ context.Context, userID string, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.events {
		if o.events[i].User.ID == userID && o.events[i].AvailableAt.After(at) {
			o.events[i].AvailableAt = at
		}
	}
	return nil
}

func (o *relayOutbox) Backlog(context.Context) (int, time.Time, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var oldest time.Time
	for _, ev := range o.events {
		if oldest.IsZero() || ev.OccurredAt.Before(oldest) {
			oldest = ev.OccurredAt
		}
	}
	return len(o.events), oldest, nil
}

func (o *relayOutbox) marked() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var all []string
	for _, c := range o.markCalls {
		all = append(all, c...)
	}
	return all
}

// flakyPublisher fails its first failFirst calls, and every call for an
// event listed in failIDs, and records what it acknowledged in order.
type flakyPublisher struct {
	mu        sync.Mutex
	failFirst int
	failIDs   map[string]int // remaining failures per event id; -1 = forever
	attempts  []string
	acked     []string
	notify    chan struct{}
}

func (p *flakyPublisher) Publish(ctx context.Context, events ...core.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		p.attempts = append(p.attempts, ev.ID)
		if p.failFirst > 0 {
			p.failFirst--
			return fmt.Errorf("test broker: %w", core.ErrUnavailable)
		}
		if n, ok := p.failIDs[ev.ID]; ok && n != 0 {
			if n > 0 {
				p.failIDs[ev.ID] = n - 1
			}
			return fmt.Errorf("test broker refuses %s: %w", ev.ID, core.ErrUnavailable)
		}
		p.acked = append(p.acked, ev.ID)
	}
	if p.notify != nil {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

func (p *flakyPublisher) isAcked(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.acked, id)
}

func (p *flakyPublisher) ackedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked)
}

func (p *flakyPublisher) attemptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.attempts)
}

// logRecords is a slog handler that keeps every record.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecords) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *logRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecords) WithGroup(string) slog.Handler      { return h }

func (h *logRecords) warnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level != slog.LevelWarn {
			continue
		}
		line := r.Message
		r.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return true
		})
		out = append(out, line)
	}
	return out
}

var relayEpoch = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// userEvents returns, for n users, a user_registered event each followed
// later by a user_activated event each, interleaved as real traffic would be.
func userEvents(n int) []core.Event {
	var evs []core.Event
	users := make([]core.PublicUser, n)
	for i := range n {
		users[i] = core.PublicUser{ID: fmt.Sprintf("user-%03d", i), Username: fmt.Sprintf("u%03d", i), Email: fmt.Sprintf("u%03d@example.com", i)}
		at := relayEpoch.Add(time.Duration(i) * time.Second)
		evs = append(evs, core.Event{ID: fmt.Sprintf("reg-%03d", i), Type: core.EventUserRegistered, Version: core.EventVersion, OccurredAt: at, AvailableAt: at, User: users[i]})
		if i%2 == 1 {
			activated := users[i-1]
			activated.IsActive = true
			evs = append(evs, core.Event{ID: fmt.Sprintf("act-%03d", i-1), Type: core.EventUserActivated, Version: core.EventVersion, OccurredAt: at, AvailableAt: at, User: activated})
		}
	}
	return evs
}

func eventIDs(evs []core.Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

func newTestRelay(t *testing.T, ob *relayOutbox, pub *flakyPublisher, interval time.Duration) (*Relay, *logRecords) {
	t.Helper()
	logs := &logRecords{}
	r := NewRelay(ob, pub, porttest.NewClock(relayEpoch.Add(time.Hour)), slog.New(logs), interval)
	r.minBackoff, r.maxBackoff = time.Millisecond, 20*time.Millisecond
	ob.acked = pub.isAcked
	return r, logs
}

// runRelay runs r in the background until the test ends and checks that Run
// returns nil once its context is cancelled.
func runRelay(t *testing.T, r *Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func waitForEmptyBacklog(t *testing.T, r *Relay) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _, err := r.Backlog(context.Background())
		if err != nil {
			t.Fatalf("Backlog: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog still holds %d events", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRelayDeliversEverythingInRecordOrderDespiteBrokerFailures(t *testing.T) {
	evs := userEvents(200) // 300 events: several batches
	ob := &relayOutbox{}
	ob.record(evs...)
	pub := &flakyPublisher{failFirst: 4, failIDs: map[string]int{evs[150].ID: 3, evs[260].ID: 1}}
	r, logs := newTestRelay(t, ob, pub, time.Hour)
	runRelay(t, r)
	waitForEmptyBacklog(t, r)

	if got, want := pub.ackedIDs(), eventIDs(evs); !slices.Equal(got, want) {
		t.Fatalf("acknowledged events differ from record order\n got %d: %v\nwant %d: %v", len(got), got, len(want), want)
	}
	if got, want := ob.marked(), eventIDs(evs); !slices.Equal(got, want) {
		t.Errorf("marked %d events, want each of the %d exactly once in order", len(got), len(want))
	}
	if len(ob.badMarkIDs) > 0 {
		t.Errorf("events marked published before the broker acknowledged them: %v", ob.badMarkIDs)
	}
	// After a failure the relay must retry the failed event before trying any
	// later one: attempts, with retries collapsed, follow record order.
	attempts := slices.Compact(pub.attemptedIDs())
	if !slices.Equal(attempts, eventIDs(evs)) {
		t.Errorf("a later event was tried before an earlier failed one was delivered: %v", attempts)
	}
	warns := logs.warnings()
	if len(warns) != 4+3+1 {
		t.Errorf("got %d warnings, want one per failed attempt (8): %q", len(warns), warns)
	}
	for _, w := range warns {
		if !strings.Contains(w, "retry_in=") || !strings.Contains(w, "dependency unavailable") {
			t.Errorf("warning lacks the retry delay or the cause: %q", w)
		}
		if !strings.Contains(w, "backlog=") || !strings.Contains(w, "oldest_waiting=") {
			t.Errorf("warning does not say how many events wait and for how long: %q", w)
		}
	}
}

func TestRelayFlushStopsAtFirstFailureAndMarksOnlyAcknowledgedEvents(t *testing.T) {
	evs := userEvents(6)
	ob := &relayOutbox{}
	ob.record(evs...)
	stuck := evs[3]
	pub := &flakyPublisher{failIDs: map[string]int{stuck.ID: -1}}
	r, _ := newTestRelay(t, ob, pub, time.Hour)

	err := r.Flush(context.Background())
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Flush = %v, want an error wrapping core.ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), stuck.ID) {
		t.Errorf("Flush error %q does not name the event that failed", err)
	}
	if got, want := pub.attemptedIDs(), eventIDs(evs[:4]); !slices.Equal(got, want) {
		t.Errorf("attempted %v, want %v: nothing after the failed event", got, want)
	}
	if got, want := ob.marked(), eventIDs(evs[:3]); !slices.Equal(got, want) {
		t.Errorf("marked %v, want only the acknowledged %v", got, want)
	}
	n, oldest, err := r.Backlog(context.Background())
	if err != nil || n != len(evs)-3 || !oldest.Equal(stuck.OccurredAt) {
		t.Errorf("Backlog = %d, %v, %v; want %d, %v, nil", n, oldest, err, len(evs)-3, stuck.OccurredAt)
	}

	delete(pub.failIDs, stuck.ID)
	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	if got, want := pub.ackedIDs(), eventIDs(evs); !slices.Equal(got, want) {
		t.Errorf("after recovery acknowledged %v, want %v", got, want)
	}
}

func TestRelayRetriesWhenTheStoreFailsWithoutPublishingTwice(t *testing.T) {
	evs := userEvents(30)
	ob := &relayOutbox{failReads: 3, failMarks: 2}
	ob.record(evs...)
	pub := &flakyPublisher{}
	r, _ := newTestRelay(t, ob, pub, time.Hour)
	runRelay(t, r)
	waitForEmptyBacklog(t, r)

	// A mark that fails after the broker acknowledged must not make the
	// relay publish the same events again once the store is back.
	if got, want := pub.ackedIDs(), eventIDs(evs); !slices.Equal(got, want) {
		t.Errorf("published %d events %v, want each of %d exactly once", len(got), got, len(want))
	}
}

func TestRelayWakePublishesWithoutWaitingForThePoll(t *testing.T) {
	ob := &relayOutbox{}
	pub := &flakyPublisher{notify: make(chan struct{}, 1)}
	r, _ := newTestRelay(t, ob, pub, time.Hour) // the poll alone would wait an hour
	runRelay(t, r)

	for i, ev := range userEvents(3) {
		ob.record(ev)
		for range 100 {
			r.Wake() // must never block, however often it is called
		}
		select {
		case <-pub.notify:
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d was not published after Wake", i)
		}
	}
	waitForEmptyBacklog(t, r)
}

func TestRelayLeavesHeldEventsUntilTheyAreReleased(t *testing.T) {
	clock := porttest.NewClock(relayEpoch.Add(time.Minute))
	ob := &relayOutbox{}
	held := userEvents(1)[0]
	held.AvailableAt = relayEpoch.Add(5 * time.Minute)
	ready := userEvents(2)[1]
	ready.ID = "ready"
	ob.record(held, ready)
	pub := &flakyPublisher{}
	r := NewRelay(ob, pub, clock, slog.New(&logRecords{}), time.Hour)

	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := pub.ackedIDs(); !slices.Equal(got, []string{"ready"}) {
		t.Fatalf("published %v, want only the event that is available now", got)
	}
	if err := ob.ReleaseEvents(context.Background(), held.User.ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(context.Background()); err != nil {
		t.Fatalf("Flush after release: %v", err)
	}
	if got := pub.ackedIDs(); !slices.Equal(got, []string{"ready", held.ID}) {
		t.Fatalf("published %v after release, want the held event too", got)
	}
}

func TestRelayFlushHonoursItsContext(t *testing.T) {
	ob := &relayOutbox{}
	ob.record(userEvents(2)...)
	pub := &flakyPublisher{}
	r, _ := newTestRelay(t, ob, pub, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush with a cancelled context = %v, want context.Canceled", err)
	}
	if got := pub.attemptedIDs(); len(got) != 0 {
		t.Errorf("published %v with a cancelled context", got)
	}
}

func TestRelayBackoffDoublesUpToTheCap(t *testing.T) {
	var got []time.Duration
	var d time.Duration
	for range 12 {
		d = nextBackoff(d, relayMinBackoff, relayMaxBackoff)
		got = append(got, d)
	}
	want := []time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond,
		25600 * time.Millisecond, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	if !slices.Equal(got, want) {
		t.Errorf("backoff sequence %v, want %v", got, want)
	}
}

// BenchmarkRelayFlush measures the relay's own cost per event (store and
// broker are in memory): reading, publishing one by one, marking.
func BenchmarkRelayFlush(b *testing.B) {
	evs := userEvents(1000)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ob := &relayOutbox{}
		ob.record(evs...)
		r := NewRelay(ob, &flakyPublisher{}, porttest.NewClock(relayEpoch.Add(time.Hour)), slog.New(&logRecords{}), time.Hour)
		b.StartTimer()
		if err := r.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
