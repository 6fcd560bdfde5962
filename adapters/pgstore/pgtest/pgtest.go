// Package pgtest gives tests their own PostgreSQL databases and schemas on a
// shared server, so that parallel test runs never see each other's data.
// The server is POSTGRES_TEST_URL, by default the local one CI starts
// (postgres://postgres@127.0.0.1:5432/test, trust authentication).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAdminURL is the server and database tests connect to when
// POSTGRES_TEST_URL is not set; the role must be allowed to create databases.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminURL returns POSTGRES_TEST_URL or DefaultAdminURL.
func AdminURL() string {
	if u := os.Getenv("POSTGRES_TEST_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// Database is a database created for one test run; Drop removes it.
type Database struct {
	// Name is the database's name.
	Name string
	// URL connects to it (with the admin URL's credentials and options).
	URL string

	admin   string
	schemas atomic.Int64
}

// CreateDatabase creates an empty database named after label and a random
// suffix on the AdminURL server.
func CreateDatabase(ctx context.Context, label string) (*Database, error) {
	admin := AdminURL()
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, fmt.Errorf("pgtest: random name: %w", err)
	}
	name := "restreg_test_" + sanitize(label) + "_" + hex.EncodeToString(suffix[:])
	dbURL, err := withPath(admin, name)
	if err != nil {
		return nil, err
	}
	if err := adminExec(ctx, admin, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return &Database{Name: name, URL: dbURL, admin: admin}, nil
}

// Drop removes the database, ending the sessions still connected to it.
func (d *Database) Drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := adminExec(ctx, d.admin, `DROP DATABASE IF EXISTS `+pgx.Identifier{d.Name}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", d.Name, err)
	}
	return nil
}

// NewSchema creates an empty schema in the database and returns a URL whose
// search_path selects it: a store opened on that URL sees only its own tables.
func (d *Database) NewSchema(ctx context.Context) (string, error) {
	name := fmt.Sprintf("s%d", d.schemas.Add(1))
	if err := adminExec(ctx, d.URL, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create schema %s: %w", name, err)
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "", fmt.Errorf("pgtest: parse database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// NewSchemaT is NewSchema for one test; the schema goes with the database.
// On a nil Database — none was created, as under go test -short — it skips
// the test.
func (d *Database) NewSchemaT(t testing.TB) string {
	t.Helper()
	if d == nil {
		t.Skip("needs PostgreSQL; runs without -short (make test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := d.NewSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func adminExec(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	_, err = conn.Exec(ctx, sql)
	return err
}

// withPath returns rawURL naming database name instead of its own.
func withPath(rawURL, name string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("pgtest: POSTGRES_TEST_URL is not a URL")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// sanitize keeps a label usable in a database name.
func sanitize(label string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(label) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		}
		if b.Len() == 24 {
			break
		}
	}
	return b.String()
}
