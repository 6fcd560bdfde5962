package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/restreg/restreg/core"
)

// Names of the unique constraints the store tells apart in duplicate-key
// errors (migrations/).
const (
	usersPrimaryKey     = "users_pkey"
	usernameIndex       = "users_username_key"
	loginKeysPrimaryKey = "login_keys_pkey"
)

// classify wraps err with op and, when retrying later may succeed (the
// server cannot be reached, is shutting down or short of resources, a
// statement or lock timed out, a deadline passed), with core.ErrUnavailable.
func classify(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("postgres: %s: %w", op, errors.Join(core.ErrUnavailable, err))
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// unavailable reports whether err means "not now" rather than "never". A
// cancelled context is the caller giving up, not the server failing, so it
// is not.
func unavailable(err error) bool {
	if errors.Is(err, core.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return false
	}
	// A failed connection attempt is unavailability whatever the cause,
	// even a server error such as "too many clients" or a refused login.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientState(pgErr.Code)
	}
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, puddle.ErrClosedPool)
}

// transientState reports whether a SQLSTATE is one a retry may overcome.
func transientState(code string) bool {
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: serialization failure, deadlock
		"53", // insufficient resources: disk full, out of memory, too many connections
		"57", // operator intervention: statement timeout, admin shutdown, cannot connect now
		"58": // system error: I/O
		return true
	}
	return code == "55P03" // lock_not_available
}

// duplicateIndex returns the unique index a duplicate-key error names, or ""
// when err is no such error.
func duplicateIndex(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}
