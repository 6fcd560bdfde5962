package prommetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// scrape fetches /metrics from a server running m.Handler() and parses it.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// sample returns the value of the series of family name whose labels include
// want (counter, gauge, or a histogram's sample count), and whether it exists.
func sample(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func wantSample(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := sample(families, name, labels)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

type fakeMailer struct{ errs []error }

func (f *fakeMailer) Send(context.Context, core.Message) error {
	if len(f.errs) == 0 {
		return nil
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	return err
}

func TestMailerDecoratorCountsSentAndFailuresByBackend(t *testing.T) {
	m := New("smtp", "nats")
	mailer := m.DecorateMailer(&fakeMailer{errs: []error{
		nil,
		fmt.Errorf("smtp: dial: %w: refused", core.ErrUnavailable),
		errors.New("smtp: 550 mailbox unknown"),
		nil,
	}})
	var gotErrs int
	for range 4 {
		if err := mailer.Send(context.Background(), core.Message{To: []string{"ann@example.com"}}); err != nil {
			gotErrs++
		}
	}
	if gotErrs != 2 {
		t.Fatalf("decorated mailer returned %d errors, want the 2 of the backend", gotErrs)
	}
	f := scrape(t, m)
	wantSample(t, f, "restreg_mail_sent_total", map[string]string{"backend": "smtp"}, 2)
	wantSample(t, f, "restreg_mail_failures_total", map[string]string{"backend": "smtp", "kind": "transient"}, 1)
	wantSample(t, f, "restreg_mail_failures_total", map[string]string{"backend": "smtp", "kind": "permanent"}, 1)
}

type fakeStore struct {
	createErr   error
	activated   bool
	activateErr error
	findErr     error
	pingErr     error
}

func (s *fakeStore) CreateUser(context.Context, core.User, ...core.Event) error { return s.createErr }
func (s *fakeStore) DeleteInactiveUser(context.Context, string) error           { return nil }
func (s *fakeStore) QueueVerificationMail(context.Context, string, time.Time, time.Time) (bool, error) {
	return true, nil
}
func (s *fakeStore) ActivateUser(context.Context, string, ...core.Event) (bool, error) {
	return s.activated, s.activateErr
}
func (s *fakeStore) FindUser(context.Context, core.LookupField, string) (core.User, error) {
	return core.User{}, s.findErr
}
func (s *fakeStore) SetPasswordHash(context.Context, string, string) error { return nil }
func (s *fakeStore) Ping(context.Context) error                            { return s.pingErr }

func TestUserStoreDecoratorCountsRegistrationsVerificationsAndFailures(t *testing.T) {
	m := New("file", "gochannel")
	ctx := context.Background()
	inner := &fakeStore{}
	store := m.DecorateUserStore(inner)

	// Three users created, one name taken (an answer, not a failure), one
	// store outage.
	for range 3 {
		if err := store.CreateUser(ctx, core.User{ID: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	inner.createErr = fmt.Errorf("sqlite: insert user: %w", core.ErrUsernameTaken)
	if err := store.CreateUser(ctx, core.User{ID: "u"}); !errors.Is(err, core.ErrUsernameTaken) {
		t.Fatalf("CreateUser error = %v, want the store's ErrUsernameTaken passed through", err)
	}
	inner.createErr = fmt.Errorf("sqlite: insert user: %w", core.ErrUnavailable)
	_ = store.CreateUser(ctx, core.User{ID: "u"})

	// One activation wins, one finds the user already active, one fails.
	inner.activated = true
	if ok, err := store.ActivateUser(ctx, "u"); !ok || err != nil {
		t.Fatalf("ActivateUser = %v, %v", ok, err)
	}
	inner.activated = false
	_, _ = store.ActivateUser(ctx, "u")
	inner.activateErr = context.DeadlineExceeded
	_, _ = store.ActivateUser(ctx, "u")

	inner.findErr = core.ErrNotFound
	_, _ = store.FindUser(ctx, core.ByID, "missing")
	inner.pingErr = fmt.Errorf("ping: %w", core.ErrUnavailable)
	_ = store.Ping(ctx)
	_ = store.DeleteInactiveUser(ctx, "u")

	f := scrape(t, m)
	wantSample(t, f, "restreg_registrations_total", nil, 3)
	wantSample(t, f, "restreg_registrations_undone_total", nil, 1)
	wantSample(t, f, "restreg_verifications_total", nil, 1)
	wantSample(t, f, "restreg_store_errors_total", map[string]string{"operation": "create_user", "kind": "unavailable"}, 1)
	wantSample(t, f, "restreg_store_errors_total", map[string]string{"operation": "activate_user", "kind": "canceled"}, 1)
	wantSample(t, f, "restreg_store_errors_total", map[string]string{"operation": "ping", "kind": "unavailable"}, 1)
	if v, ok := sample(f, "restreg_store_errors_total", map[string]string{"operation": "find_user"}); ok {
		t.Errorf("a user that is not found counted as a store failure (%v)", v)
	}
	var failures float64
	for _, s := range f["restreg_store_errors_total"].GetMetric() {
		failures += s.GetCounter().GetValue()
	}
	if failures != 3 {
		t.Errorf("store failures total = %v, want 3 (taken names and unknown users are answers)", failures)
	}
}

type fakePublisher struct{ err error }

func (p *fakePublisher) Publish(context.Context, ...core.Event) error { return p.err }

func TestEventPublisherDecoratorCountsPublishedEventsAndFailures(t *testing.T) {
	m := New("file", "nats")
	inner := &fakePublisher{}
	pub := m.DecorateEventPublisher(inner)
	ctx := context.Background()
	if err := pub.Publish(ctx, core.Event{ID: "1"}, core.Event{ID: "2"}, core.Event{ID: "3"}); err != nil {
		t.Fatal(err)
	}
	inner.err = fmt.Errorf("nats: %w", core.ErrUnavailable)
	if err := pub.Publish(ctx, core.Event{ID: "4"}); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Publish error = %v, want the broker's error passed through", err)
	}
	f := scrape(t, m)
	wantSample(t, f, "restreg_events_published_total", map[string]string{"backend": "nats"}, 3)
	wantSample(t, f, "restreg_events_publish_failures_total", map[string]string{"backend": "nats"}, 1)
}

type slowHasher struct {
	delay time.Duration
	err   error
}

func (h slowHasher) Hash(ctx context.Context, _ string) (string, error) {
	time.Sleep(h.delay)
	return "$argon2id$fake", h.err
}

func (h slowHasher) Check(context.Context, string, string) (bool, bool, error) {
	time.Sleep(h.delay)
	return true, false, h.err
}

func TestPasswordHasherDecoratorTimesHashAndCheckByOutcome(t *testing.T) {
	m := New("file", "gochannel")
	ctx := context.Background()
	ok := m.DecoratePasswordHasher(slowHasher{delay: 30 * time.Millisecond})
	if _, err := ok.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ok.Check(ctx, "pw", "$argon2id$fake"); err != nil {
		t.Fatal(err)
	}
	busy := m.DecoratePasswordHasher(slowHasher{err: fmt.Errorf("passhash: hash: %w", core.ErrOverloaded)})
	if _, err := busy.Hash(ctx, "pw"); !errors.Is(err, core.ErrOverloaded) {
		t.Fatalf("Hash error = %v, want ErrOverloaded passed through", err)
	}

	f := scrape(t, m)
	wantSample(t, f, "restreg_password_hash_duration_seconds", map[string]string{"operation": "hash", "outcome": "ok"}, 1)
	wantSample(t, f, "restreg_password_hash_duration_seconds", map[string]string{"operation": "check", "outcome": "ok"}, 1)
	wantSample(t, f, "restreg_password_hash_duration_seconds", map[string]string{"operation": "hash", "outcome": "overloaded"}, 1)
	for _, s := range f["restreg_password_hash_duration_seconds"].GetMetric() {
		if s.GetLabel()[0].GetValue() == "hash" && s.GetLabel()[1].GetValue() == "ok" {
			if sum := s.GetHistogram().GetSampleSum(); sum < 0.03 {
				t.Errorf("hash of 30ms observed as %vs", sum)
			}
		}
	}
}

func TestCallbackGaugesReportHashQueueAndOutboxBacklog(t *testing.T) {
	m := New("file", "gochannel")
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }

	f := scrape(t, m)
	if _, ok := sample(f, "restreg_password_hash_queue_running", nil); ok {
		t.Error("hash queue reported before a source was watched")
	}

	m.WatchHashQueue(func() (int, int) { return 2, 7 })
	var backlogErr error
	m.WatchOutbox(func(ctx context.Context) (int, time.Time, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("backlog queried without a deadline")
		}
		return 5, now.Add(-90 * time.Second), backlogErr
	})
	f = scrape(t, m)
	wantSample(t, f, "restreg_password_hash_queue_running", nil, 2)
	wantSample(t, f, "restreg_password_hash_queue_waiting", nil, 7)
	wantSample(t, f, "restreg_outbox_backlog_events", nil, 5)
	wantSample(t, f, "restreg_outbox_oldest_event_age_seconds", nil, 90)

	backlogErr = fmt.Errorf("sqlite: backlog: %w", core.ErrUnavailable)
	f = scrape(t, m)
	if v, ok := sample(f, "restreg_outbox_backlog_events", nil); ok {
		t.Errorf("backlog reported as %v while the store is down; want it left out", v)
	}
	f = scrape(t, m)
	if v, _ := sample(f, "restreg_outbox_backlog_read_errors_total", nil); v < 1 {
		t.Errorf("backlog read errors = %v, want them counted", v)
	}
	if _, ok := sample(f, "process_resident_memory_bytes", nil); !ok {
		t.Error("process_resident_memory_bytes missing")
	}
}

func TestMiddlewareLabelsByRoutePatternNotRawPath(t *testing.T) {
	m := New("file", "gochannel")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.PathValue("id"))
	})
	mux.HandleFunc("/register/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()

	do := func(method, path string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 5 {
		do(http.MethodGet, fmt.Sprintf("/users/%d", i))
	}
	do(http.MethodPost, "/register/")
	do(http.MethodPost, "/register/")
	do(http.MethodGet, "/nowhere")
	do("BREW", "/register/")

	f := scrape(t, m)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "/users/{id}", "method": "GET", "status": "200"}, 5)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "/register/", "method": "POST", "status": "201"}, 2)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "/register/", "method": "other", "status": "201"}, 1)
	wantSample(t, f, "restreg_http_request_duration_seconds", map[string]string{"route": "/users/{id}", "method": "GET", "status": "200"}, 5)
	for _, s := range f["restreg_http_requests_total"].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == "route" && strings.HasPrefix(l.GetValue(), "/users/") && l.GetValue() != "/users/{id}" {
				t.Errorf("raw path %q used as a route label", l.GetValue())
			}
		}
	}
}

// A client that hangs up while the handler waits is counted as 499, not as
// the 500 the handler answers nobody.
func TestMiddlewareCountsAHungUpClientAs499(t *testing.T) {
	m := New("file", "gochannel")
	entered := make(chan struct{}, 1)
	finished := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
		http.Error(w, "store interrupted", http.StatusInternalServerError)
	})
	counted := m.Middleware(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		counted.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/login/", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("request not finished after the client hung up")
	}
	f := scrape(t, m)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "/login/", "method": "POST", "status": "499"}, 1)
	if v, ok := sample(f, "restreg_http_requests_total", map[string]string{"route": "/login/", "status": "500"}); ok {
		t.Errorf("a hung-up client counted as %v server errors", v)
	}
}

func TestObserveRequestCountsRouterReportedRoutes(t *testing.T) {
	m := New("file", "gochannel")
	m.ObserveRequest("/api/v1/accounts/register/", "POST", 201, 80*time.Millisecond)
	m.ObserveRequest("/api/v1/accounts/register/", "POST", 503, time.Millisecond)
	m.ObserveRequest("", "GET", 404, time.Millisecond)
	f := scrape(t, m)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "/api/v1/accounts/register/", "status": "201"}, 1)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "/api/v1/accounts/register/", "status": "503"}, 1)
	wantSample(t, f, "restreg_http_requests_total", map[string]string{"route": "unmatched", "status": "404"}, 1)
}

func TestHandlerRefusesWritesToMetrics(t *testing.T) {
	m := New("file", "gochannel")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics = %d Allow %q, want 405 with Allow: GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// consumer stands for Core: a module of its own that receives the ports.
type consumer struct {
	mailer ports.Mailer
	store  ports.UserStore
	pub    ports.EventPublisher
	hasher ports.PasswordHasher
}

func TestDecoratorsAtTopLevelReachPortsUsedByOtherModules(t *testing.T) {
	testDecoratorsReachConsumers(t, func(consumers fx.Option) []fx.Option {
		return []fx.Option{consumers, Decorators}
	})
}

func TestDecoratorsAroundTheConsumersLeaveTheTopLevelToTheApplication(t *testing.T) {
	var appDecorated bool
	testDecoratorsReachConsumers(t, func(consumers fx.Option) []fx.Option {
		return []fx.Option{
			fx.Module("instrumented", Decorators, consumers),
			// An application's own decoration of a port, at the top level.
			fx.Decorate(func(m ports.Mailer) ports.Mailer { appDecorated = true; return m }),
		}
	})
	if !appDecorated {
		t.Error("the application's own decoration of ports.Mailer was not applied")
	}
}

// testDecoratorsReachConsumers builds an app whose adapters and consumers
// live in modules of their own, placed by arrange together with
// Decorators, and checks that the consumers received instrumented ports.
func testDecoratorsReachConsumers(t *testing.T, arrange func(consumers fx.Option) []fx.Option) {
	t.Helper()
	var got consumer
	var m *Metrics
	consumers := fx.Module("core", fx.Invoke(func(ml ports.Mailer, s ports.UserStore, p ports.EventPublisher, h ports.PasswordHasher) {
		got = consumer{ml, s, p, h}
	}))
	opts := []fx.Option{
		fx.NopLogger,
		fx.Supply(Config{MailBackend: "file", EventsBackend: "gochannel"}),
		fx.Module("mail", fx.Provide(fx.Annotate(func() *fakeMailer { return &fakeMailer{} }, fx.As(new(ports.Mailer))))),
		fx.Module("store", fx.Provide(fx.Annotate(func() *fakeStore { return &fakeStore{activated: true} }, fx.As(new(ports.UserStore))))),
		fx.Module("events", fx.Provide(fx.Annotate(func() *fakePublisher { return &fakePublisher{} }, fx.As(new(ports.EventPublisher))))),
		fx.Module("hash", fx.Provide(fx.Annotate(func() slowHasher { return slowHasher{} }, fx.As(new(ports.PasswordHasher))))),
		Module,
		fx.Populate(&m),
	}
	app := fx.New(append(opts, arrange(consumers)...)...)
	if err := app.Err(); err != nil {
		t.Fatalf("fx app: %v", err)
	}
	ctx := context.Background()
	_ = got.mailer.Send(ctx, core.Message{})
	_ = got.store.CreateUser(ctx, core.User{ID: "u"})
	_, _ = got.store.ActivateUser(ctx, "u")
	_ = got.pub.Publish(ctx, core.Event{ID: "e"})
	_, _ = got.hasher.Hash(ctx, "pw")

	f := scrape(t, m)
	wantSample(t, f, "restreg_mail_sent_total", map[string]string{"backend": "file"}, 1)
	wantSample(t, f, "restreg_registrations_total", nil, 1)
	wantSample(t, f, "restreg_verifications_total", nil, 1)
	wantSample(t, f, "restreg_events_published_total", map[string]string{"backend": "gochannel"}, 1)
	wantSample(t, f, "restreg_password_hash_duration_seconds", map[string]string{"operation": "hash", "outcome": "ok"}, 1)
}

func TestDecoratorsAreSafeForConcurrentUse(t *testing.T) {
	m := New("file", "gochannel")
	store := m.DecorateUserStore(&fakeStore{activated: true})
	mailer := m.DecorateMailer(&fakeMailer{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_ = store.CreateUser(context.Background(), core.User{ID: "u"})
				_ = mailer.Send(context.Background(), core.Message{})
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			m.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
		}
	})
	wg.Wait()
	f := scrape(t, m)
	wantSample(t, f, "restreg_registrations_total", nil, 400)
}
