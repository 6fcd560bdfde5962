// Package memlimit is the in-memory ports.RateLimiter: the default, right
// for one server process (several processes would each allow the whole
// limit; use the Redis limiter for those).
//
// It runs the generic cell rate algorithm (GCRA): a limit of N per period
// lets a key make N requests at once and then one more every period/N, the
// long-run rate staying N per period. A key costs one timestamp, and keys
// whose allowance is whole again are forgotten, so memory stays bounded
// (Options.MaxKeys) however many clients come and go.
package memlimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Module provides an empty in-memory limiter as ports.RateLimiter.
var Module = fx.Module("memlimit",
	fx.Provide(fx.Annotate(func() *Limiter { return New(Options{}) }, fx.As(new(ports.RateLimiter)))),
)

// DefaultMaxKeys bounds the keys a limiter tracks unless Options say
// otherwise: about 10 MB at most.
const DefaultMaxKeys = 100_000

// shardCount spreads keys over independently locked maps, so concurrent
// requests for different keys rarely wait for each other.
const shardCount = 32

// sweepEvery is how many new keys a shard takes between two sweeps of its
// idle keys.
const sweepEvery = 1024

// Options tunes a Limiter.
type Options struct {
	// MaxKeys bounds how many keys are tracked at once; 0 means
	// DefaultMaxKeys. Idle keys are dropped first; beyond the bound, keys
	// still counting are dropped too (their clients start afresh), because
	// a flood of new keys must not exhaust memory.
	MaxKeys int
}

// Limiter is an in-memory ports.RateLimiter, safe for concurrent use.
type Limiter struct {
	seed   maphash.Seed
	origin time.Time
	shards [shardCount]shard
}

type shard struct {
	mu sync.Mutex
	// tat maps a key to its theoretical arrival time: the monotonic instant
	// (since origin) at which its allowance is whole again.
	tat     map[string]time.Duration
	max     int
	inserts int
}

var _ ports.RateLimiter = (*Limiter)(nil)

// New returns a limiter that tracks no key yet.
func New(opts Options) *Limiter {
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	perShard := max(1, maxKeys/shardCount)
	l := &Limiter{seed: maphash.MakeSeed(), origin: time.Now()}
	for i := range l.shards {
		l.shards[i].tat = map[string]time.Duration{}
		l.shards[i].max = perShard
	}
	return l
}

// Allow counts one request for key against limit (GCRA). Time is measured
// on the monotonic clock, so a wall-clock step neither frees nor blocks
// anyone.
func (l *Limiter) Allow(ctx context.Context, key string, limit core.Rate) (bool, time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, fmt.Errorf("memlimit: allow: %w", err)
	}
	if limit.Unlimited() {
		return true, 0, nil
	}
	interval := limit.Period / time.Duration(limit.Count)
	if interval <= 0 {
		interval = 1
	}
	// A burst of Count requests fits within the tolerance.
	tolerance := limit.Period - interval
	now := time.Since(l.origin)

	sh := &l.shards[maphash.String(l.seed, key)%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, known := sh.tat[key]
	if tat < now {
		tat = now
	}
	if wait := tat - tolerance - now; wait > 0 {
		return false, wait, nil
	}
	if !known {
		sh.inserts++
		if sh.inserts%sweepEvery == 0 || len(sh.tat) >= sh.max {
			sh.sweep(now)
		}
	}
	sh.tat[key] = tat + interval
	return true, 0, nil
}

// sweep forgets keys whose allowance is whole again (they would be allowed
// as if new) and, when that is not enough, any keys, until the shard is
// below its bound. The caller holds the lock.
func (sh *shard) sweep(now time.Duration) {
	for k, tat := range sh.tat {
		if tat <= now {
			delete(sh.tat, k)
		}
	}
	for k := range sh.tat {
		if len(sh.tat) < sh.max {
			break
		}
		delete(sh.tat, k) // map order is random: no client is singled out
	}
}

// Len returns how many keys are tracked now.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.tat)
		sh.mu.Unlock()
	}
	return n
}
