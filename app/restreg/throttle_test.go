package restreg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
)

// rateLimitRedisURL is the Redis the shared-limit tests use: REDIS_TEST_URL,
// or the one on this machine.
func rateLimitRedisURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// redisPrefix returns a key prefix of its own for this test run, fails the
// test when Redis is not there, and removes the keys when the test ends.
func redisPrefix(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis; runs without -short (make test)")
	}
	opts, err := redis.ParseURL(rateLimitRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("this test needs Redis at %s (set REDIS_TEST_URL to use another): %v", rateLimitRedisURL(), err)
	}
	prefix := fmt.Sprintf("restreg:ratelimit:apptest-%d-%d:", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		defer c.Close()
		keys, _ := c.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(context.Background(), keys...)
		}
	})
	return prefix
}

// postLogin posts a failing login to the server at base and returns the status.
func postLogin(t *testing.T, env *apisuite.Env) (int, http.Header) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": "nobody", "password": "wrong"})
	res, err := http.Post(env.BaseURL+env.Settings.HTTP.BasePath+"/login/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.StatusCode, res.Header
}

// Two instances behind one load balancer share their limits through Redis:
// N requests spread over both use up the limit, and the next one is refused
// by either.
func TestThrottleIsSharedByInstancesThroughRedis(t *testing.T) {
	prefix := redisPrefix(t)
	start := composedStart(func(_ *testing.T, s *restreg.Config) {
		s.Store = "memory"
		s.RedisLimit.URL = rateLimitRedisURL()
		s.RedisLimit.KeyPrefix = prefix
	})
	configure := func(s *apisuite.Settings) {
		apisuite.Configure(s)
		s.RateLimitBackend = "redis"
		s.ThrottleLoginIP = "4/minute"
		s.ThrottleLoginAccount = "off"
	}
	first, second := start(t, configure), start(t, configure)
	for i, env := range []*apisuite.Env{first, second, first, second} {
		if status, _ := postLogin(t, env); status != http.StatusBadRequest {
			t.Fatalf("request %d: status %d, want 400 (within the shared limit)", i+1, status)
		}
	}
	for name, env := range map[string]*apisuite.Env{"first": first, "second": second} {
		status, header := postLogin(t, env)
		if status != http.StatusTooManyRequests || header.Get("Retry-After") == "" {
			t.Errorf("request 5 on the %s instance: status %d, Retry-After %q; want 429 with Retry-After", name, status, header.Get("Retry-After"))
		}
	}
}

// A limiter that cannot be reached must not stop sign-ups: requests go
// through unthrottled, and the server starts at all.
func TestRedisDownDoesNotBlockSignUps(t *testing.T) {
	start := composedStart(func(_ *testing.T, s *restreg.Config) {
		s.Store = "memory"
		s.RedisLimit.URL = "redis://127.0.0.1:1/0"
	})
	env := start(t, func(s *apisuite.Settings) {
		apisuite.Configure(s)
		s.RateLimitBackend = "redis"
		s.ThrottleLoginIP = "1/minute"
	})
	for i := range 3 {
		if status, _ := postLogin(t, env); status != http.StatusBadRequest {
			t.Fatalf("login %d with the limiter down: status %d, want 400", i+1, status)
		}
	}
	body, _ := json.Marshal(map[string]string{"username": "ann", "email": "ann@example.com",
		"password": "violet-Anchor-7412", "password_confirm": "violet-Anchor-7412"})
	res, err := http.Post(env.BaseURL+env.Settings.HTTP.BasePath+"/register/", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("register with the limiter down: %d, want 201", res.StatusCode)
	}
}
