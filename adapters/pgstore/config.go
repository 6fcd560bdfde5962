package pgstore

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is what Module needs: the server and the pool. Each tagged field is
// the documented setting of that name.
type Config struct {
	// URL is the PostgreSQL server (postgres://…); it may hold a password.
	URL string `setting:"DATABASE_URL" secret:"true"`
	// MaxConns bounds the connection pool of one instance.
	MaxConns int `setting:"DATABASE_MAX_CONNS"`
	// ConnectTimeout bounds one attempt to connect.
	ConnectTimeout time.Duration `setting:"DATABASE_CONNECT_TIMEOUT"`
	// StatementTimeout makes PostgreSQL cancel a statement that runs or
	// waits for a lock longer, so a stuck database answers 503 in time.
	StatementTimeout time.Duration `setting:"DATABASE_STATEMENT_TIMEOUT"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MaxConns: DefaultMaxConns, ConnectTimeout: DefaultConnectTimeout, StatementTimeout: DefaultStatementTimeout}
}

// Options returns the store options c asks for.
func (c Config) Options() Options {
	return Options{MaxConns: c.MaxConns, ConnectTimeout: c.ConnectTimeout, StatementTimeout: c.StatementTimeout}
}

// Validate returns one error line per problem, naming the setting; the URL
// itself is never shown.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required when STORE is postgres"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, errors.New("DATABASE_URL must look like postgres://user:pass@host:5432/dbname (value not shown)"))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS must be at least 1 (got %d)", c.MaxConns))
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, fmt.Errorf("DATABASE_CONNECT_TIMEOUT must be a positive duration (got %s)", c.ConnectTimeout))
	}
	if c.StatementTimeout <= 0 {
		errs = append(errs, fmt.Errorf("DATABASE_STATEMENT_TIMEOUT must be a positive duration (got %s)", c.StatementTimeout))
	}
	return errors.Join(errs...)
}
