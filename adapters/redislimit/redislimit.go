// Package redislimit is the ports.RateLimiter for several server processes:
// the counts live in Redis (RATE_LIMIT_BACKEND=redis, RATE_LIMIT_REDIS_URL),
// so every instance behind a load balancer enforces one shared limit.
//
// Each check is one atomic Lua script running the generic cell rate
// algorithm (GCRA) on Redis's own clock: a limit of N per period lets a key
// make N requests at once and then one more every period/N. A key is one
// string under RATE_LIMIT_KEY_PREFIX (default "restreg:ratelimit:") that
// expires as soon as its allowance is whole again, so Redis holds nothing
// for idle clients.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// DefaultKeyPrefix starts every key unless RATE_LIMIT_KEY_PREFIX says
// otherwise.
const DefaultKeyPrefix = "restreg:ratelimit:"

// Timeouts applied where the URL sets none: a limiter that does not answer
// quickly is treated as down (the request goes through) rather than
// holding every sign-up for seconds.
const (
	defaultDialTimeout = time.Second
	defaultIOTimeout   = 500 * time.Millisecond
	startPingTimeout   = 3 * time.Second
)

// Module connects to the Config's URL (RATE_LIMIT_REDIS_URL) and provides the limiter as
// ports.RateLimiter; it closes the connections when the app stops. A Redis
// that is down at start-up is logged, not fatal: requests go through
// unthrottled until it answers.
var Module = fx.Module("redislimit",
	fx.Provide(fx.Annotate(newForApp, fx.As(new(ports.RateLimiter)))),
)

func newForApp(lc fx.Lifecycle, c Config, log *slog.Logger) (*Limiter, error) {
	if c.URL == "" {
		return nil, errors.New("redislimit: RATE_LIMIT_REDIS_URL is required when RATE_LIMIT_BACKEND is redis")
	}
	l, err := New(c.URL, c.KeyPrefix)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, startPingTimeout)
			defer cancel()
			if err := l.Ping(ctx); err != nil && log != nil {
				log.Warn("rate-limit Redis does not answer; requests are not throttled until it does", "error", err)
			}
			return nil
		},
		OnStop: func(context.Context) error { return l.Close() },
	})
	return l, nil
}

// Limiter is a ports.RateLimiter on one Redis server, safe for concurrent
// use; the client reconnects by itself after an outage.
type Limiter struct {
	client *redis.Client
	prefix string
}

var _ ports.RateLimiter = (*Limiter)(nil)

// New returns a limiter on the Redis server rawURL names
// (redis://[user:password@]host:port/db or rediss://…), keeping its keys
// under prefix ("" means DefaultKeyPrefix). It does not connect yet.
func New(rawURL, prefix string) (*Limiter, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		// The parser's message may quote the URL, password included.
		return nil, errors.New("redislimit: RATE_LIMIT_REDIS_URL is not a valid redis:// or rediss:// URL (value not shown)")
	}
	if opts.ClientName == "" {
		opts.ClientName = "restreg-ratelimit"
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = defaultIOTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = defaultIOTimeout
	}
	if opts.MaxRetries == 0 {
		// Each check is cheap and the request falls back to going through:
		// retrying inside one check only delays that answer.
		opts.MaxRetries = -1
	}
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &Limiter{client: redis.NewClient(opts), prefix: prefix}, nil
}

// gcra is the whole check, atomic on the server. Times are microseconds on
// Redis's clock, so instances whose clocks disagree still share one limit.
// KEYS[1] the key; ARGV[1] the emission interval (period/count) and ARGV[2]
// the period, both in microseconds. It returns {1, 0} when allowed and
// {0, wait µs} when not; a refused request changes nothing.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - (period - interval) - now
if wait > 0 then
  return {0, wait}
end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000))
return {1, 0}
`)

// Allow counts one request for key against limit in one script call.
// Errors wrap core.ErrUnavailable: Redis could not be asked.
func (l *Limiter) Allow(ctx context.Context, key string, limit core.Rate) (bool, time.Duration, error) {
	if limit.Unlimited() {
		return true, 0, nil
	}
	interval := limit.Period.Microseconds() / int64(limit.Count)
	if interval <= 0 {
		interval = 1
	}
	res, err := gcra.Run(ctx, l.client, []string{l.prefix + key},
		strconv.FormatInt(interval, 10), strconv.FormatInt(limit.Period.Microseconds(), 10)).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redislimit: allow: %w: %v", core.ErrUnavailable, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redislimit: allow: unexpected script answer %v", res)
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	wait := time.Duration(res[1]) * time.Microsecond
	if wait > limit.Period {
		wait = limit.Period
	}
	return false, wait, nil
}

// Ping reports whether Redis answers now.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redislimit: ping: %w: %v", core.ErrUnavailable, err)
	}
	return nil
}

// Close releases the connections.
func (l *Limiter) Close() error {
	if err := l.client.Close(); err != nil {
		return fmt.Errorf("redislimit: close: %w", err)
	}
	return nil
}
