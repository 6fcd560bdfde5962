package passhash

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/restreg/restreg/core"
)

// gate admits at most cap(slots) hashes at once and lets at most queueSize
// callers wait for a slot, so the memory argon2id takes is bounded by the
// concurrency rather than by the number of requests in flight.
type gate struct {
	slots     chan struct{}
	waiting   atomic.Int64
	queueSize int64
	wait      time.Duration
}

func newGate(concurrency, queueSize int, wait time.Duration) *gate {
	return &gate{
		slots:     make(chan struct{}, concurrency),
		queueSize: int64(queueSize),
		wait:      wait,
	}
}

// acquire takes a slot and returns the function that gives it back. A full
// queue is refused at once so that overload costs the caller nothing.
func (g *gate) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("waiting for a hashing slot: %w", err)
	}
	release = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, nil
	default:
	}

	for {
		n := g.waiting.Load()
		if n >= g.queueSize {
			return nil, fmt.Errorf("%w: hash queue full (%d waiting)", core.ErrOverloaded, n)
		}
		if g.waiting.CompareAndSwap(n, n+1) {
			break
		}
	}
	defer g.waiting.Add(-1)

	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a hashing slot: %w", ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("%w: no hashing slot free within %s", core.ErrOverloaded, g.wait)
	}
	// select picks at random among ready cases; a caller that has gone away
	// must not spend a slot (and its memory) on a result nobody reads.
	if err := ctx.Err(); err != nil {
		release()
		return nil, fmt.Errorf("waiting for a hashing slot: %w", err)
	}
	return release, nil
}

// stats reports how many slots are taken and how many callers wait.
func (g *gate) stats() (running, waiting int) {
	return len(g.slots), int(g.waiting.Load())
}
