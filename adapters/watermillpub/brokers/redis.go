package brokers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/restreg/restreg/adapters/watermillpub"
)

// RedisModule publishes signals to Redis Streams (EVENTS_BACKEND=redis,
// EVENTS_URL=redis://host:6379/0): one stream per topic, never trimmed, so a
// consumer group that falls behind loses nothing. Publish returns once Redis
// appended the message.
var RedisModule = brokerModule("redis", func(c watermillpub.Config) (dialer, error) {
	if c.URL == "" {
		return nil, errors.New("EVENTS_URL is required when EVENTS_BACKEND is redis (redis://host:6379/0)")
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		// The error may repeat the URL, password included.
		return nil, errors.New("EVENTS_URL is not a valid redis:// or rediss:// URL (value not shown)")
	}
	return func(log *slog.Logger) (message.Publisher, error) {
		return DialRedis(opts, log)
	}, nil
})

// redisPingTimeout bounds the reachability check made when connecting.
const redisPingTimeout = 3 * time.Second

// DialRedis returns a Watermill publisher to the Redis server opts names. It
// fails when the server does not answer a PING, so the caller retries the
// whole connection later; once connected, the client redials by itself.
func DialRedis(opts *redis.Options, log *slog.Logger) (message.Publisher, error) {
	o := *opts
	if o.ClientName == "" {
		o.ClientName = "restreg"
	}
	if o.DialerRetries == 0 {
		// The outbox relay retries with its own backoff; retrying inside
		// every dial as well only delays its report that Redis is down.
		o.DialerRetries = 1
	}
	client := redis.NewClient(&o)
	ctx, cancel := context.WithTimeout(context.Background(), redisPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis: ping: %w", err)
	}
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: client}, watermillpub.Logger(log))
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis: publisher: %w", err)
	}
	return pub, nil
}
