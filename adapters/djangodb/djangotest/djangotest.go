// Package djangotest builds Django-shaped databases for tests: auth_user and
// authtoken_token exactly as Django 3.2's migrations create them on
// PostgreSQL, MySQL/MariaDB or SQLite, in a database of the test's own that
// is dropped when it ends, filled with accounts whose passwords are known.
//
// The servers are POSTGRES_TEST_URL (default
// postgres://postgres@127.0.0.1:5432/test) and MARIADB_TEST_URL (default
// mysql://root@127.0.0.1:3306/test); the roles must be allowed to create
// databases.
package djangotest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

//go:embed testdata/*.sql
var ddl embed.FS

// Default servers, when POSTGRES_TEST_URL and MARIADB_TEST_URL are not set.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMariaDBURL  = "mysql://root@127.0.0.1:3306/test"
)

// TB is the part of testing.TB the fixtures use; Ginkgo's GinkgoT() has
// it too.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Database is a Django-shaped database of one test.
type Database struct {
	// URL is what restreg import-django --from takes.
	URL string
	// Dialect is "postgres", "mysql" or "sqlite".
	Dialect string
	// DB is a connection for filling it.
	DB *sql.DB
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomName(label string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "restreg_django_" + label + "_" + hex.EncodeToString(b[:])
}

// Postgres creates a database with Django's tables on the PostgreSQL test
// server and drops it when the test ends.
func Postgres(t TB) *Database {
	t.Helper()
	admin := env("POSTGRES_TEST_URL", DefaultPostgresURL)
	name := randomName("pg")
	adminDB := open(t, "pgx", admin)
	defer adminDB.Close()
	exec(t, adminDB, `CREATE DATABASE "`+name+`"`)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal("POSTGRES_TEST_URL is not a URL")
	}
	u.Path = "/" + name
	d := &Database{URL: u.String(), Dialect: "postgres", DB: open(t, "pgx", u.String())}
	t.Cleanup(func() {
		_ = d.DB.Close()
		a := open(t, "pgx", admin)
		defer a.Close()
		if _, err := a.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
			t.Errorf("drop Django test database: %v", err)
		}
	})
	d.create(t, "django32_postgresql.sql")
	return d
}

// MariaDB creates a database with Django's tables on the MariaDB (or MySQL)
// test server and drops it when the test ends.
func MariaDB(t TB) *Database {
	t.Helper()
	admin := env("MARIADB_TEST_URL", DefaultMariaDBURL)
	adminDB := open(t, "mysql", mysqlDSN(t, admin, ""))
	defer adminDB.Close()
	name := randomName("my")
	exec(t, adminDB, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	d := &Database{URL: u.String(), Dialect: "mysql", DB: open(t, "mysql", mysqlDSN(t, admin, name))}
	t.Cleanup(func() {
		_ = d.DB.Close()
		a := open(t, "mysql", mysqlDSN(t, admin, ""))
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			t.Errorf("drop Django test database: %v", err)
		}
	})
	d.create(t, "django32_mysql.sql")
	return d
}

// SQLite creates a db.sqlite3 file with Django's tables in a directory of
// the test.
func SQLite(t TB) *Database {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db.sqlite3")
	d := &Database{URL: "sqlite://" + path, Dialect: "sqlite", DB: open(t, "sqlite", path)}
	t.Cleanup(func() { _ = d.DB.Close() })
	d.create(t, "django32_sqlite.sql")
	return d
}

func mysqlDSN(t TB, rawURL, db string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal("MARIADB_TEST_URL is not a URL")
	}
	c := mysql.NewConfig()
	c.Net, c.Addr, c.User = "tcp", u.Host, u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.DBName = db
	c.ParseTime, c.Loc = true, time.UTC
	return c.FormatDSN()
}

func open(t TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = db.PingContext(ctx)
		cancel()
	}
	if err != nil {
		t.Fatalf("Django test database on %s (is the server up? .ci/run starts it): %v", driver, err)
	}
	return db
}

func exec(t TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%.60s…: %v", q, err)
	}
}

// create runs the DDL file's statements.
func (d *Database) create(t TB, file string) {
	t.Helper()
	raw, err := ddl.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			lines = append(lines, l)
		}
	}
	for _, stmt := range strings.Split(strings.Join(lines, "\n"), ";") {
		if s := strings.TrimSpace(stmt); s != "" {
			exec(t, d.DB, s)
		}
	}
}

// User is a row of auth_user, with the key of its authtoken_token row.
type User struct {
	ID                  int64
	Username, Email     string
	FirstName, LastName string
	// Password is the encoded hash, as in auth_user.password.
	Password   string
	IsActive   bool
	IsStaff    bool
	DateJoined time.Time
	// LastLogin is NULL when zero.
	LastLogin time.Time
	// Token is the DRF token key ("" for none), created at DateJoined.
	Token string
}

// param returns t as the database takes it: Django's SQLite backend writes
// naive UTC text, the others take the time itself.
func (d *Database) param(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if d.Dialect == "sqlite" {
		return t.UTC().Format("2006-01-02 15:04:05.000000")
	}
	return t.UTC()
}

// Insert adds users (and their tokens) as Django would store them.
func (d *Database) Insert(t TB, users ...User) {
	t.Helper()
	key := `"key"`
	if d.Dialect == "mysql" {
		key = "`key`"
	}
	for _, u := range users {
		exec(t, d.DB, `INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
			VALUES (`+d.numbered(0, 11)+`)`,
			u.ID, u.Password, d.param(u.LastLogin), false, u.Username, u.FirstName, u.LastName, u.Email, u.IsStaff, u.IsActive, d.param(u.DateJoined))
		if u.Token != "" {
			exec(t, d.DB, `INSERT INTO authtoken_token (`+key+`, created, user_id) VALUES (`+d.numbered(0, 3)+`)`,
				u.Token, d.param(u.DateJoined), u.ID)
		}
	}
}

// Update runs an UPDATE of auth_user with the dialect's placeholders
// written as ? in q.
func (d *Database) Update(t TB, q string, args ...any) {
	t.Helper()
	if d.Dialect == "postgres" {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	exec(t, d.DB, q, args...)
}

// GeneratedHash is the password hash of every generated user: Django's
// pbkdf2_sha256 of GeneratedPassword, with the 1,000 iterations of the
// recorded vectors so logging in a sample stays fast.
const (
	GeneratedPassword = "correct horse battery staple"
	GeneratedHash     = "pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA="
)

// GeneratedToken returns the DRF token key Generate gives user id.
func GeneratedToken(id int64) string { return fmt.Sprintf("%040x", id*2654435761) }

// Generate adds n users with ids first… first+n-1 (username user<id>,
// e-mail user<id>@example.com, GeneratedHash, a token each), in
// multi-row inserts of one transaction per thousand users.
func (d *Database) Generate(t TB, first int64, n int) {
	t.Helper()
	key := `"key"`
	if d.Dialect == "mysql" {
		key = "`key`"
	}
	joined := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	const chunk = 1000
	for start := first; start < first+int64(n); start += chunk {
		end := min(start+chunk, first+int64(n))
		var users, tokens []string
		var uargs, targs []any
		for id := start; id < end; id++ {
			users = append(users, "("+d.numbered(len(uargs), 11)+")")
			uargs = append(uargs, id, GeneratedHash, d.param(joined.Add(time.Duration(id)*time.Minute)), false,
				fmt.Sprintf("user%d", id), "First", "Last", fmt.Sprintf("user%d@example.com", id), false, true, d.param(joined))
			tokens = append(tokens, "("+d.numbered(len(targs), 3)+")")
			targs = append(targs, GeneratedToken(id), d.param(joined), id)
		}
		tx, err := d.DB.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES `+strings.Join(users, ","), uargs...); err != nil {
			t.Fatalf("generate users: %v", err)
		}
		if _, err := tx.Exec(`INSERT INTO authtoken_token (`+key+`, created, user_id) VALUES `+strings.Join(tokens, ","), targs...); err != nil {
			t.Fatalf("generate tokens: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// numbered returns n placeholders numbered from offset+1 (PostgreSQL) or n
// question marks.
func (d *Database) numbered(offset, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "?"
		if d.Dialect == "postgres" {
			p[i] = fmt.Sprintf("$%d", offset+i+1)
		}
	}
	return strings.Join(p, ",")
}
