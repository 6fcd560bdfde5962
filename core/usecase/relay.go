package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Relay defaults. The backoff bounds keep a flapping broker from being
// hammered while still noticing a recovery within half a minute.
const (
	relayBatchSize  = 100
	relayMinBackoff = 100 * time.Millisecond
	relayMaxBackoff = 30 * time.Second
)

// Relay is the outbox relay: it moves events recorded by the use cases from
// the store to the broker, at least once and in the order they were recorded.
type Relay struct {
	outbox   ports.Outbox
	pub      ports.EventPublisher
	clock    ports.Clock
	log      *slog.Logger
	interval time.Duration

	batch      int
	minBackoff time.Duration
	maxBackoff time.Duration

	wake chan struct{}
	// pass admits one publishing pass at a time, so Run and Flush never
	// publish the same event concurrently.
	pass chan struct{}
	// unmarked holds ids the broker acknowledged but the store has not yet
	// forgotten; they are marked before anything is read again, so a store
	// hiccup after a publish does not send those events twice.
	unmarked []string
}

// NewRelay returns a relay that polls outbox every interval (and whenever
// Wake is called) and hands pending events to pub.
func NewRelay(outbox ports.Outbox, pub ports.EventPublisher, clock ports.Clock, log *slog.Logger, interval time.Duration) *Relay {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = time.Second
	}
	return &Relay{
		outbox:     outbox,
		pub:        pub,
		clock:      clock,
		log:        log,
		interval:   interval,
		batch:      relayBatchSize,
		minBackoff: relayMinBackoff,
		maxBackoff: relayMaxBackoff,
		wake:       make(chan struct{}, 1),
		pass:       make(chan struct{}, 1),
	}
}

// Wake makes a running relay look for events at once; use cases call it after
// recording events. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes pending events until ctx ends, then returns nil. Failures of
// the store or the broker never stop it: it logs them and retries with
// exponential backoff.
func (r *Relay) Run(ctx context.Context) error {
	var backoff time.Duration
	failures := 0
	timer := time.NewTimer(r.interval)
	defer timer.Stop()
	for {
		err := r.drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var wait time.Duration
		wakeable := r.wake
		if err != nil {
			failures++
			backoff = nextBackoff(backoff, r.minBackoff, r.maxBackoff)
			wait = backoff
			// While the broker or store is failing, new events must not cut
			// the backoff short, or a busy server would hammer a dead broker.
			wakeable = nil
			attrs := []any{slog.Int("failures", failures), slog.Duration("retry_in", wait), slog.String("error", err.Error())}
			attrs = append(attrs, r.backlogAttrs(ctx)...)
			r.log.Warn("outbox relay: publishing failed, will retry", attrs...)
		} else {
			if failures > 0 {
				r.log.Info("outbox relay: publishing recovered", slog.Int("failures", failures))
			}
			failures, backoff = 0, 0
			wait = r.interval
		}
		// Since Go 1.23 Reset discards a stale tick, so no draining is needed.
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-wakeable:
		case <-timer.C:
		}
	}
}

// backlogAttrs describes the backlog for a log line, so an operator sees how
// many events wait while the broker is away; nothing when the store cannot
// tell either.
func (r *Relay) backlogAttrs(ctx context.Context) []any {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	n, oldest, err := r.outbox.Backlog(cctx)
	if err != nil {
		return nil
	}
	attrs := []any{slog.Int("backlog", n)}
	if n > 0 && !oldest.IsZero() {
		attrs = append(attrs, slog.Duration("oldest_waiting", r.clock.Now().Sub(oldest).Round(time.Second)))
	}
	return attrs
}

// Flush makes one pass that publishes every event available now, for a
// graceful shutdown. Events it could not publish stay in the outbox for the
// next start; the error says why.
func (r *Relay) Flush(ctx context.Context) error {
	if err := r.drain(ctx); err != nil {
		return fmt.Errorf("outbox relay: flush: %w", err)
	}
	return nil
}

// Backlog returns how many events wait to be published and when the oldest
// of them occurred (zero time when none).
func (r *Relay) Backlog(ctx context.Context) (int, time.Time, error) {
	n, oldest, err := r.outbox.Backlog(ctx)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox relay: backlog: %w", err)
	}
	return n, oldest, nil
}

// drain publishes batches until nothing is available or something fails.
func (r *Relay) drain(ctx context.Context) error {
	select {
	case r.pass <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-r.pass }()

	if len(r.unmarked) > 0 {
		if err := r.outbox.MarkPublished(ctx, r.unmarked...); err != nil {
			return fmt.Errorf("mark %d published events: %w", len(r.unmarked), err)
		}
		r.unmarked = nil
	}
	for {
		events, err := r.outbox.PendingEvents(ctx, r.clock.Now(), r.batch)
		if err != nil {
			return fmt.Errorf("read pending events: %w", err)
		}
		if len(events) == 0 {
			return nil
		}
		published, pubErr := r.publishInOrder(ctx, events)
		if len(published) > 0 {
			if err := r.outbox.MarkPublished(ctx, published...); err != nil {
				r.unmarked = published
				return errors.Join(pubErr, fmt.Errorf("mark %d published events: %w", len(published), err))
			}
		}
		if pubErr != nil {
			return pubErr
		}
		if len(events) < r.batch {
			return nil
		}
	}
}

// publishInOrder publishes events one by one and stops at the first failure,
// so a later event of a user never overtakes an earlier one. It returns the
// ids the broker acknowledged.
func (r *Relay) publishInOrder(ctx context.Context, events []core.Event) ([]string, error) {
	published := make([]string, 0, len(events))
	for _, ev := range events {
		if err := ctx.Err(); err != nil {
			return published, err
		}
		if err := r.pub.Publish(ctx, ev); err != nil {
			return published, fmt.Errorf("publish %s event %s: %w", ev.Type, ev.ID, err)
		}
		published = append(published, ev.ID)
	}
	return published, nil
}

// nextBackoff doubles prev within [min, max].
func nextBackoff(prev, min, max time.Duration) time.Duration {
	if prev < min {
		return min
	}
	next := prev * 2
	if next > max || next <= 0 {
		return max
	}
	return next
}
