package restreg_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/djangodb"
	"github.com/restreg/restreg/adapters/djangodb/djangotest"
	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// importEnv is the environment of a server that takes users over from
// Django: legacy hashers on, no rate limits, the given store.
func importEnv(t testing.TB, store string) map[string]string {
	env := map[string]string{
		"LISTEN_ADDR":               "127.0.0.1:0",
		"STORE":                     store,
		"DATA_DIR":                  t.TempDir(),
		"MAIL_BACKEND":              "console",
		"SECRET_KEY":                apisuite.SecretKey,
		"REGISTER_VERIFICATION_URL": "https://frontend-host/verify-user/",
		"VERIFICATION_FROM_EMAIL":   "noreply@example.com",
		"PASSWORD_LEGACY_HASHERS":   "true",
		"RATE_LIMIT_BACKEND":        "off",
	}
	switch store {
	case "postgres":
		env["DATABASE_URL"] = postgresURL(t)
	case "mongodb":
		env["MONGODB_URI"] = mongoURI
		env["MONGODB_DATABASE"] = fmt.Sprintf("restreg_import_%d_%d", os.Getpid(), importDatabases.Add(1))
	}
	return env
}

// importDatabases numbers the MongoDB databases of the import tests.
var importDatabases atomic.Int64

func loadEnv(t *testing.T, env map[string]string) restreg.Config {
	t.Helper()
	s, err := restreg.LoadSettings(restreg.DefaultConfig(), "", envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// readConflicts returns the rows of a conflicts file, header first.
func readConflicts(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// Users imported from a Django database — PostgreSQL, MariaDB or SQLite —
// into a store log in through the API with their Django passwords, one per
// Django hasher; their DRF token keys authenticate; the inactive one stays
// inactive; the address that differs from another only in case is listed as
// a conflict and not imported.
func TestImportedDjangoUsersLogInAndKeepTheirTokens(t *testing.T) {
	type pair struct{ source, store string }
	pairs := []pair{{"sqlite", "sqlite"}}
	if !testing.Short() {
		pairs = append(pairs, pair{"postgres", "sqlite"}, pair{"mariadb", "postgres"}, pair{"mariadb", "mongodb"}, pair{"postgres", "memory"})
	}
	for _, p := range pairs {
		t.Run(p.source+"_to_"+p.store, func(t *testing.T) {
			var d *djangotest.Database
			switch p.source {
			case "postgres":
				d = djangotest.Postgres(t)
			case "mariadb":
				d = djangotest.MariaDB(t)
			default:
				d = djangotest.SQLite(t)
			}
			accounts := d.InsertAccounts(t)
			s := loadEnv(t, importEnv(t, p.store))
			var store ports.Store
			srv := startT(t, s, fx.Populate(&store))
			ctx := context.Background()

			src, err := djangodb.Open(ctx, d.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			dir := t.TempDir()
			conflicts := filepath.Join(dir, "conflicts.csv")
			var out bytes.Buffer
			rep, err := restreg.ImportInto(ctx, s, src, store, conflicts, filepath.Join(dir, "checkpoint"), false, &out)
			if err != nil {
				t.Fatal(err)
			}
			n := int64(len(accounts))
			if rep.Read != n || rep.Created != n-1 || rep.Conflicts != 1 || rep.Tokens != 11 {
				t.Errorf("report = %+v; want %d read, %d created, 1 conflict, 11 tokens", rep, n, n-1)
			}
			if !strings.Contains(out.String(), "users/s") {
				t.Errorf("summary %q gives no rate", out.String())
			}

			auth := usecase.NewAuthenticate(usecase.NewAuthenticateConfig(s.Settings), store, porttest.NewClock(time.Time{}))
			for _, a := range accounts {
				status, body := post(t, srv.URL()+s.HTTP.BasePath+"/login/", `{"login":"`+a.Username+`","password":"`+djangotest.Password+`"}`)
				usable := a.IsActive && a.Algorithm != "" && a.ID != djangotest.CaseTwinID
				switch {
				case usable && (status != 200 || body["token"] == nil):
					t.Errorf("%s (%s): login %d %v; want 200 with a token", a.Username, a.Algorithm, status, body)
				case !usable && status == 200:
					t.Errorf("%s: login answered 200; want it refused", a.Username)
				}
				if a.Token == "" {
					continue
				}
				status, body = getProfile(t, srv.URL()+s.HTTP.BasePath+"/profile/", a.Token)
				switch {
				case a.IsActive && (status != 200 || fmt.Sprint(body["id"]) != strconv.FormatInt(a.ID, 10) || body["username"] != a.Username):
					t.Errorf("%s: GET profile/ with the DRF token: %d %v; want 200 and the user", a.Username, status, body)
				case !a.IsActive && (status != 401 || body["detail"] != core.MsgTokenUserInactive):
					t.Errorf("%s (inactive): GET profile/ with the DRF token: %d %v; want 401 %q", a.Username, status, body, core.MsgTokenUserInactive)
				}
				pr, _, err := auth.Authenticate(ctx, "Token "+a.Token)
				var authErr *core.AuthError
				switch {
				case a.IsActive && (err != nil || pr.User.ID != strconv.FormatInt(a.ID, 10)):
					t.Errorf("%s: the DRF token authenticates as %q, %v; want user %d", a.Username, pr.User.ID, err, a.ID)
				case !a.IsActive && (!errors.As(err, &authErr) || authErr.Detail != core.MsgTokenUserInactive):
					t.Errorf("%s (inactive): token gives %v; want %q", a.Username, err, core.MsgTokenUserInactive)
				}
			}

			// BSON dates hold milliseconds; Django's, SQLite's and
			// PostgreSQL's microseconds.
			precision := time.Microsecond
			if p.store == "mongodb" {
				precision = time.Millisecond
			}
			u, err := store.FindUser(ctx, core.ByID, "101")
			if err != nil || u.Username != "pbkdf2_sha256_user" || u.FirstName != "Firstpbkdf2_sha256" ||
				!u.CreatedAt.Equal(djangotest.Joined.Truncate(precision)) {
				t.Errorf("user 101 = %+v, %v; want the Django user with its id and fields", u, err)
			}
			if _, err := store.FindUser(ctx, core.ByID, strconv.Itoa(djangotest.CaseTwinID)); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("the conflicting user was stored: %v", err)
			}
			rows := readConflicts(t, conflicts)
			want := [][]string{{"id", "username", "email", "reason", "conflicts_with"},
				{strconv.Itoa(djangotest.CaseTwinID), "case_twin", "PBKDF2_SHA256@example.com", usecase.ConflictEmail, "101"}}
			if !slices.EqualFunc(rows, want, slices.Equal) {
				t.Errorf("conflicts file = %q, want %q", rows, want)
			}
		})
	}
}

// failingStore is a store whose imports fail after the first ok ones, as
// a database that went away does.
type failingStore struct {
	ports.Store
	mu sync.Mutex
	ok int
}

func (f *failingStore) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	f.mu.Lock()
	if f.ok == 0 {
		f.mu.Unlock()
		return false, core.ErrUnavailable
	}
	f.ok--
	f.mu.Unlock()
	return f.Store.ImportUser(ctx, u, tokens...)
}

// An import the store fails in the middle of stops with the checkpoint at
// the last batch written in full; --resume finishes it, and in the end
// every user is stored once and the conflicts file lists the conflict once.
func TestImportResumedAfterAStoreFailureLosesNothing(t *testing.T) {
	d := djangotest.SQLite(t)
	accounts := d.InsertAccounts(t)
	s := loadEnv(t, importEnv(t, "sqlite"))
	var store ports.Store
	startT(t, s, fx.Populate(&store))
	ctx := context.Background()
	src, err := djangodb.Open(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	conflicts, checkpoint := filepath.Join(dir, "conflicts.csv"), filepath.Join(dir, "checkpoint")

	_, err = restreg.ImportInto(ctx, s, src, &failingStore{Store: store, ok: 6}, conflicts, checkpoint, false, io.Discard)
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("import on a failing store: %v; want core.ErrUnavailable and a hint to resume", err)
	}
	raw, _ := os.ReadFile(checkpoint)
	if got := strings.TrimSpace(string(raw)); got != "104" {
		t.Fatalf("checkpoint %q, want 104 (the first batch of 4)", got)
	}

	rep, err := restreg.ImportInto(ctx, s, src, store, conflicts, checkpoint, true, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read != int64(len(accounts)-4) {
		t.Errorf("the resumed run read %d users, want the %d after id 104", rep.Read, len(accounts)-4)
	}
	for _, a := range accounts {
		_, err := store.FindUser(ctx, core.ByID, strconv.FormatInt(a.ID, 10))
		if want := a.ID != djangotest.CaseTwinID; (err == nil) != want {
			t.Errorf("user %d: stored %v (%v), want %v", a.ID, err == nil, err, want)
		}
	}
	if rows := readConflicts(t, conflicts); len(rows) != 2 || rows[1][0] != strconv.Itoa(djangotest.CaseTwinID) {
		t.Errorf("conflicts file = %q, want the header and user %d once", rows, djangotest.CaseTwinID)
	}
}

var summaryRe = regexp.MustCompile(`(\d+) users in [\d.]+s \((\d+) users/s\): (\d+) created, (\d+) updated, (\d+) conflicts`)

// getProfile sends GET profile/ with a DRF token.
func getProfile(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, m
}

// importCmd runs restreg import-django and returns its summary counts
// (read, created, updated, conflicts).
func importCmd(t *testing.T, env map[string]string, args ...string) []int {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := restreg.Main(context.Background(), append([]string{"import-django"}, args...), envOf(env), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("import-django %v exited %d: %s%s", args, code, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "\r") {
		t.Errorf("a progress bar was drawn on a stderr that is no terminal: %q", stderr.String())
	}
	m := summaryRe.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no summary line in %q", stdout.String())
	}
	var counts []int
	for _, i := range []int{1, 3, 4, 5} {
		n, _ := strconv.Atoi(m[i])
		counts = append(counts, n)
	}
	return counts
}

// storedUsers reports which of the fixture's ids the store holds, and the
// first name of user 101.
func storedUsers(t *testing.T, env map[string]string) ([]int64, string) {
	t.Helper()
	var store ports.Store
	startT(t, loadEnv(t, env), fx.Populate(&store))
	var ids []int64
	var first string
	for _, a := range djangotest.Accounts() {
		u, err := store.FindUser(context.Background(), core.ByID, strconv.FormatInt(a.ID, 10))
		switch {
		case err == nil:
			ids = append(ids, a.ID)
			if a.ID == 101 {
				first = u.FirstName
			}
		case !errors.Is(err, core.ErrNotFound):
			t.Fatal(err)
		}
	}
	return ids, first
}

// The command imports into the store the settings name; a re-run updates
// and never duplicates; a dry run writes nothing; --resume continues after
// the checkpoint.
func TestImportDjangoCommand(t *testing.T) {
	stores := []string{"sqlite"}
	if !testing.Short() {
		stores = append(stores, "postgres", "mongodb")
	}
	for _, store := range stores {
		t.Run(store, func(t *testing.T) {
			d := djangotest.SQLite(t)
			accounts := d.InsertAccounts(t)
			n := len(accounts)

			t.Run("dry run writes nothing", func(t *testing.T) {
				env := importEnv(t, store)
				if got := importCmd(t, env, "--from", d.URL, "--dry-run"); !slices.Equal(got, []int{n, n - 1, 0, 1}) {
					t.Errorf("dry run counts %v, want %v", got, []int{n, n - 1, 0, 1})
				}
				if ids, _ := storedUsers(t, env); len(ids) != 0 {
					t.Errorf("after a dry run the store holds %v", ids)
				}
				if _, err := os.Stat(filepath.Join(env["DATA_DIR"], "import-django.checkpoint")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a dry run wrote a checkpoint: %v", err)
				}
			})

			t.Run("import, then re-run", func(t *testing.T) {
				env := importEnv(t, store)
				if got := importCmd(t, env, "--from", d.URL, "--batch", "3"); !slices.Equal(got, []int{n, n - 1, 0, 1}) {
					t.Errorf("first run counts %v, want %v", got, []int{n, n - 1, 0, 1})
				}
				rows := readConflicts(t, filepath.Join(env["DATA_DIR"], "import-django-conflicts.csv"))
				if len(rows) != 2 || rows[1][0] != strconv.Itoa(djangotest.CaseTwinID) {
					t.Errorf("conflicts file = %q", rows)
				}
				d.Update(t, `UPDATE auth_user SET first_name = ? WHERE id = ?`, "Changed", 101)
				if got := importCmd(t, env, "--from", d.URL); !slices.Equal(got, []int{n, 0, n - 1, 1}) {
					t.Errorf("re-run counts %v, want %v", got, []int{n, 0, n - 1, 1})
				}
				ids, first := storedUsers(t, env)
				if len(ids) != n-1 || first != "Changed" {
					t.Errorf("after the re-run: %d users stored (want %d), user 101's first name %q (want Changed)", len(ids), n-1, first)
				}
				// --only-new leaves the imported users alone.
				d.Update(t, `UPDATE auth_user SET first_name = ? WHERE id = ?`, "Changed again", 101)
				if got := importCmd(t, env, "--from", d.URL, "--only-new"); !slices.Equal(got, []int{n, 0, 0, 1}) {
					t.Errorf("--only-new counts %v, want %v", got, []int{n, 0, 0, 1})
				}
				if _, first := storedUsers(t, env); first != "Changed" {
					t.Errorf("after --only-new user 101's first name is %q; want it kept (Changed)", first)
				}
			})

			t.Run("resume", func(t *testing.T) {
				env := importEnv(t, store)
				checkpoint := filepath.Join(env["DATA_DIR"], "import-django.checkpoint")
				if err := os.WriteFile(checkpoint, []byte("105\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				// User 101, the address's first owner, is not imported
				// from 105 on: its twin is no conflict then.
				if got := importCmd(t, env, "--from", d.URL, "--resume"); !slices.Equal(got, []int{n - 5, n - 5, 0, 0}) {
					t.Errorf("resumed run counts %v, want %v", got, []int{n - 5, n - 5, 0, 0})
				}
				ids, _ := storedUsers(t, env)
				if slices.Contains(ids, 105) || !slices.Contains(ids, 106) {
					t.Errorf("after resuming from 105 the store holds %v; want ids after 105 only", ids)
				}
				raw, _ := os.ReadFile(checkpoint)
				if strings.TrimSpace(string(raw)) != strconv.Itoa(djangotest.UnusableID) {
					t.Errorf("checkpoint = %q, want the last id %d", raw, djangotest.UnusableID)
				}
			})
		})
	}
}

// Wrong invocations are refused with a clear message and exit non-zero.
func TestImportDjangoCommandRefusesBadInvocations(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		"no source":     {nil, map[string]string{}, 2, "--from is required"},
		"memory store":  {[]string{"--from", "sqlite:///nowhere"}, map[string]string{"STORE": "memory"}, 1, "STORE=memory keeps nothing"},
		"bad progress":  {[]string{"--from", "sqlite:///x", "--progress", "loud"}, map[string]string{}, 2, "--progress must be"},
		"not django db": {[]string{"--from", "sqlite://" + filepath.Join(t.TempDir(), "empty.db")}, map[string]string{"DATA_DIR": t.TempDir()}, 1, "import-django"},
		"secret in url": {[]string{"--from", "postgres://u:s3cr3t-pw@127.0.0.1:1/db?connect_timeout=1"}, map[string]string{"DATA_DIR": t.TempDir()}, 1, "xxxxx"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := restreg.Main(context.Background(), append([]string{"import-django"}, c.args...), envOf(c.env), &stdout, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), c.code, c.want)
			}
			if strings.Contains(stderr.String()+stdout.String(), "s3cr3t-pw") {
				t.Error("the output shows the source's password")
			}
		})
	}
}

// The progress line shows a bar, the count, the rate and the time left.
func TestImportProgressLine(t *testing.T) {
	got := restreg.RenderProgress(500, 2000, 10*time.Second)
	want := "[=======>                      ] 500/2000  25% 50 users/s ETA 30s "
	if got != want {
		t.Errorf("progress line\n got %q\nwant %q", got, want)
	}
	if got := restreg.RenderProgress(0, 10, 0); !strings.Contains(got, "ETA --") {
		t.Errorf("before any user: %q, want no ETA", got)
	}
}

// --progress always draws the bar on stderr, redrawn in place, and ends it
// with the final count; the summary stays on stdout.
func TestImportDjangoDrawsProgressWhenAsked(t *testing.T) {
	d := djangotest.SQLite(t)
	d.Generate(t, 1, 3000)
	var stdout, stderr bytes.Buffer
	args := []string{"import-django", "--from", d.URL, "--progress", "always", "--batch", "100", "--workers", "2"}
	if code := restreg.Main(context.Background(), args, envOf(importEnv(t, "sqlite")), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	final := regexp.MustCompile(`\r\[={30}\] 3000/3000 100% \d+ users/s ETA 0s \n$`)
	if !strings.HasPrefix(stderr.String(), "\r[") || !final.MatchString(stderr.String()) {
		t.Errorf("stderr %q: want the bar redrawn with \\r, ending at 3000/3000 100%% and a newline", stderr.String())
	}
	if strings.Contains(stdout.String(), "\r") || !strings.Contains(stdout.String(), "3000 created") {
		t.Errorf("stdout %q: want only the summary", stdout.String())
	}
}
