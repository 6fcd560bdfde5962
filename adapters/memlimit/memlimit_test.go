package memlimit_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

func TestRateLimiterContract(t *testing.T) {
	porttest.RateLimiter(t, func(*testing.T) ports.RateLimiter { return memlimit.New(memlimit.Options{}) })
}

func TestModuleProvidesTheLimiter(t *testing.T) {
	var l ports.RateLimiter
	app := fxtest.New(t, memlimit.Module, fx.Populate(&l))
	app.RequireStart()
	defer app.RequireStop()
	limit := core.Rate{Count: 1, Period: time.Hour}
	if ok, _, err := l.Allow(t.Context(), "k", limit); !ok || err != nil {
		t.Fatalf("first Allow = %v, %v", ok, err)
	}
	if ok, wait, err := l.Allow(t.Context(), "k", limit); ok || err != nil || wait <= 0 {
		t.Fatalf("second Allow = %v, %v, %v; want refused with a wait", ok, wait, err)
	}
}

// fakeClock is a time source tests move by hand.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newLimiter(maxKeys int) (*memlimit.Limiter, *fakeClock) {
	l := memlimit.New(memlimit.Options{MaxKeys: maxKeys})
	c := &fakeClock{}
	l.SetClock(c.now)
	return l, c
}

// An attacker who floods the limiter with new keys must not be able to
// reset someone's count: a key that is still counting is never dropped.
func TestCountingKeySurvivesAFloodOfNewKeys(t *testing.T) {
	l, clock := newLimiter(64)
	ctx := context.Background()
	held := core.Rate{Count: 1, Period: time.Hour}
	if ok, _, _ := l.Allow(ctx, "victim", held); !ok {
		t.Fatal("first request of the victim refused")
	}
	for i := range 10_000 {
		if _, _, err := l.Allow(ctx, fmt.Sprintf("flood-%d", i), held); err != nil && !errors.Is(err, core.ErrUnavailable) {
			t.Fatal(err)
		}
		if i%100 == 0 {
			clock.advance(time.Second)
		}
	}
	if n := l.Len(); n > 64 {
		t.Fatalf("%d keys tracked after a flood of 10,000, want at most MaxKeys = 64", n)
	}
	if ok, _, _ := l.Allow(ctx, "victim", held); ok {
		t.Fatal("the victim's count was lost while its limit still applied")
	}
}

// A table full of counting keys keeps counting them, and lets newcomers
// through untracked (an error the use cases log) instead of refusing them:
// a flood of keys must never lock anyone out.
func TestFullTableLetsNewKeysThroughUntrackedUntilSomeDecay(t *testing.T) {
	const maxKeys = 320
	l, clock := newLimiter(maxKeys)
	ctx := context.Background()
	limit := core.Rate{Count: 2, Period: time.Minute}
	var tracked []string
	for i := range 5000 {
		key := fmt.Sprintf("k%d", i)
		ok, _, err := l.Allow(ctx, key, limit)
		switch {
		case err == nil && ok:
			tracked = append(tracked, key)
		case !errors.Is(err, core.ErrUnavailable):
			t.Fatalf("new key %s with the table full = %v, %v; want core.ErrUnavailable (let through untracked)", key, ok, err)
		}
	}
	if len(tracked) != maxKeys || l.Len() != maxKeys {
		t.Fatalf("%d keys admitted, %d tracked; want the table filled to %d", len(tracked), l.Len(), maxKeys)
	}
	// Tracked keys go on counting: each has one request of its burst left.
	for _, key := range tracked[:10] {
		if ok, _, _ := l.Allow(ctx, key, limit); !ok {
			t.Fatalf("tracked key %s lost its second request", key)
		}
		if ok, _, _ := l.Allow(ctx, key, limit); ok {
			t.Fatalf("tracked key %s allowed a third request", key)
		}
	}
	// After one interval (period/Count) the keys asked once have decayed.
	clock.advance(limit.Period/2 + time.Millisecond)
	for i := range 5000 {
		if ok, _, err := l.Allow(ctx, fmt.Sprintf("later-%d", i), limit); ok && err == nil {
			return
		}
	}
	t.Fatal("no new key admitted after the tracked keys decayed")
}

// Keys whose allowance is whole again are forgotten as new keys come in,
// without waiting for the table to fill.
func TestDecayedKeysAreForgotten(t *testing.T) {
	const batches, perBatch = 20, 5000
	l, clock := newLimiter(10 * batches * perBatch)
	ctx := context.Background()
	brief := core.Rate{Count: 1, Period: 10 * time.Millisecond}
	for batch := range batches {
		for i := range perBatch {
			if ok, _, err := l.Allow(ctx, fmt.Sprintf("b%d-%d", batch, i), brief); !ok || err != nil {
				t.Fatalf("new key refused: %v", err)
			}
		}
		clock.advance(20 * time.Millisecond)
	}
	if n := l.Len(); n > batches*perBatch/2 {
		t.Fatalf("%d of %d keys still tracked long after they decayed", n, batches*perBatch)
	}
}

func TestCancelledContextIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := memlimit.New(memlimit.Options{}).Allow(ctx, "k", core.Rate{Count: 1, Period: time.Second}); err == nil {
		t.Fatal("Allow with a cancelled context returned no error")
	}
}

// BenchmarkAllowFullTable measures a flood of new keys against a table full
// of counting keys: each is refused, without a sweep per request.
func BenchmarkAllowFullTable(b *testing.B) {
	l := memlimit.New(memlimit.Options{})
	limit := core.Rate{Count: 1, Period: time.Hour}
	for i := range memlimit.DefaultMaxKeys * 2 {
		if _, _, err := l.Allow(context.Background(), fmt.Sprintf("held-%d", i), limit); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := l.Allow(context.Background(), fmt.Sprintf("flood-%d", n.Add(1)), limit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAllow measures one check on distinct keys from many goroutines.
func BenchmarkAllow(b *testing.B) {
	l := memlimit.New(memlimit.Options{})
	limit := core.Rate{Count: 10, Period: time.Minute}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("login:ip:%d", n.Add(1)%50_000)
			if _, _, err := l.Allow(context.Background(), key, limit); err != nil {
				b.Fatal(err)
			}
		}
	})
}
