package redislimit

import (
	"errors"
	"net/url"
)

// Config is what Module needs: the Redis server and the start of every key.
type Config struct {
	// URL is redis://[user:pass@]host:6379/0 or rediss://…; it may hold a
	// password.
	URL string `setting:"RATE_LIMIT_REDIS_URL" secret:"true"`
	// KeyPrefix starts every key, so deployments can share one Redis server.
	KeyPrefix string `setting:"RATE_LIMIT_KEY_PREFIX"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{KeyPrefix: DefaultKeyPrefix}
}

// Validate returns one error line per problem, naming the setting; the URL
// itself is never shown.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("RATE_LIMIT_REDIS_URL is required when RATE_LIMIT_BACKEND is redis")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return errors.New("RATE_LIMIT_REDIS_URL must look like redis://host:6379/0 or rediss://… (value not shown)")
	}
	return nil
}
