package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/restreg/restreg/adapters/redislimit"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// redisURL is the Redis the tests use: REDIS_TEST_URL, or the one on this
// machine.
func redisURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var prefixSeq atomic.Int64

// freshPrefix returns a key prefix no other test run uses, and removes the
// keys under it when t ends.
func freshPrefix(t *testing.T) string {
	t.Helper()
	prefix := fmt.Sprintf("%stest-%d-%d-%d:", redislimit.DefaultKeyPrefix, os.Getpid(), time.Now().UnixNano(), prefixSeq.Add(1))
	t.Cleanup(func() {
		opts, err := redis.ParseURL(redisURL())
		if err != nil {
			return
		}
		c := redis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// open returns a limiter under a fresh prefix, failing the test with a clear
// message when Redis is not running.
func open(t *testing.T, prefix string) *redislimit.Limiter {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis; runs without -short (make test)")
	}
	l, err := redislimit.New(redisURL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := l.Ping(ctx); err != nil {
		t.Fatalf("these tests need Redis at %s (set REDIS_TEST_URL to use another): %v", redisURL(), err)
	}
	return l
}

func TestRateLimiterContract(t *testing.T) {
	porttest.RateLimiter(t, func(t *testing.T) ports.RateLimiter { return open(t, freshPrefix(t)) })
}

// Two processes with their own connections enforce one limit: the point of
// keeping the counts in Redis.
func TestInstancesShareOneLimit(t *testing.T) {
	prefix := freshPrefix(t)
	a, b := open(t, prefix), open(t, prefix)
	limit := core.Rate{Count: 4, Period: time.Minute}
	ctx := t.Context()
	for i := range limit.Count {
		l := a
		if i%2 == 1 {
			l = b
		}
		if ok, _, err := l.Allow(ctx, "shared", limit); !ok || err != nil {
			t.Fatalf("request %d refused: %v", i+1, err)
		}
	}
	for name, l := range map[string]*redislimit.Limiter{"first": a, "second": b} {
		if ok, wait, err := l.Allow(ctx, "shared", limit); ok || err != nil || wait <= 0 {
			t.Errorf("request %d on the %s instance = %v, %v, %v; want refused", limit.Count+1, name, ok, wait, err)
		}
	}
}

func TestKeysArePrefixedAndExpireWhenIdle(t *testing.T) {
	prefix := freshPrefix(t)
	l := open(t, prefix)
	limit := core.Rate{Count: 3, Period: 10 * time.Second}
	if ok, _, err := l.Allow(t.Context(), "ip:1", limit); !ok || err != nil {
		t.Fatalf("Allow = %v, %v", ok, err)
	}
	opts, _ := redis.ParseURL(redisURL())
	c := redis.NewClient(opts)
	defer c.Close()
	if !strings.HasPrefix(prefix, "restreg:ratelimit:") {
		t.Fatalf("test prefix %q is not under restreg:ratelimit:", prefix)
	}
	ttl, err := c.PTTL(t.Context(), prefix+"ip:1").Result()
	if err != nil {
		t.Fatal(err)
	}
	// One request of three in 10 s: whole again after a third of the period.
	if ttl <= 0 || ttl > limit.Period/3+time.Second {
		t.Fatalf("key TTL %v, want positive and about %v", ttl, limit.Period/3)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	l, err := redislimit.New("redis://127.0.0.1:1/0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _, err = l.Allow(t.Context(), "k", core.Rate{Count: 1, Period: time.Second})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Allow with Redis down = %v, want core.ErrUnavailable", err)
	}
	if ok, _, err := l.Allow(t.Context(), "k", core.Rate{}); !ok || err != nil {
		t.Fatalf("an unlimited rate needs no Redis: %v, %v", ok, err)
	}
}

func TestInvalidURLIsRefusedWithoutShowingIt(t *testing.T) {
	_, err := redislimit.New("http://user:hunter2@host/0", "")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New with an invalid URL = %v; want an error that does not show the URL", err)
	}
}

func TestModuleProvidesTheLimiterAndStartsWithRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Redis; runs without -short (make test)")
	}
	s := redislimit.Config{URL: redisURL(), KeyPrefix: freshPrefix(t)}
	var l ports.RateLimiter
	app := fxtest.New(t, fx.Supply(s, slog.Default()), redislimit.Module, fx.Populate(&l))
	app.RequireStart()
	limit := core.Rate{Count: 1, Period: time.Minute}
	if ok, _, err := l.Allow(t.Context(), "m", limit); !ok || err != nil {
		t.Fatalf("first Allow = %v, %v", ok, err)
	}
	if ok, _, err := l.Allow(t.Context(), "m", limit); ok || err != nil {
		t.Fatalf("second Allow = %v, %v; want refused", ok, err)
	}
	app.RequireStop()

	s.URL = "redis://127.0.0.1:1/0"
	down := fxtest.New(t, fx.Supply(s, slog.New(slog.DiscardHandler)), redislimit.Module, fx.Populate(&l))
	down.RequireStart() // sign-ups must not depend on the limiter
	down.RequireStop()
}

// BenchmarkAllow measures one round trip of the script.
func BenchmarkAllow(b *testing.B) {
	l, err := redislimit.New(redisURL(), fmt.Sprintf("%sbench-%d:", redislimit.DefaultKeyPrefix, time.Now().UnixNano()))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	limit := core.Rate{Count: 1_000_000, Period: time.Minute}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := l.Allow(context.Background(), fmt.Sprintf("k%d", n.Add(1)%1000), limit); err != nil {
				b.Fatal(err)
			}
		}
	})
}
