package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/restreg/restreg/core"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step; versions are 1, 2, 3… in file-name order.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded steps in order, refusing a gap or a
// duplicate so that a mis-numbered file fails every test instead of
// silently skipping a step in production.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for i, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		prefix, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version != i+1 {
			return nil, fmt.Errorf("migration %s: want a name starting %04d_", base, i+1)
		}
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: base, sql: string(body)})
	}
	return out, nil
}

// migrate applies every step the database has not recorded yet, each in its
// own transaction together with its schema_version row, so that running it
// again (or from two processes at once) applies nothing twice.
func migrate(ctx context.Context, db *sql.DB) error {
	steps, err := migrations()
	if err != nil {
		return err
	}
	return migrateTo(ctx, db, steps, len(steps))
}

// migrateTo applies the steps up to version target (the tests build
// databases of earlier releases with it).
func migrateTo(ctx context.Context, db *sql.DB, steps []migration, target int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(steps) {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d): refusing to run an older release on it", current, len(steps))
	}
	for _, m := range steps[current:max(current, target)] {
		if err := apply(ctx, db, m); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Another process may have applied the step since we looked.
	var done bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_version WHERE version = ?)`, m.version).Scan(&done); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if step := goSteps[m.version]; step != nil {
		if err := step(ctx, tx); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}

// goSteps holds, by version, the part of a migration SQL cannot express; it
// runs right after that version's SQL, in the same transaction.
var goSteps = map[int]func(context.Context, *sql.Tx) error{
	3: backfillLoginKeys,
}

// backfillLoginKeys gives the users stored before the login namespace
// existed their username e-mail key (core.UsernameEmailKey: NFKC, then the
// e-mail key) and puts it in the namespace. The SQL part of the step has
// already reserved every unique e-mail key. Data written before may hold
// the same key twice (a username equal to another account's address, or
// two usernames differing only in case): the key then stays with whoever
// reserved it first (an address, else the oldest account) and the other
// accounts keep it in username_email_key, so lookups report the ambiguity
// instead of hiding an account.
func backfillLoginKeys(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, username FROM users ORDER BY created_at, id`)
	if err != nil {
		return fmt.Errorf("read usernames: %w", err)
	}
	type keyed struct{ id, key string }
	var found []keyed
	for rows.Next() {
		var id, username string
		if err := rows.Scan(&id, &username); err != nil {
			_ = rows.Close()
			return fmt.Errorf("read usernames: %w", err)
		}
		if key := core.UsernameEmailKey(username); key != "" {
			found = append(found, keyed{id, key})
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("read usernames: %w", err)
	}
	for _, f := range found {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET username_email_key = ? WHERE id = ?`, f.key, f.id); err != nil {
			return fmt.Errorf("set username e-mail key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO login_keys (key, user_id) VALUES (?, ?)`, f.key, f.id); err != nil {
			return fmt.Errorf("reserve username e-mail key: %w", err)
		}
	}
	return nil
}
