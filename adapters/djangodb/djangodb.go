// Package djangodb reads the accounts of a Django project straight from its
// database — auth_user, and authtoken_token when Django REST framework's
// token app is installed — on PostgreSQL, MySQL/MariaDB or SQLite, as the
// source of restreg import-django (ports.ImportSource).
package djangodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Dialects a Source speaks, named after the URL schemes that select them.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
	SQLite   = "sqlite"
)

// Source reads Django's users from one database. It is safe for concurrent
// use and only ever reads.
type Source struct {
	db      *sql.DB
	dialect string
	// tokens is whether authtoken_token exists.
	tokens bool
	count  string
	read   string
}

var _ ports.ImportSource = (*Source)(nil)

// Open connects to the Django database rawURL names —
// postgres://user:pass@host:5432/db, mysql://user:pass@host:3306/db or
// sqlite:///path/to/db.sqlite3 — and checks that it has an auth_user table.
// Errors never show the URL's password.
func Open(ctx context.Context, rawURL string) (*Source, error) {
	dialect, driver, dsn, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("djangodb: open %s: %w", Redact(rawURL), err)
	}
	s := &Source{db: db, dialect: dialect}
	if err := s.inspect(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("djangodb: %s: %w", Redact(rawURL), err)
	}
	return s, nil
}

// parseURL returns the dialect, database/sql driver and its data source
// name for a URL.
func parseURL(rawURL string) (dialect, driver, dsn string, err error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "", "", "", errors.New("djangodb: the source must be a URL: postgres://…, mysql://… or sqlite:///path")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return Postgres, "pgx", rawURL, nil
	case "sqlite", "sqlite3":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return "", "", "", errors.New("djangodb: sqlite:///path names no file")
		}
		// Read-only: an import never changes the Django database.
		dsn := "file:" + path + "?mode=ro&_pragma=busy_timeout(5000)"
		if query != "" {
			dsn += "&" + query
		}
		return SQLite, "sqlite", dsn, nil
	case "mysql", "mariadb":
		dsn, err := mysqlDSN(rawURL)
		return MySQL, "mysql", dsn, err
	}
	return "", "", "", fmt.Errorf("djangodb: unsupported database %q: use postgres://, mysql:// or sqlite:///", scheme)
}

// mysqlDSN turns mysql://user:pass@host:port/db?param=value into the
// driver's DSN. Django keeps UTC in DATETIME columns (USE_TZ = True), so
// times are read as UTC.
func mysqlDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("djangodb: the MySQL URL does not parse (value not shown)")
	}
	c := mysql.NewConfig()
	c.Net = "tcp"
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "3306")
	}
	c.Addr = host
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.DBName = strings.TrimPrefix(u.Path, "/")
	c.ParseTime = true
	c.Loc = time.UTC
	for k, v := range u.Query() {
		if len(v) == 0 {
			continue
		}
		if k == "tls" {
			c.TLSConfig = v[0]
			continue
		}
		if c.Params == nil {
			c.Params = map[string]string{}
		}
		c.Params[k] = v[0]
	}
	if c.DBName == "" {
		return "", errors.New("djangodb: the MySQL URL names no database (mysql://user:pass@host:3306/dbname)")
	}
	return c.FormatDSN(), nil
}

// Redact returns rawURL without its password, for messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(the source URL, not shown)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// inspect checks the tables and prepares the queries.
func (s *Source) inspect(ctx context.Context) error {
	hasUsers, err := s.hasTable(ctx, "auth_user")
	if err != nil {
		return fmt.Errorf("connect: %w: %v", core.ErrUnavailable, err)
	}
	if !hasUsers {
		return errors.New("no auth_user table: is this the database of a Django project with django.contrib.auth?")
	}
	if s.tokens, err = s.hasTable(ctx, "authtoken_token"); err != nil {
		return fmt.Errorf("look for authtoken_token: %w: %v", core.ErrUnavailable, err)
	}
	p1, p2, key := "?", "?", `"key"`
	switch s.dialect {
	case Postgres:
		p1, p2 = "$1", "$2"
	case MySQL:
		key = "`key`"
	}
	s.count = `SELECT COUNT(*) FROM auth_user WHERE id > ` + p1
	cols := `u.id, u.username, u.email, u.first_name, u.last_name, u.password, u.is_active, u.date_joined, u.last_login`
	if s.tokens {
		s.read = `SELECT ` + cols + `, t.` + key + `, t.created FROM auth_user u
			LEFT JOIN authtoken_token t ON t.user_id = u.id
			WHERE u.id > ` + p1 + ` ORDER BY u.id LIMIT ` + p2
	} else {
		s.read = `SELECT ` + cols + `, NULL, NULL FROM auth_user u WHERE u.id > ` + p1 + ` ORDER BY u.id LIMIT ` + p2
	}
	return nil
}

// hasTable reports whether the database has a table of that name.
func (s *Source) hasTable(ctx context.Context, name string) (bool, error) {
	var q string
	switch s.dialect {
	case Postgres:
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ANY (current_schemas(false)) AND table_name = $1`
	case MySQL:
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`
	default:
		q = `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	}
	var n int
	if err := s.db.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// HasTokens reports whether the database has Django REST framework's
// authtoken_token table, whose keys the import carries over.
func (s *Source) HasTokens() bool { return s.tokens }

// Dialect returns Postgres, MySQL or SQLite.
func (s *Source) Dialect() string { return s.dialect }

// Close closes the connections.
func (s *Source) Close() error { return s.db.Close() }

// CountUsers returns how many users have an id greater than after.
func (s *Source) CountUsers(ctx context.Context, after int64) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, s.count, after).Scan(&n); err != nil {
		return 0, fmt.Errorf("djangodb: count users: %w: %v", core.ErrUnavailable, err)
	}
	return n, nil
}

// ReadUsers returns up to limit users with an id greater than after, in id
// order, each with its token.
func (s *Source) ReadUsers(ctx context.Context, after int64, limit int) ([]core.SourceUser, error) {
	rows, err := s.db.QueryContext(ctx, s.read, after, limit)
	if err != nil {
		return nil, fmt.Errorf("djangodb: read users: %w: %v", core.ErrUnavailable, err)
	}
	defer rows.Close()
	users := make([]core.SourceUser, 0, limit)
	for rows.Next() {
		var (
			u                             core.SourceUser
			joined, lastLogin, tokCreated any
			tokKey                        sql.NullString
		)
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.PasswordHash, &u.IsActive,
			&joined, &lastLogin, &tokKey, &tokCreated); err != nil {
			return nil, fmt.Errorf("djangodb: read user after id %d: %w", after, err)
		}
		if u.DateJoined, err = timeOf(joined); err != nil {
			return nil, fmt.Errorf("djangodb: user %d: date_joined: %w", u.ID, err)
		}
		if u.LastLogin, err = timeOf(lastLogin); err != nil {
			return nil, fmt.Errorf("djangodb: user %d: last_login: %w", u.ID, err)
		}
		if tokKey.Valid {
			created, err := timeOf(tokCreated)
			if err != nil {
				return nil, fmt.Errorf("djangodb: token of user %d: created: %w", u.ID, err)
			}
			u.Tokens = []core.SourceToken{{Key: tokKey.String, Created: created}}
		}
		if n := len(users); n > 0 && users[n-1].ID == u.ID {
			// authtoken_token.user_id is unique, so this happens only in a
			// schema that allows more tokens per user: each further row
			// adds a token (the tokens a batch's limit cuts off stay
			// behind).
			users[n-1].Tokens = append(users[n-1].Tokens, u.Tokens...)
			continue
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("djangodb: read users: %w: %v", core.ErrUnavailable, err)
	}
	return users, nil
}

// sqliteTimeLayouts are the forms Django's SQLite backend writes datetimes
// in (naive UTC with USE_TZ = True), and ISO 8601 with an offset.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// timeOf converts a datetime column's value to UTC; NULL is the zero time.
func timeOf(v any) (time.Time, error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, nil
	case time.Time:
		return x.UTC(), nil
	case []byte:
		return timeOf(string(x))
	case string:
		for _, layout := range sqliteTimeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("not a datetime: %q", x)
	}
	return time.Time{}, fmt.Errorf("not a datetime: %T", v)
}
