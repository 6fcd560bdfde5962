// Package pgstore keeps users, the login namespace, the e-mails users owe,
// the event outbox and login tokens in PostgreSQL through pgx: the store for
// deployments that run several restreg instances on one database.
//
// Every change and the events it emits are written by one SQL statement,
// which PostgreSQL runs as one transaction, so a state change, its login
// keys, the e-mail it owes and its outbox rows commit or fail together in
// one round trip. The relays of all instances share the outbox:
// PendingEvents leases the events it hands out to this store's relay (see
// outbox.go), so two relays never publish one event at the same time and a
// user's events go out in the order they were recorded. Their couriers share
// the mail queue the same way (see mail.go).
package pgstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Defaults of the connection settings, used where neither the settings nor
// DATABASE_URL give a value.
const (
	DefaultMaxConns         = 16
	DefaultConnectTimeout   = 5 * time.Second
	DefaultStatementTimeout = 10 * time.Second
	// DefaultClaimLease is how long events handed to one instance's relay
	// stay reserved for it. It only matters when an instance dies while
	// publishing (its events wait that long for another relay) or takes
	// longer than this to publish one batch (another relay may then publish
	// the rest of the batch as well: delivery is at least once).
	DefaultClaimLease = time.Minute
)

// startTimeout bounds start-up (connecting and migrating) when the server is
// down or another instance holds the migration lock for too long.
const startTimeout = 30 * time.Second

// Options tunes the connection pool and the relay lease.
type Options struct {
	// MaxConns bounds the pool (DATABASE_MAX_CONNS); 0 means
	// DefaultMaxConns. A pool_max_conns parameter in the URL wins.
	MaxConns int
	// ConnectTimeout bounds one connection attempt
	// (DATABASE_CONNECT_TIMEOUT); 0 means DefaultConnectTimeout. A
	// connect_timeout parameter in the URL wins.
	ConnectTimeout time.Duration
	// StatementTimeout makes the server cancel a statement that runs (or
	// waits for a lock) longer (DATABASE_STATEMENT_TIMEOUT); 0 means
	// DefaultStatementTimeout. A statement_timeout parameter in the URL wins.
	StatementTimeout time.Duration
	// ClaimLease is how long events PendingEvents returned stay reserved
	// for this store's relay; 0 means DefaultClaimLease.
	ClaimLease time.Duration
}

// Module connects to the Config's URL (DATABASE_URL) when the application starts, migrates the
// schema, provides the store as every store port and closes it when the
// application stops. Start-up fails (wrapping core.ErrUnavailable) within a
// bounded time when the server cannot be reached.
var Module = fx.Module("pgstore",
	fx.Provide(fx.Annotate(newForApp,
		fx.As(new(ports.Store)),
		fx.As(new(ports.UserStore)),
		fx.As(new(ports.Outbox)),
		fx.As(new(ports.MailQueue)),
		fx.As(new(ports.TokenStore)),
		fx.As(new(ports.AccountStore)),
		fx.As(new(ports.AccountMailQueue)),
		fx.As(new(ports.Importer)),
	)),
)

// newForApp builds the store without I/O and connects it in OnStart, so that
// constructing the graph (e.g. for `restreg check`) never touches the network.
func newForApp(lc fx.Lifecycle, c Config) (*Store, error) {
	s, err := newStore(c.URL, c.Options())
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := s.start(ctx); err != nil {
				s.pool.Close()
				return err
			}
			return nil
		},
		OnStop: func(context.Context) error { return s.Close() },
	})
	return s, nil
}

// Store is a ports.Store on one PostgreSQL schema (the first of the
// connection's search_path). It is safe for concurrent use, and several
// Stores, in one process or many, may share one schema.
type Store struct {
	pool   *pgxpool.Pool
	config *pgxpool.Config
	// owner names this store in the outbox leases it takes.
	owner string
	lease time.Duration
	// leased says PendingEvents has handed out events under owner.
	leased atomic.Bool
	closed atomic.Bool
}

var _ ports.Store = (*Store)(nil)

// Open connects to the database at databaseURL (postgres://…), applies
// pending migrations and returns the store. Errors wrap core.ErrUnavailable
// when the server cannot be reached; they never contain the URL.
func Open(ctx context.Context, databaseURL string, opts Options) (*Store, error) {
	s, err := newStore(databaseURL, opts)
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// newStore parses the URL and configures the pool; pgxpool connects lazily,
// so nothing talks to the server yet.
func newStore(databaseURL string, opts Options) (*Store, error) {
	config, err := poolConfig(databaseURL, opts)
	if err != nil {
		return nil, err
	}
	owner, err := newOwner()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), config)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	lease := opts.ClaimLease
	if lease <= 0 {
		lease = DefaultClaimLease
	}
	return &Store{pool: pool, config: config, owner: owner, lease: lease}, nil
}

// poolConfig turns the URL and options into a pool configuration. The URL
// holds a password, so no error repeats it or the parser's message (which
// may quote it).
func poolConfig(databaseURL string, opts Options) (*pgxpool.Config, error) {
	const invalid = "postgres: DATABASE_URL must be a postgres:// or postgresql:// URL (value not shown)"
	if databaseURL == "" {
		return nil, errors.New("postgres: DATABASE_URL is empty")
	}
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New(invalid)
	}
	config, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New(invalid)
	}
	query := u.Query()
	if !query.Has("pool_max_conns") {
		config.MaxConns = int32(min(orDefault(opts.MaxConns, DefaultMaxConns), math.MaxInt32))
	}
	if !query.Has("connect_timeout") {
		config.ConnConfig.ConnectTimeout = orDefault(opts.ConnectTimeout, DefaultConnectTimeout)
	}
	params := config.ConnConfig.RuntimeParams
	if _, ok := params["statement_timeout"]; !ok {
		params["statement_timeout"] = strconv.FormatInt(orDefault(opts.StatementTimeout, DefaultStatementTimeout).Milliseconds(), 10)
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "restreg"
	}
	return config, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// newOwner returns a random UUID naming one store's leases.
func newOwner() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("postgres: generate lease owner: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// start migrates the schema through a connection of its own, on which no
// statement timeout applies (waiting for another instance's migration can
// take longer than one statement may), then checks that the pool connects.
func (s *Store) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cc := s.config.ConnConfig.Copy()
	cc.RuntimeParams["statement_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return classify("connect", err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = conn.Close(cctx)
	}()
	if err := migrate(ctx, conn); err != nil {
		return classify("migrate", err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return classify("ping", err)
	}
	return nil
}

// Close hands the events this store's relay has leased back to the other
// instances and closes the pool; later calls report core.ErrUnavailable.
// Handing back is a courtesy that saves the others waiting for the leases
// to expire, so a server that cannot be reached does not make Close fail.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.leased.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = s.pool.Exec(ctx, `UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1`, s.owner)
	}
	s.pool.Close()
	return nil
}

// Ping reads the schema version, which proves the server answers and the
// schema is there.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.usable(ctx, "ping"); err != nil {
		return err
	}
	var version int
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("postgres: ping: %w", errors.Join(core.ErrUnavailable, err))
	}
	return nil
}

// usable fails fast on a closed store or a finished context, before any
// connection is taken from the pool.
func (s *Store) usable(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: %s: store is closed: %w", op, core.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return classify(op, err)
	}
	return nil
}
