package memlimit_test

import (
	"context"
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

// A flood of new keys must not grow memory without bound: keys whose
// allowance is whole again are forgotten, while a key that is still being
// held back stays held back.
func TestIdleKeysAreForgottenAndCountingKeysKept(t *testing.T) {
	l := memlimit.New(memlimit.Options{MaxKeys: 3200})
	ctx := context.Background()
	held := core.Rate{Count: 1, Period: time.Hour}
	if ok, _, _ := l.Allow(ctx, "victim", held); !ok {
		t.Fatal("first request of the victim refused")
	}
	brief := core.Rate{Count: 1, Period: 10 * time.Millisecond}
	for batch := range 20 {
		for i := range 1000 {
			if ok, _, err := l.Allow(ctx, fmt.Sprintf("flood-%d-%d", batch, i), brief); !ok || err != nil {
				t.Fatalf("new key refused: %v", err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := l.Len(); n > 3200 {
		t.Fatalf("%d keys tracked after 20000 distinct ones, want at most MaxKeys = 3200", n)
	}
	if ok, _, _ := l.Allow(ctx, "victim", held); ok {
		t.Fatal("the victim's count was lost while its limit still applied")
	}
}

func TestMaxKeysBoundsMemoryEvenWhenEveryKeyIsCounting(t *testing.T) {
	l := memlimit.New(memlimit.Options{MaxKeys: 640})
	limit := core.Rate{Count: 5, Period: time.Hour}
	for i := range 10_000 {
		if ok, _, err := l.Allow(context.Background(), fmt.Sprintf("k%d", i), limit); !ok || err != nil {
			t.Fatalf("new key %d refused: %v", i, err)
		}
	}
	if n := l.Len(); n > 640 {
		t.Fatalf("%d keys tracked, want at most 640", n)
	}
}

func TestCancelledContextIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := memlimit.New(memlimit.Options{}).Allow(ctx, "k", core.Rate{Count: 1, Period: time.Second}); err == nil {
		t.Fatal("Allow with a cancelled context returned no error")
	}
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
