package djangodb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/djangodb"
	"github.com/restreg/restreg/adapters/djangodb/djangotest"
	"github.com/restreg/restreg/core"
)

func databases(t *testing.T) map[string]func(djangotest.TB) *djangotest.Database {
	m := map[string]func(djangotest.TB) *djangotest.Database{"sqlite": djangotest.SQLite}
	if !testing.Short() {
		m["postgres"] = djangotest.Postgres
		m["mariadb"] = djangotest.MariaDB
	}
	return m
}

// Every field of auth_user and the token of authtoken_token come back as
// Django stored them, in id order, batch after batch, on each database.
func TestReadsDjangoUsersWithTheirTokens(t *testing.T) {
	for name, create := range databases(t) {
		t.Run(name, func(t *testing.T) {
			d := create(t)
			accounts := d.InsertAccounts(t)
			ctx := context.Background()
			src, err := djangodb.Open(ctx, d.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			if !src.HasTokens() {
				t.Fatal("authtoken_token not found")
			}
			n, err := src.CountUsers(ctx, 0)
			if err != nil || n != int64(len(accounts)) {
				t.Fatalf("CountUsers = %d, %v; want %d", n, err, len(accounts))
			}
			if n, _ := src.CountUsers(ctx, 105); n != int64(len(accounts)-5) {
				t.Errorf("CountUsers after 105 = %d, want %d", n, len(accounts)-5)
			}
			var got []core.SourceUser
			var after int64
			for {
				batch, err := src.ReadUsers(ctx, after, 4)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, batch...)
				if len(batch) < 4 {
					break
				}
				after = batch[len(batch)-1].ID
			}
			if len(got) != len(accounts) {
				t.Fatalf("read %d users, want %d", len(got), len(accounts))
			}
			for i, a := range accounts {
				u := got[i]
				if u.ID != a.ID || u.Username != a.Username || u.Email != a.Email || u.FirstName != a.FirstName ||
					u.LastName != a.LastName || u.PasswordHash != a.Password || u.IsActive != a.IsActive ||
					!u.DateJoined.Equal(a.DateJoined) || !u.LastLogin.Equal(a.LastLogin) {
					t.Errorf("user %d read as %+v, want %+v", a.ID, u, a.User)
				}
				switch {
				case a.Token == "" && len(u.Tokens) != 0:
					t.Errorf("user %d has tokens %v, want none", a.ID, u.Tokens)
				case a.Token != "" && (len(u.Tokens) != 1 || u.Tokens[0].Key != a.Token || !u.Tokens[0].Created.Equal(a.DateJoined)):
					t.Errorf("user %d token = %v, want its key created at %s", a.ID, u.Tokens, a.DateJoined)
				}
			}
		})
	}
}

// A project without Django REST framework's token app has no
// authtoken_token table: its users are read without tokens.
func TestReadsUsersWithoutTheTokenTable(t *testing.T) {
	d := djangotest.SQLite(t)
	d.InsertAccounts(t)
	if _, err := d.DB.Exec(`DROP TABLE authtoken_token`); err != nil {
		t.Fatal(err)
	}
	src, err := djangodb.Open(context.Background(), d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	users, err := src.ReadUsers(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if src.HasTokens() || len(users) != len(djangotest.Accounts()) || len(users[0].Tokens) != 0 {
		t.Errorf("without authtoken_token: HasTokens %v, %d users, first has %d tokens", src.HasTokens(), len(users), len(users[0].Tokens))
	}
}

// The reader only reads: a SQLite source is opened read-only.
func TestSQLiteSourceIsReadOnly(t *testing.T) {
	d := djangotest.SQLite(t)
	src, err := djangodb.Open(context.Background(), d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := djangodb.TryWrite(src); err == nil {
		t.Error("a write through the source succeeded")
	}
}

// Bad sources are refused with a clear error that never shows a password.
func TestOpenRefusesBadSources(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	empty := djangotest.SQLite(t)
	if _, err := empty.DB.Exec(`DROP TABLE authtoken_token; DROP TABLE auth_user`); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ url, want string }{
		"no scheme":      {"/tmp/db.sqlite3", "must be a URL"},
		"other scheme":   {"oracle://u:p@host/db", "unsupported database"},
		"no file":        {"sqlite://", "names no file"},
		"no auth_user":   {empty.URL, "no auth_user table"},
		"mysql no db":    {"mysql://root:s3cr3t-pw@127.0.0.1:3306/", "names no database"},
		"unreachable":    {"postgres://u:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=2", "dependency unavailable"},
		"wrong mysql":    {"mysql://nobody:s3cr3t-pw@127.0.0.1:1/db?timeout=2s", "dependency unavailable"},
		"missing sqlite": {"sqlite://" + t.TempDir() + "/none.sqlite3", "dependency unavailable"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := djangodb.Open(ctx, c.url)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open(%s) = %v, want an error saying %q", name, err, c.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-pw") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}
