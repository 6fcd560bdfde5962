package porttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// RateLimiter runs the contract every ports.RateLimiter adapter must
// satisfy. newLimiter must return a limiter with no counts for the keys the
// suite uses (e.g. one under a fresh key prefix); the suite waits a few
// seconds of real time to see limits recover.
func RateLimiter(t *testing.T, newLimiter func(t *testing.T) ports.RateLimiter) {
	t.Run("of 50 concurrent callers of one key exactly the limit is allowed", func(t *testing.T) {
		l := newLimiter(t)
		limit := core.Rate{Count: 10, Period: time.Minute}
		const n = 50
		ok := make([]bool, n)
		wait := make([]time.Duration, n)
		errs := make([]error, n)
		runTogether(n, func(i int) { ok[i], wait[i], errs[i] = l.Allow(t.Context(), "crowd", limit) })
		allowed := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Allow %d: %v", i, errs[i])
			}
			if ok[i] {
				allowed++
				continue
			}
			if wait[i] <= 0 || wait[i] > limit.Period {
				t.Errorf("refused call %d: retryAfter %v, want in (0, %v]", i, wait[i], limit.Period)
			}
		}
		if allowed != limit.Count {
			t.Fatalf("%d of %d concurrent calls allowed, want exactly %d", allowed, n, limit.Count)
		}
	})

	t.Run("keys are counted independently", func(t *testing.T) {
		l := newLimiter(t)
		limit := core.Rate{Count: 2, Period: time.Hour}
		for _, key := range []string{"a", "b", "login:account:ünïcödé ✉", fmt.Sprintf("%0300d", 7)} {
			for range limit.Count {
				expectAllow(t, l, key, limit, true)
			}
			wait := expectAllow(t, l, key, limit, false)
			if wait <= 0 || wait > limit.Period {
				t.Errorf("key %q: retryAfter %v, want in (0, %v]", key, wait, limit.Period)
			}
		}
	})

	t.Run("an unlimited rate allows everything", func(t *testing.T) {
		l := newLimiter(t)
		for range 100 {
			expectAllow(t, l, "free", core.Rate{}, true)
		}
	})

	t.Run("a refused request is not counted and the limit recovers with time", func(t *testing.T) {
		l := newLimiter(t)
		// Long enough that the calls below finish well within it on a busy
		// machine; short enough to wait for.
		limit := core.Rate{Count: 3, Period: 3 * time.Second}
		for range limit.Count {
			expectAllow(t, l, "recover", limit, true)
		}
		var wait time.Duration
		for range 20 {
			wait = expectAllow(t, l, "recover", limit, false)
		}
		if wait <= 0 || wait > limit.Period {
			t.Fatalf("retryAfter %v, want in (0, %v]", wait, limit.Period)
		}
		time.Sleep(wait + 50*time.Millisecond)
		expectAllow(t, l, "recover", limit, true)

		time.Sleep(limit.Period + 100*time.Millisecond)
		for range limit.Count {
			expectAllow(t, l, "recover", limit, true)
		}
		expectAllow(t, l, "recover", limit, false)
	})
}

// expectAllow calls Allow and fails unless its answer is want; it returns
// the retryAfter given.
func expectAllow(t *testing.T, l ports.RateLimiter, key string, limit core.Rate, want bool) time.Duration {
	t.Helper()
	ok, wait, err := l.Allow(t.Context(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%q, %v): %v", key, limit, err)
	}
	if ok != want {
		t.Fatalf("Allow(%q, %v) = %v, want %v", key, limit, ok, want)
	}
	if ok && wait != 0 {
		t.Errorf("Allow(%q) allowed with retryAfter %v, want 0", key, wait)
	}
	return wait
}
