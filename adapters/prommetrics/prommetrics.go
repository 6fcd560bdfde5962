// Package prommetrics exposes restreg's Prometheus metrics: HTTP requests by
// route and status, e-mails, store failures, registrations, verifications,
// published events, password-hashing time and queue, and the outbox
// backlog. It observes the other parts through decorators over their ports
// and through callbacks, so no adapter depends on it.
package prommetrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Module provides *Metrics, built from the Config in the graph (which names
// the mail and events backends used as labels). It holds no fx.Decorate: fx applies a
// decoration only within the module that declares it and that module's
// children, and the ports are consumed elsewhere; see Decorators.
var Module = fx.Module("prommetrics",
	fx.Provide(FromConfig),
)

// Decorators instruments ports.Mailer, ports.UserStore,
// ports.EventPublisher and ports.PasswordHasher with the *Metrics in the
// graph, for every constructor and invoke in the scope it is given to and
// below. Give it to the module that consumes the ports, e.g.
// fx.Module("instrumented", Decorators, restreg.Core): fx allows one
// decoration of a type per scope, so this leaves the top level free for an
// application's own fx.Decorate of the same ports (which then applies first,
// and the metrics wrap it).
var Decorators = fx.Options(fx.Decorate(
	func(m *Metrics, next ports.Mailer) ports.Mailer { return m.DecorateMailer(next) },
	func(m *Metrics, next ports.UserStore) ports.UserStore { return m.DecorateUserStore(next) },
	func(m *Metrics, next ports.EventPublisher) ports.EventPublisher {
		return m.DecorateEventPublisher(next)
	},
	func(m *Metrics, next ports.PasswordHasher) ports.PasswordHasher {
		return m.DecoratePasswordHasher(next)
	},
))

// namespace prefixes every restreg metric.
const namespace = "restreg"

// backlogTimeout bounds the store query one scrape makes for the outbox
// backlog, so a hung store cannot hang /metrics.
const backlogTimeout = 2 * time.Second

// Buckets of the latency histograms, in seconds: from fast verifications
// (milliseconds) to registrations that waited for a hashing slot up to the
// default HASH_QUEUE_WAIT (10 s) and beyond.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics is a Prometheus registry with restreg's metrics. It is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	mailBackend   string
	eventsBackend string

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	mailSent     *prometheus.CounterVec
	mailFailures *prometheus.CounterVec

	storeErrors       *prometheus.CounterVec
	registrations     prometheus.Counter
	registrationsUndo prometheus.Counter
	verifications     prometheus.Counter

	eventsPublished *prometheus.CounterVec
	publishFailures *prometheus.CounterVec

	hashDuration *prometheus.HistogramVec

	backlogErrors prometheus.Counter

	mu        sync.Mutex
	hashQueue func() (running, waiting int)
	backlog   func(ctx context.Context) (int, time.Time, error)
	now       func() time.Time
}

// Config names the backends the mail and event counters are labelled with.
type Config struct {
	MailBackend   string
	EventsBackend string
}

// FromConfig returns Metrics labelled with the backends c names.
func FromConfig(c Config) *Metrics {
	return New(c.MailBackend, c.EventsBackend)
}

// New returns Metrics whose mail and event counters carry the given backend
// names, with the Go runtime and process collectors registered too (the
// process collector reports the resident memory operators watch).
func New(mailBackend, eventsBackend string) *Metrics {
	m := &Metrics{
		reg:           prometheus.NewRegistry(),
		mailBackend:   mailBackend,
		eventsBackend: eventsBackend,
		now:           time.Now,
	}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by route pattern, method and status.",
	}, []string{"route", "method", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern, method and status.",
		Buckets: latencyBuckets,
	}, []string{"route", "method", "status"})
	m.mailSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "mail", Name: "sent_total",
		Help: "E-mails handed to the mail backend successfully.",
	}, []string{"backend"})
	m.mailFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "mail", Name: "failures_total",
		Help: "E-mails the mail backend refused; kind is transient (worth a retry) or permanent.",
	}, []string{"backend", "kind"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "store", Name: "errors_total",
		Help: "Store operations that failed (taken names and unknown users are answers, not failures); kind is unavailable, canceled or other.",
	}, []string{"operation", "kind"})
	m.registrations = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "registrations_total",
		Help: "Users created.",
	})
	m.registrationsUndo = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "registrations_undone_total",
		Help: "Registrations removed again because their verification e-mail could not be sent.",
	})
	m.verifications = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "verifications_total",
		Help: "Users activated by a verification link.",
	})
	m.eventsPublished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "events", Name: "published_total",
		Help: "Events the broker acknowledged.",
	}, []string{"backend"})
	m.publishFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "events", Name: "publish_failures_total",
		Help: "Publish attempts the broker did not acknowledge (the outbox keeps their events for a retry).",
	}, []string{"backend"})
	m.hashDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "password", Name: "hash_duration_seconds",
		Help:    "Time to hash or check a password including the wait for a hashing slot; outcome is ok, overloaded, canceled or error.",
		Buckets: latencyBuckets,
	}, []string{"operation", "outcome"})
	m.backlogErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "outbox", Name: "backlog_read_errors_total",
		Help: "Scrapes that could not read the outbox backlog from the store.",
	})

	m.reg.MustRegister(
		m.httpRequests, m.httpDuration,
		m.mailSent, m.mailFailures,
		m.storeErrors, m.registrations, m.registrationsUndo, m.verifications,
		m.eventsPublished, m.publishFailures,
		m.hashDuration, m.backlogErrors,
		&callbackCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Series that exist before the first event make rate() and alerts work
	// from the start instead of after the first failure.
	m.mailSent.WithLabelValues(mailBackend)
	m.eventsPublished.WithLabelValues(eventsBackend)
	m.publishFailures.WithLabelValues(eventsBackend)
	for _, kind := range []string{"transient", "permanent"} {
		m.mailFailures.WithLabelValues(mailBackend, kind)
	}
	return m
}

// Registry returns the registry, e.g. to add an application's own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (GET and HEAD
// only). A collector that fails is reported in the scrape log, not by
// failing the whole scrape.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg,
		ErrorHandling: promhttp.ContinueOnError,
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// WatchHashQueue makes every scrape report the password-hash queue through
// stats (e.g. passhash.Hasher.QueueStats): hashes computing and callers
// waiting for a slot.
func (m *Metrics) WatchHashQueue(stats func() (running, waiting int)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hashQueue = stats
}

// WatchOutbox makes every scrape report the outbox backlog through backlog
// (e.g. ports.Outbox.Backlog): events not yet published and the age of the
// oldest, which grows while the broker is down.
func (m *Metrics) WatchOutbox(backlog func(ctx context.Context) (count int, oldest time.Time, err error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.backlog = backlog
}

// ObserveRequest records one answered request. route must be a pattern
// from a fixed set (the documented path, a mount pattern), never the raw
// path, so the number of series stays bounded; "" counts as "unmatched".
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	labels := []string{route, normalizeMethod(method), strconv.Itoa(status)}
	m.httpRequests.WithLabelValues(labels...).Inc()
	m.httpDuration.WithLabelValues(labels...).Observe(d.Seconds())
}

// statusClientClosedRequest is counted for a request whose client hung up
// before it was answered (nginx's 499): not a server error.
const statusClientClosedRequest = 499

// Middleware counts the requests next answers and times them, labelled by
// the net/http ServeMux pattern that matched (Request.Pattern, without its
// method), the method and the status. next should be or contain the
// ServeMux and pass the request on unchanged, or every request counts as
// "unmatched"; routers that know their route call ObserveRequest instead.
// A request whose client hung up counts as 499 when next answered nothing
// or a server error: the failure is the hang-up's, not the server's.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			// A panicking handler leaves no status; net/http answers it by
			// closing the connection, which clients see as a server error.
			status := sw.status
			if p := recover(); p != nil {
				if !sw.wrote {
					status = http.StatusInternalServerError
				}
				m.ObserveRequest(routeOf(r), r.Method, status, time.Since(start))
				panic(p)
			}
			// net/http cancels the request's context when the client's
			// connection closes.
			if errors.Is(r.Context().Err(), context.Canceled) && (!sw.wrote || status >= http.StatusInternalServerError) {
				status = statusClientClosedRequest
			}
			m.ObserveRequest(routeOf(r), r.Method, status, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// routeOf returns the matched ServeMux pattern without its method prefix.
func routeOf(r *http.Request) string {
	p := r.Pattern
	if method, rest, ok := strings.Cut(p, " "); ok && method != "" && !strings.Contains(method, "/") {
		p = strings.TrimLeft(rest, " ")
	}
	return p
}

// normalizeMethod keeps the label set bounded: any method outside the
// standard ones is "other".
func normalizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusWriter remembers the first final status written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader records the status before passing it on.
func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implies 200 when no status was written.
func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// callbackCollector reads the hash queue and the outbox backlog at scrape
// time, so the figures are current and cost nothing between scrapes.
type callbackCollector struct{ m *Metrics }

var (
	hashRunningDesc = prometheus.NewDesc(namespace+"_password_hash_queue_running",
		"Password hashes being computed now.", nil, nil)
	hashWaitingDesc = prometheus.NewDesc(namespace+"_password_hash_queue_waiting",
		"Requests waiting for a password-hashing slot now.", nil, nil)
	backlogDesc = prometheus.NewDesc(namespace+"_outbox_backlog_events",
		"Events recorded and not yet published.", nil, nil)
	oldestDesc = prometheus.NewDesc(namespace+"_outbox_oldest_event_age_seconds",
		"Age of the oldest unpublished event, 0 when none.", nil, nil)
)

// Describe sends the descriptions of the callback gauges.
func (c *callbackCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- hashRunningDesc
	ch <- hashWaitingDesc
	ch <- backlogDesc
	ch <- oldestDesc
}

// Collect calls the registered callbacks; gauges without one are left out.
func (c *callbackCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	queue, backlog, now := c.m.hashQueue, c.m.backlog, c.m.now
	c.m.mu.Unlock()
	if queue != nil {
		running, waiting := queue()
		ch <- prometheus.MustNewConstMetric(hashRunningDesc, prometheus.GaugeValue, float64(running))
		ch <- prometheus.MustNewConstMetric(hashWaitingDesc, prometheus.GaugeValue, float64(waiting))
	}
	if backlog != nil {
		ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
		defer cancel()
		n, oldest, err := backlog(ctx)
		if err != nil {
			// Leaving the gauges out (rather than reporting 0) keeps a
			// store outage from looking like an empty outbox.
			c.m.backlogErrors.Inc()
			return
		}
		age := 0.0
		if n > 0 && !oldest.IsZero() {
			age = max(now().Sub(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	}
}

// errorKind classifies a failure for the store and hash labels.
func errorKind(err error) string {
	switch {
	case errors.Is(err, core.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, core.ErrOverloaded):
		return "overloaded"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "other"
}
