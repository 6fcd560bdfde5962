package restreg_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/mongostore/ferrettest"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/pgstore/pgtest"
	"github.com/restreg/restreg/adapters/sqlitestore"
	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

func registerBody(name string) string {
	return fmt.Sprintf(`{"username":%q,"email":"%s@example.com","password":"violet-Anchor-7412","password_confirm":"violet-Anchor-7412"}`, name, name)
}

// answer is a response read in full.
type answer struct {
	StatusCode int
	Header     http.Header
}

func postJSON(t *testing.T, url, body string) (answer, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answer{StatusCode: resp.StatusCode, Header: resp.Header}, string(raw)
}

// With MongoDB gone the API answers 503 with Retry-After and /readyz is not
// ready; when it is back, the same process serves again without a restart.
func TestMongoDBOutageAnswers503AndRecoversWithoutRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running: waits out the driver's reconnection after stopping the embedded FerretDB; runs without -short (make test)")
	}
	dir := t.TempDir()
	db, err := ferrettest.Start(dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if db != nil {
			db.Stop()
		}
	}()
	env := composedStart(func(_ *testing.T, s *restreg.Config) {
		s.Store = "mongodb"
		s.MongoDB.URI = db.URI
		s.MongoDB.Database = "restreg_outage"
	})(t, apisuite.Configure)
	api := env.BaseURL + env.Settings.HTTP.BasePath

	if resp, body := postJSON(t, api+"/register/", registerBody("before")); resp.StatusCode != 201 {
		t.Fatalf("register before the outage: %d %s", resp.StatusCode, body)
	}

	db.Stop()
	resp, body := postJSON(t, api+"/register/", registerBody("during"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
		body != `{"detail":"Service temporarily unavailable, please try again later."}` {
		t.Fatalf("register during the outage: %d %q Retry-After=%q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	ready, err := http.Get(env.BaseURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != 503 {
		t.Fatalf("/readyz during the outage: %d", ready.StatusCode)
	}

	addr := db.Addr
	if db, err = ferrettest.Start(dir, addr); err != nil {
		t.Fatalf("restart FerretDB on %s: %v", addr, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get(env.BaseURL + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover within 30s of MongoDB coming back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, body := postJSON(t, api+"/register/", registerBody("during")); resp.StatusCode != 201 {
		t.Fatalf("the registration refused during the outage, retried after it: %d %s", resp.StatusCode, body)
	}
	if resp, body := postJSON(t, api+"/register/", registerBody("before")); resp.StatusCode != 400 || !strings.Contains(body, "already exists") {
		t.Fatalf("the user stored before the outage is gone: %d %s", resp.StatusCode, body)
	}
}

// With PostgreSQL gone the API answers 503 with Retry-After and /readyz is
// not ready; when it is back, the same process serves again without a
// restart.
func TestPostgresOutageAnswers503AndRecoversWithoutRestart(t *testing.T) {
	proxy, dbURL := pgtest.StartProxyT(t, postgresURL(t))
	env := composedStart(func(_ *testing.T, s *restreg.Config) {
		s.Store = "postgres"
		s.Postgres.URL = dbURL
		s.Postgres.ConnectTimeout = 2 * time.Second
		s.Postgres.StatementTimeout = 2 * time.Second
	})(t, apisuite.Configure)
	api := env.BaseURL + env.Settings.HTTP.BasePath

	if resp, body := postJSON(t, api+"/register/", registerBody("before")); resp.StatusCode != 201 {
		t.Fatalf("register before the outage: %d %s", resp.StatusCode, body)
	}

	proxy.Stop()
	resp, body := postJSON(t, api+"/register/", registerBody("during"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" ||
		body != `{"detail":"Service temporarily unavailable, please try again later."}` {
		t.Fatalf("register during the outage: %d %q Retry-After=%q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	ready, err := http.Get(env.BaseURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	ready.Body.Close()
	if ready.StatusCode != 503 {
		t.Fatalf("/readyz during the outage: %d", ready.StatusCode)
	}

	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := http.Get(env.BaseURL + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover within 30s of PostgreSQL coming back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if resp, body := postJSON(t, api+"/register/", registerBody("during")); resp.StatusCode != 201 {
		t.Fatalf("the registration refused during the outage, retried after it: %d %s", resp.StatusCode, body)
	}
	if resp, body := postJSON(t, api+"/register/", registerBody("before")); resp.StatusCode != 400 || !strings.Contains(body, "already exists") {
		t.Fatalf("the user stored before the outage is gone: %d %s", resp.StatusCode, body)
	}
}

// blockingPublisher refuses to publish until released, so events stay in the
// outbox while the server shuts down.
type blockingPublisher struct {
	mu       sync.Mutex
	released bool
}

func (p *blockingPublisher) Publish(context.Context, ...core.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.released {
		return fmt.Errorf("broker away: %w", core.ErrUnavailable)
	}
	return nil
}

// SIGTERM with requests in flight: every request that was accepted gets its
// full answer, and every event of every stored user survives — published,
// or kept in the outbox for the next start.
func TestGracefulShutdownFinishesRequestsAndKeepsEvents(t *testing.T) {
	s := restreg.DefaultConfig()
	configureSuite(&s, apisuite.Configure)
	s.ListenAddr = "127.0.0.1:0"
	s.Store = "sqlite"
	s.DataDir = t.TempDir()
	s.MailBackend = "console"
	s.RateLimitBackend = "off"
	// A real hash cost, so requests are still running when the stop begins.
	s.Hashing.Argon2idMemoryKiB, s.Hashing.Argon2idIterations = passhash.DefaultConfig().Argon2idMemoryKiB, 4
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := restreg.Start(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)),
		fx.Decorate(func(ports.EventPublisher) ports.EventPublisher { return &blockingPublisher{} }))
	if err != nil {
		t.Fatal(err)
	}

	const n = 8
	type result struct {
		status int
		err    error
	}
	results := make(chan result, n)
	started := make(chan struct{}, n)
	for i := range n {
		go func() {
			started <- struct{}{}
			resp, err := http.Post(srv.URL()+s.HTTP.BasePath+"/register/", "application/json", strings.NewReader(registerBody(fmt.Sprintf("inflight%d", i))))
			if err != nil {
				results <- result{err: err}
				return
			}
			resp.Body.Close()
			results <- result{status: resp.StatusCode}
		}()
	}
	for range n {
		<-started
	}
	time.Sleep(30 * time.Millisecond) // let the requests reach the server
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	created := 0
	for range n {
		r := <-results
		switch {
		case r.err != nil:
			// Connections not yet accepted when the listener closed are
			// refused: the client knows nothing happened and can retry.
		case r.status == 201:
			created++
		default:
			t.Errorf("an in-flight request got %d instead of its answer", r.status)
		}
	}
	if created == 0 {
		t.Fatal("no request was in flight during the stop; the test proves nothing")
	}

	store, err := sqlitestore.Open(context.Background(), s.DataDir+"/restreg.db")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count, _, err := store.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if count != created {
		t.Fatalf("%d users were created but %d user_registered events are kept for the next start", created, count)
	}
}
