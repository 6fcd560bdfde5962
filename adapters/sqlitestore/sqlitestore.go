// Package sqlitestore keeps users, the event outbox and login tokens in one
// SQLite file (pure Go, no cgo): the zero-setup, durable default store.
//
// SQLite allows one writer at a time, so the store writes through a single
// connection whose transactions start IMMEDIATE: concurrent writers in this
// process queue for it instead of failing with SQLITE_BUSY, and writers in
// other processes wait on busy_timeout. Reads go through a separate pool
// and, thanks to WAL mode, never wait for the writer.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// FileName is the database file the Module keeps in DATA_DIR.
const FileName = "restreg.db"

// busyTimeout bounds how long a statement waits for a lock another process
// holds before the store reports core.ErrUnavailable.
const busyTimeout = 5 * time.Second

// Module opens DataDir/restreg.db of the Config in the graph (creating the
// directory), migrates it, provides it as every store port and closes it
// when the application stops.
var Module = fx.Module("sqlitestore",
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

func newForApp(lc fx.Lifecycle, c Config) (*Store, error) {
	if c.DataDir == "" {
		return nil, errors.New("sqlite: DATA_DIR is empty")
	}
	// The database holds password hashes: keep the directory private.
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create DATA_DIR: %w: %v", core.ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenWith(ctx, filepath.Join(c.DataDir, FileName), Options{Synchronous: c.Synchronous})
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(s.Close))
	return s, nil
}

// Store is a ports.Store backed by one SQLite database file.
type Store struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	closed atomic.Bool

	// writes carries the write requests to the one goroutine that runs
	// them (unbuffered: a request is taken or refused, never stranded);
	// quit stops it and writerDone says it stopped.
	writes     chan *writeRequest
	quit       chan struct{}
	writerDone chan struct{}
	// commits counts the transactions the writer committed, for tests.
	commits atomic.Int64

	// Prepared statements for the hot paths: registration, verification
	// and login.
	findByID            *sql.Stmt
	findByUsername      *sql.Stmt
	findByEmail         *sql.Stmt
	findByUsernameEmail *sql.Stmt
	insertUser          *sql.Stmt
	insertLoginKey      *sql.Stmt
	insertEvent         *sql.Stmt
	activate            *sql.Stmt
	release             *sql.Stmt
	findToken           *sql.Stmt
}

var _ ports.Store = (*Store)(nil)

const userColumns = `id, username, username_key, email, email_key, COALESCE(unique_email_key, ''),
	COALESCE(username_email_key, ''), first_name, last_name, password_hash, is_active, created_at,
	verification_sent_at, COALESCE(mail_kind, ''), mail_to, mail_due_at, mail_attempts, last_login`

// Options are the connection settings of a Store.
type Options struct {
	// Synchronous is SQLite's synchronous pragma, FULL (the default, when
	// empty) or NORMAL. In WAL mode NORMAL skips the fsync of each commit: a
	// power cut or OS crash may roll back the last commits, among them
	// activations whose events were already published. FULL makes a commit
	// durable before it is answered.
	Synchronous string
}

// synchronousPragma returns the value of the synchronous pragma o asks for.
func (o Options) synchronousPragma() (string, error) {
	switch v := strings.ToUpper(o.Synchronous); v {
	case "":
		return "FULL", nil
	case "FULL", "NORMAL":
		return v, nil
	}
	return "", fmt.Errorf("sqlite: synchronous must be FULL or NORMAL (got %q)", o.Synchronous)
}

// Open opens (creating if needed) the database at path with the default
// Options and applies pending migrations. Errors wrap core.ErrUnavailable
// when the file cannot be opened or written.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with the given connection settings.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: invalid database path %q", path)
	}
	synchronous, err := opts.synchronousPragma()
	if err != nil {
		return nil, err
	}
	// Create the file ourselves so that it (and the -wal and -shm files
	// SQLite derives from it) is readable by its owner only.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w: %v", path, core.ErrUnavailable, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("sqlite: create %s: %w: %v", path, core.ErrUnavailable, err)
	}

	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1", busyTimeout.Milliseconds())
	writer, err := sql.Open("sqlite", path+"?"+common+"&_txlock=immediate&_journal_mode=WAL&_synchronous="+synchronous)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)
	s := &Store{path: path, writer: writer, writes: make(chan *writeRequest), quit: make(chan struct{}), writerDone: make(chan struct{})}
	if err := migrate(ctx, writer); err != nil {
		_ = writer.Close()
		return nil, classify("open "+path, err)
	}
	go s.runWriter()

	reader, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		s.stopWriter()
		_ = writer.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	reader.SetConnMaxIdleTime(0)
	reader.SetConnMaxLifetime(0)
	s.reader = reader

	if err := s.prepare(ctx); err != nil {
		_ = s.Close()
		return nil, classify("prepare statements", err)
	}
	return s, nil
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(db *sql.DB, query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, query)
		return st
	}
	s.findByID = prep(s.reader, `SELECT `+userColumns+` FROM users WHERE id = ?`)
	s.findByUsername = prep(s.reader, `SELECT `+userColumns+` FROM users WHERE username_key = ?`)
	s.findByEmail = prep(s.reader, `SELECT `+userColumns+` FROM users WHERE email_key = ? LIMIT 2`)
	s.findByUsernameEmail = prep(s.reader, findByUsernameEmailQuery)
	s.insertUser = prep(s.writer, `INSERT INTO users (id, username, username_key, email, email_key,
		unique_email_key, username_email_key, first_name, last_name, password_hash, is_active, created_at,
		verification_sent_at, mail_kind, mail_to, mail_due_at, mail_attempts, last_login)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	s.insertLoginKey = prep(s.writer, `INSERT INTO login_keys (key, user_id) VALUES (?, ?)`)
	s.insertEvent = prep(s.writer, `INSERT INTO outbox (event_id, user_id, type, payload, occurred_at, available_at)
		VALUES (?, ?, ?, ?, ?, ?)`)
	s.activate = prep(s.writer, `UPDATE users SET is_active = 1 WHERE id = ? AND is_active = 0`)
	s.release = prep(s.writer, `UPDATE outbox SET available_at = occurred_at WHERE user_id = ? AND available_at > occurred_at`)
	s.findToken = prep(s.reader, findTokenQuery)
	return err
}

// Close releases the database; later calls report core.ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stopWriter()
	for _, st := range []*sql.Stmt{s.findByID, s.findByUsername, s.findByEmail, s.findByUsernameEmail,
		s.insertUser, s.insertLoginKey, s.insertEvent, s.activate, s.release, s.findToken} {
		if st != nil {
			_ = st.Close()
		}
	}
	var errs []error
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// Path returns the database file the store uses.
func (s *Store) Path() string { return s.path }

// CreateUser stores u, its place in the login namespace and its events in
// one transaction.
func (s *Store) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	return s.write(ctx, "create user", func(ctx context.Context, tx *sql.Tx) error {
		if err := s.insertUserTx(ctx, tx, u); err != nil {
			return err
		}
		return s.record(ctx, tx, u.ID, events)
	})
}

// insertUserTx inserts u and its keys in the login namespace in tx; a key
// another user holds is the core error explainInsertUser names.
func (s *Store) insertUserTx(ctx context.Context, tx *sql.Tx, u core.User) error {
	var mailKind, mailDue any
	if u.Mail.Owed() {
		mailKind, mailDue = string(u.Mail.Kind), micros(u.Mail.DueAt)
	} else {
		u.Mail = core.PendingMail{} // nothing owed: nothing to keep
	}
	_, err := tx.StmtContext(ctx, s.insertUser).ExecContext(ctx, u.ID, u.Username, u.UsernameKey, u.Email,
		u.EmailKey, nullString(u.UniqueEmailKey), nullString(u.UsernameEmailKey), u.FirstName, u.LastName,
		u.PasswordHash, u.IsActive, micros(u.CreatedAt), nullMicros(u.VerificationSentAt),
		mailKind, u.Mail.To, mailDue, u.Mail.Attempts, nullMicros(u.LastLogin))
	if err != nil {
		return s.explainInsertUser(ctx, tx, u, err)
	}
	ins := tx.StmtContext(ctx, s.insertLoginKey)
	for _, key := range loginKeys(u) {
		if _, err := ins.ExecContext(ctx, key, u.ID); err != nil {
			return s.explainInsertUser(ctx, tx, u, err)
		}
	}
	return nil
}

// loginKeys returns the keys u holds in the login namespace, each once (a
// user may use its own address as its username).
func loginKeys(u core.User) []string {
	switch {
	case u.UsernameEmailKey == "":
		if u.UniqueEmailKey == "" {
			return nil
		}
		return []string{u.UniqueEmailKey}
	case u.UniqueEmailKey == "" || u.UniqueEmailKey == u.UsernameEmailKey:
		return []string{u.UsernameEmailKey}
	}
	return []string{u.UsernameEmailKey, u.UniqueEmailKey}
}

// explainInsertUser turns a failed insert of u (into users or login_keys)
// into the core error the caller acts on. When several keys collide SQLite
// names whichever it checked first, so the keys are looked up explicitly,
// the username's first: it wins. u's own rows, written earlier in the
// transaction, do not count.
func (s *Store) explainInsertUser(ctx context.Context, tx *sql.Tx, u core.User, err error) error {
	if !isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) && !isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return err
	}
	held := func(query, key string) (bool, error) {
		if key == "" {
			return false, nil
		}
		var taken bool
		qerr := tx.QueryRowContext(ctx, query, key, u.ID).Scan(&taken)
		return taken, qerr
	}
	const (
		byUsername = `SELECT EXISTS (SELECT 1 FROM users WHERE username_key = ? AND id <> ?)`
		byLoginKey = `SELECT EXISTS (SELECT 1 FROM login_keys WHERE key = ? AND user_id <> ?)`
	)
	for _, check := range []struct {
		query, key string
		taken      error
	}{
		{byUsername, u.UsernameKey, core.ErrUsernameTaken},
		{byLoginKey, u.UsernameEmailKey, core.ErrUsernameTaken},
		{byLoginKey, u.UniqueEmailKey, core.ErrEmailTaken},
	} {
		taken, qerr := held(check.query, check.key)
		if qerr != nil {
			return errors.Join(err, qerr)
		}
		if taken {
			return errors.Join(check.taken, err)
		}
	}
	if strings.Contains(err.Error(), "users.id") {
		return fmt.Errorf("user id already exists: %w", err)
	}
	return err
}

// record inserts events about userID in tx.
func (s *Store) record(ctx context.Context, tx *sql.Tx, userID string, events []core.Event) error {
	if len(events) == 0 {
		return nil
	}
	ins := tx.StmtContext(ctx, s.insertEvent)
	for _, ev := range events {
		payload, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", ev.ID, err)
		}
		if _, err := ins.ExecContext(ctx, ev.ID, userID, string(ev.Type), string(payload),
			micros(ev.OccurredAt), micros(ev.AvailableAt)); err != nil {
			return fmt.Errorf("record event %q: %w", ev.ID, err)
		}
	}
	return nil
}

// DeleteInactiveUser removes an inactive user (and so its pending mail)
// with its events, tokens, queued mail and login keys.
func (s *Store) DeleteInactiveUser(ctx context.Context, id string) error {
	return s.write(ctx, "delete inactive user", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ? AND is_active = 0`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no inactive user with that id: %w", core.ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE user_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM queued_mail WHERE user_id = ?`, id); err != nil {
			return err
		}
		return freeLoginKeys(ctx, tx, id)
	})
}

// freeLoginKeys removes the deleted user id's keys from the namespace. A
// freed key another account still holds (only possible in data written
// before the namespace existed, see backfillLoginKeys) passes to that
// account, so it stays unavailable to new registrations.
func freeLoginKeys(ctx context.Context, tx *sql.Tx, id string) error {
	rows, err := tx.QueryContext(ctx, `DELETE FROM login_keys WHERE user_id = ? RETURNING key`, id)
	if err != nil {
		return fmt.Errorf("free login keys: %w", err)
	}
	var freed []string
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			_ = rows.Close()
			return fmt.Errorf("free login keys: %w", err)
		}
		freed = append(freed, key)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("free login keys: %w", err)
	}
	for _, key := range freed {
		if err := passOnLoginKey(ctx, tx, key); err != nil {
			return err
		}
	}
	return nil
}

// passOnLoginKey gives a freed key of the namespace to an account that still
// holds it (an address's owner first, else the oldest account), which only
// data written before the namespace existed can have; the caller has
// already removed the key from the user that freed it.
func passOnLoginKey(ctx context.Context, tx *sql.Tx, key string) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO login_keys (key, user_id)
		SELECT key, user_id FROM (
			SELECT unique_email_key AS key, id AS user_id, 0 AS by_username, created_at FROM users WHERE unique_email_key = ?1
			UNION ALL
			SELECT username_email_key, id, 1, created_at FROM users WHERE username_email_key = ?1
		) ORDER BY by_username, created_at, user_id LIMIT 1`, key); err != nil {
		return fmt.Errorf("pass on login key: %w", err)
	}
	return nil
}

// ActivateUser marks an inactive user active and records events in the same
// transaction; the conditional update makes exactly one caller win.
func (s *Store) ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error) {
	var changed bool
	err := s.write(ctx, "activate user", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.activate).ExecContext(ctx, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var exists bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`, id).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return core.ErrNotFound
			}
			return nil
		}
		changed = true
		if _, err := tx.StmtContext(ctx, s.release).ExecContext(ctx, id); err != nil {
			return fmt.Errorf("release held events: %w", err)
		}
		return s.record(ctx, tx, id, events)
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// FindUser returns the user whose field equals key; an empty key matches no one.
func (s *Store) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	op := "find user by " + string(field)
	if err := s.usable(ctx, op); err != nil {
		return core.User{}, err
	}
	var st *sql.Stmt
	switch field {
	case core.ByID:
		st = s.findByID
	case core.ByUsernameKey:
		st = s.findByUsername
	case core.ByEmailKey:
		st = s.findByEmail
	case core.ByUsernameEmailKey:
		st = s.findByUsernameEmail
	default:
		return core.User{}, fmt.Errorf("sqlite: find user: unknown lookup field %q", field)
	}
	if key == "" {
		return core.User{}, fmt.Errorf("sqlite: %s: empty key: %w", op, core.ErrNotFound)
	}
	rows, err := st.QueryContext(ctx, key)
	if err != nil {
		return core.User{}, classify(op, err)
	}
	defer rows.Close()
	var found []core.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return core.User{}, classify(op, err)
		}
		found = append(found, u)
	}
	if err := rows.Err(); err != nil {
		return core.User{}, classify(op, err)
	}
	switch len(found) {
	case 0:
		return core.User{}, fmt.Errorf("sqlite: %s: %w", op, core.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return core.User{}, fmt.Errorf("sqlite: %s: %w", op, core.ErrAmbiguous)
}

func scanUser(rows *sql.Rows) (core.User, error) { return scanUserAnd(rows) }

// scanUserAnd reads a row of userColumns followed by the columns extra
// scans into, from a *sql.Rows or a *sql.Row.
func scanUserAnd(row interface{ Scan(...any) error }, extra ...any) (core.User, error) {
	var u core.User
	var created int64
	var sent, due, login sql.NullInt64
	var kind string
	err := row.Scan(append([]any{&u.ID, &u.Username, &u.UsernameKey, &u.Email, &u.EmailKey, &u.UniqueEmailKey,
		&u.UsernameEmailKey, &u.FirstName, &u.LastName, &u.PasswordHash, &u.IsActive, &created, &sent,
		&kind, &u.Mail.To, &due, &u.Mail.Attempts, &login}, extra...)...)
	u.CreatedAt = fromMicros(created)
	if login.Valid {
		u.LastLogin = fromMicros(login.Int64)
	}
	if sent.Valid {
		u.VerificationSentAt = fromMicros(sent.Int64)
	}
	u.Mail.Kind = core.MailKind(kind)
	if due.Valid {
		u.Mail.DueAt = fromMicros(due.Int64)
	}
	return u, err
}

// SetPasswordHash replaces a user's hash.
func (s *Store) SetPasswordHash(ctx context.Context, id, hash string) error {
	return s.write(ctx, "set password hash", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return core.ErrNotFound
		}
		return nil
	})
}

// QueueVerificationMail makes the user owe a verification e-mail due at at
// when it owes none and the previous one is older than notBefore, in one
// conditional update.
func (s *Store) QueueVerificationMail(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	var queued bool
	err := s.write(ctx, "queue verification mail", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users
			SET mail_kind = ?, mail_to = '', mail_due_at = ?, mail_attempts = 0
			WHERE id = ? AND mail_kind IS NULL AND (verification_sent_at IS NULL OR verification_sent_at < ?)`,
			string(core.MailVerification), micros(at), id, micros(notBefore))
		if err != nil {
			return err
		}
		queued, err = changedOrExists(ctx, tx, res, id)
		return err
	})
	if err != nil {
		return false, err
	}
	return queued, nil
}

// findByUsernameEmailQuery looks a user up by username e-mail key through
// the partial index users_username_email_key. Only data written before the
// login namespace existed can hold one key twice (see backfillLoginKeys):
// LIMIT 2 reports that as ambiguous.
const findByUsernameEmailQuery = `SELECT ` + userColumns + ` FROM users WHERE username_email_key = ? LIMIT 2`

// claimQuery selects the users whose mail is due, earliest first; its
// "mail_kind IS NOT NULL" lets SQLite read them in order from the partial
// index users_mail_due_at instead of scanning every user.
const claimQuery = `SELECT ` + userColumns + ` FROM users
	WHERE mail_kind IS NOT NULL AND mail_due_at <= ? ORDER BY mail_due_at, id LIMIT ?`

// ClaimMail leases up to limit due mails, the earliest due first. The
// single writer makes the read and the update one step: no other claim
// runs in between.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.User, error) {
	const op = "claim mail"
	if limit <= 0 {
		return nil, s.usable(ctx, op)
	}
	var claimed []core.User
	err := s.write(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		claimed = claimed[:0]
		rows, err := tx.QueryContext(ctx, claimQuery, micros(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				_ = rows.Close()
				return err
			}
			claimed = append(claimed, u)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		// Report the due time as stored, so that CompleteMail and
		// DeferMail given it match.
		due := micros(now.Add(lease))
		upd, err := tx.PrepareContext(ctx, `UPDATE users SET mail_due_at = ?, mail_attempts = mail_attempts + 1 WHERE id = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		for i := range claimed {
			if _, err := upd.ExecContext(ctx, due, claimed[i].ID); err != nil {
				return err
			}
			claimed[i].Mail.DueAt = fromMicros(due)
			claimed[i].Mail.Attempts++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// CompleteMail ends the user's pending mail of kind due at dueAt and
// releases the user's held events, in one transaction.
func (s *Store) CompleteMail(ctx context.Context, id string, kind core.MailKind, dueAt, sentAt time.Time) error {
	return s.write(ctx, "complete mail", func(ctx context.Context, tx *sql.Tx) error {
		// NULL (a mail given up, or not a verification) keeps the time of
		// the last verification e-mail that did go out.
		var sent any
		if kind == core.MailVerification {
			sent = nullMicros(sentAt)
		}
		res, err := tx.ExecContext(ctx, `UPDATE users
			SET mail_kind = NULL, mail_to = '', mail_due_at = NULL, mail_attempts = 0,
				verification_sent_at = COALESCE(?, verification_sent_at)
			WHERE id = ? AND mail_kind = ? AND mail_due_at = ?`,
			sent, id, string(kind), micros(dueAt))
		if err != nil {
			return err
		}
		ended, err := changedOrExists(ctx, tx, res, id)
		if err != nil || !ended {
			return err
		}
		if _, err := tx.StmtContext(ctx, s.release).ExecContext(ctx, id); err != nil {
			return fmt.Errorf("release held events: %w", err)
		}
		return nil
	})
}

// DeferMail moves the due time of the user's pending mail of kind due at
// dueAt to next.
func (s *Store) DeferMail(ctx context.Context, id string, kind core.MailKind, dueAt, next time.Time) error {
	return s.write(ctx, "defer mail", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET mail_due_at = ?
			WHERE id = ? AND mail_kind = ? AND mail_due_at = ?`, micros(next), id, string(kind), micros(dueAt))
		if err != nil {
			return err
		}
		_, err = changedOrExists(ctx, tx, res, id)
		return err
	})
}

// changedOrExists reports whether the conditional update res of user id
// changed it; when it did not, a missing user is core.ErrNotFound.
func changedOrExists(ctx context.Context, tx *sql.Tx, res sql.Result, id string) (bool, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n > 0 {
		return true, nil
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`, id).Scan(&exists); err != nil {
		return false, err
	}
	if !exists {
		return false, core.ErrNotFound
	}
	return false, nil
}

// Ping reads the schema version, which proves the file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.usable(ctx, "ping"); err != nil {
		return err
	}
	var version int
	if err := s.reader.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: ping: %w", errors.Join(core.ErrUnavailable, err))
	}
	return nil
}

// PendingEvents returns up to limit events available at now, in record order.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]core.Event, error) {
	const op = "pending events"
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.reader.QueryContext(ctx,
		`SELECT payload, available_at FROM outbox WHERE available_at <= ? ORDER BY seq LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, classify(op, err)
	}
	defer rows.Close()
	var events []core.Event
	for rows.Next() {
		var payload []byte
		var available int64
		if err := rows.Scan(&payload, &available); err != nil {
			return nil, classify(op, err)
		}
		var ev core.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("sqlite: %s: decode payload: %w", op, err)
		}
		ev.AvailableAt = fromMicros(available)
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(op, err)
	}
	return events, nil
}

// markBatch stays well below SQLite's limit on bound parameters.
const markBatch = 500

// MarkPublished removes the events with the given ids.
func (s *Store) MarkPublished(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return s.usable(ctx, "mark published")
	}
	return s.write(ctx, "mark published", func(ctx context.Context, tx *sql.Tx) error {
		for rest := ids; len(rest) > 0; {
			batch := rest[:min(len(rest), markBatch)]
			rest = rest[len(batch):]
			args := make([]any, len(batch))
			for i, id := range batch {
				args[i] = id
			}
			query := `DELETE FROM outbox WHERE event_id IN (?` + strings.Repeat(", ?", len(batch)-1) + `)`
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Backlog counts unpublished events and returns the oldest occurrence time.
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	const op = "backlog"
	if err := s.usable(ctx, op); err != nil {
		return 0, time.Time{}, err
	}
	var count int
	var oldest sql.NullInt64
	if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*), MIN(occurred_at) FROM outbox`).Scan(&count, &oldest); err != nil {
		return 0, time.Time{}, classify(op, err)
	}
	if !oldest.Valid {
		return count, time.Time{}, nil
	}
	return count, fromMicros(oldest.Int64), nil
}

// SaveToken records that digest belongs to userID.
func (s *Store) SaveToken(ctx context.Context, digest, userID string, created time.Time) error {
	return s.write(ctx, "save token", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (digest, user_id, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET user_id = excluded.user_id, created_at = excluded.created_at`,
			digest, userID, micros(created))
		return err
	})
}

// UserIDForToken returns the user a token digest belongs to.
func (s *Store) UserIDForToken(ctx context.Context, digest string) (string, error) {
	const op = "user for token"
	if err := s.usable(ctx, op); err != nil {
		return "", err
	}
	var id string
	err := s.reader.QueryRowContext(ctx, `SELECT user_id FROM tokens WHERE digest = ?`, digest).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlite: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return "", classify(op, err)
	}
	return id, nil
}

// write runs fn on the writer connection in an IMMEDIATE transaction that
// commits when fn returns nil, and returns once that commit is durable (or
// failed). Concurrent writes share one transaction and one commit (see
// groupcommit.go): fn may therefore run more than once — a shared commit
// that fails is retried write by write — so it must not keep state from an
// earlier run. fn gets ctx without its cancellation, since interrupting a
// statement in a shared transaction would roll back the others' writes too.
func (s *Store) write(ctx context.Context, op string, fn func(context.Context, *sql.Tx) error) error {
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	req := &writeRequest{ctx: ctx, op: op, fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return classify(op, ctx.Err())
	case <-s.quit:
		return fmt.Errorf("sqlite: %s: store is closed: %w", op, core.ErrUnavailable)
	}
	// Once taken, the write runs to its end even if ctx ends meanwhile:
	// its outcome is known only then.
	return <-req.done
}

// usable fails fast on a closed store or a finished context, before any
// connection is taken from a pool.
func (s *Store) usable(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: %s: store is closed: %w", op, core.ErrUnavailable)
	}
	if err := ctx.Err(); err != nil {
		return classify(op, err)
	}
	return nil
}

// classify wraps err with op and, when retrying later may succeed (locks,
// I/O, a full disk, a closed database, a deadline), with core.ErrUnavailable.
func classify(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("sqlite: %s: %w", op, errors.Join(core.ErrUnavailable, err))
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func unavailable(err error) bool {
	if errors.Is(err, core.ErrUnavailable) {
		return false // already marked
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL,
			sqlite3.SQLITE_PERM, sqlite3.SQLITE_NOLFS:
			return true
		}
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) ||
		strings.Contains(err.Error(), "sql: database is closed")
}

func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// micros encodes t as Unix microseconds: integers sort and index like the
// instants they stand for, and the range covers the zero time.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullString stores "" as NULL: NULLs never collide in a UNIQUE index and
// stay out of partial ones.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// nullMicros stores the zero time as NULL ("never").
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}
