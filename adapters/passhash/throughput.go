package passhash

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Throughput measures how many hashes per second the configured
// PASSWORD_HASHER computes on this machine with concurrency hashes running
// at once for about d, without the queue; it is the ceiling the register
// endpoint can approach.
func Throughput(ctx context.Context, s Config, concurrency int, d time.Duration) (hashesPerSecond float64, err error) {
	if concurrency < 1 {
		return 0, fmt.Errorf("passhash: throughput: concurrency must be at least 1 (got %d)", concurrency)
	}
	if d <= 0 {
		return 0, fmt.Errorf("passhash: throughput: duration must be positive (got %s)", d)
	}
	s.HashConcurrency = concurrency
	h, err := New(s)
	if err != nil {
		return 0, fmt.Errorf("passhash: throughput: %w", err)
	}

	var (
		count    atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		hashErrs []error
	)
	start := time.Now()
	deadline := start.Add(d)
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if _, err := h.hashNow("throughput-probe"); err != nil {
					mu.Lock()
					hashErrs = append(hashErrs, err)
					mu.Unlock()
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	// The last hash of each worker ends past the deadline; dividing by the
	// real elapsed time, not d, keeps the figure honest.
	elapsed := time.Since(start)
	if err := errors.Join(hashErrs...); err != nil {
		return 0, fmt.Errorf("passhash: throughput: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("passhash: throughput: %w", err)
	}
	return float64(count.Load()) / elapsed.Seconds(), nil
}
