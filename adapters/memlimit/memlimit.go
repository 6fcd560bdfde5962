// Package memlimit is the in-memory ports.RateLimiter: the default, right
// for one server process (several processes would each allow the whole
// limit; use the Redis limiter for those).
//
// It runs the generic cell rate algorithm (GCRA): a limit of N per period
// lets a key make N requests at once and then one more every period/N, the
// long-run rate staying N per period. A key costs one timestamp. A key is
// forgotten only once its allowance is whole again (its theoretical arrival
// time has passed), when forgetting it changes nothing; a key that is still
// counting is never dropped, so flooding the limiter with new keys cannot
// reset anyone's count. Memory is bounded (Options.MaxKeys): while the table
// is full of counting keys, a new key is not tracked and its check answers
// core.ErrUnavailable, which the use cases log and let through (fail open):
// a flood of keys must never make the limiter refuse everyone new, or a
// stranger could lock users out.
package memlimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
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
// decayed keys, so the sweep's cost is spread over many requests.
const sweepEvery = 1024

// fullSweepGap is the least time between two sweeps of a full shard: a
// flood of new keys against a full table then costs one pass over the
// shard per gap, not one per request.
const fullSweepGap = 100 * time.Millisecond

// Options tunes a Limiter.
type Options struct {
	// MaxKeys bounds how many keys are tracked at once; 0 means
	// DefaultMaxKeys. Keys whose allowance is whole again are dropped to make
	// room; keys still counting never are. While every slot of a key's shard
	// holds a counting key, a new key is not tracked (its check answers
	// core.ErrUnavailable): the limits of everyone already counted hold, and
	// newcomers are let through rather than locked out.
	MaxKeys int
}

// Limiter is an in-memory ports.RateLimiter, safe for concurrent use.
type Limiter struct {
	seed   maphash.Seed
	origin time.Time
	// now is the time since origin on the monotonic clock; tests replace it.
	now    func() time.Duration
	shards [shardCount]shard
}

type shard struct {
	mu sync.Mutex
	// tat maps a key to its theoretical arrival time: the monotonic instant
	// (since origin) at which its allowance is whole again.
	tat     map[string]time.Duration
	max     int
	inserts int
	// earliest is at most the smallest tat in the map (exact after a sweep;
	// inserts can only lower it, updates only raise a tat): before it, no key
	// can have decayed and a sweep would find nothing.
	earliest time.Duration
	// lastFull is when a full shard was last swept.
	lastFull time.Duration
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
	l.now = func() time.Duration { return time.Since(l.origin) }
	for i := range l.shards {
		l.shards[i].tat = map[string]time.Duration{}
		l.shards[i].max = perShard
		l.shards[i].earliest = math.MaxInt64
		l.shards[i].lastFull = -fullSweepGap
	}
	return l
}

// Allow counts one request for key against limit (GCRA). Time is measured
// on the monotonic clock, so a wall-clock step neither frees nor blocks
// anyone. A new key that finds its shard full of counting keys is not
// tracked: the error wraps core.ErrUnavailable, so the caller lets it through.
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
	now := l.now()

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
		if room := sh.makeRoom(now); !room {
			return false, 0, fmt.Errorf("memlimit: allow: every slot holds a key that is still counting: %w", core.ErrUnavailable)
		}
		sh.earliest = min(sh.earliest, tat+interval)
	}
	sh.tat[key] = tat + interval
	return true, 0, nil
}

// makeRoom readies the shard for one more key: every sweepEvery new keys,
// and whenever the shard is full, it forgets the keys that have decayed.
// room is false when the shard stays full. The caller holds the lock.
func (sh *shard) makeRoom(now time.Duration) (room bool) {
	sh.inserts++
	if sh.inserts%sweepEvery == 0 {
		sh.sweep(now)
	}
	if len(sh.tat) < sh.max {
		return true
	}
	if now >= sh.earliest && now-sh.lastFull >= fullSweepGap {
		sh.lastFull = now
		sh.sweep(now)
		if len(sh.tat) < sh.max {
			return true
		}
	}
	return false
}

// sweep forgets the keys whose allowance is whole again (they would be
// allowed as if new) and records the earliest time one of the rest decays.
// The caller holds the lock.
func (sh *shard) sweep(now time.Duration) {
	earliest := time.Duration(math.MaxInt64)
	for k, tat := range sh.tat {
		if tat <= now {
			delete(sh.tat, k)
			continue
		}
		earliest = min(earliest, tat)
	}
	sh.earliest = earliest
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
