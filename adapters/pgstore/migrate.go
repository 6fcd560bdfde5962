package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
		return nil, fmt.Errorf("list migrations: %w", err)
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
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		out = append(out, migration{version: version, name: base, sql: string(body)})
	}
	return out, nil
}

// migrateLock is the session-level advisory lock held while migrating: its
// first key names the purpose, its second the schema, so instances that share
// a schema take turns while those on other schemas do not wait.
const migrateLock = `hashtext('restreg.pgstore.migrate'), hashtext(COALESCE(current_schema(), ''))`

// migrate applies every step the schema has not recorded yet, each in its own
// transaction together with its schema_version row. It holds an advisory
// lock throughout, so that instances starting at once apply each step once:
// the others wait, then find nothing left to do.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	steps, err := migrations()
	if err != nil {
		return err
	}
	return migrateTo(ctx, conn, steps, len(steps))
}

// migrateTo applies the steps up to version target (the tests build schemas
// of earlier releases with it).
func migrateTo(ctx context.Context, conn *pgx.Conn, steps []migration, target int) (err error) {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+migrateLock+`)`); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		// The lock also ends with the session, which the caller closes; the
		// explicit unlock only lets a waiting instance go on sooner.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+migrateLock+`)`); uerr != nil && err == nil {
			err = fmt.Errorf("release the migration lock: %w", uerr)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(steps) {
		return fmt.Errorf("database schema version %d is newer than this build knows (%d): refusing to run an older release on it", current, len(steps))
	}
	for _, m := range steps[current:max(current, target)] {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			if step := goSteps[m.version]; step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		}); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// goSteps holds, by version, the part of a migration SQL cannot express; it
// runs right after that version's SQL, in the same transaction.
var goSteps = map[int]func(context.Context, pgx.Tx) error{
	2: backfillLoginKeys,
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
func backfillLoginKeys(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT id, username FROM users ORDER BY created_at, id`)
	if err != nil {
		return fmt.Errorf("read usernames: %w", err)
	}
	var ids, keys []string
	var id, username string
	if _, err := pgx.ForEachRow(rows, []any{&id, &username}, func() error {
		if key := core.UsernameEmailKey(username); key != "" {
			ids, keys = append(ids, id), append(keys, key)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("read usernames: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET username_email_key = k.key
		FROM unnest($1::text[], $2::text[]) AS k(id, key) WHERE users.id = k.id`, ids, keys); err != nil {
		return fmt.Errorf("set username e-mail keys: %w", err)
	}
	// The first (oldest) account holding a key gets it, unless an address
	// already has it.
	if _, err := tx.Exec(ctx, `INSERT INTO login_keys (key, user_id)
		SELECT DISTINCT ON (k.key) k.key, k.id
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(id, key, ord)
		ORDER BY k.key, k.ord
		ON CONFLICT (key) DO NOTHING`, ids, keys); err != nil {
		return fmt.Errorf("reserve username e-mail keys: %w", err)
	}
	return nil
}
