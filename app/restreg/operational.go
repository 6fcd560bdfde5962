package restreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/apidocs"
	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/prommetrics"
	"github.com/restreg/restreg/core/usecase"
)

// Operational feeds the metrics from the HTTP server, the hash queue and the
// outbox, serves /docs beside the API (DOCS_ENABLED), and serves /metrics and
// the profiler on the admin listener (ADMIN_LISTEN_ADDR) when one is set.
// Neither is ever served on the public listener: metrics tell an outsider
// how busy the service is and what fails, and the profiler can be made to
// burn CPU.
var Operational = fx.Options(prommetrics.Module, fx.Provide(newAdminListener), fx.Invoke(mountOperational, serveAdmin))

// AdminListener is the address of the admin listener (known once started,
// also when ADMIN_LISTEN_ADDR asks for port 0).
type AdminListener struct {
	ln net.Listener
}

// URL returns the admin listener's base URL, e.g. http://127.0.0.1:9090, or
// "" when there is none.
func (l *AdminListener) URL() string {
	if l == nil || l.ln == nil {
		return ""
	}
	return "http://" + l.ln.Addr().String()
}

func newAdminListener() *AdminListener { return &AdminListener{} }

// adminHandler serves what the admin listener offers: /metrics and Go's
// profiler below /debug/pprof/.
func adminHandler(m *prommetrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveAdmin listens on ADMIN_LISTEN_ADDR (or PPROF_ADDR, its older name)
// when it is set.
func serveAdmin(lc fx.Lifecycle, s Operations, m *prommetrics.Metrics, l *AdminListener, log *slog.Logger) {
	addr := s.AdminAddr()
	if addr == "" {
		return
	}
	// No write timeout: a CPU profile or trace streams for as long as asked.
	srv := &http.Server{
		Handler:           adminHandler(m),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on ADMIN_LISTEN_ADDR %s: %w", addr, err)
			}
			l.ln = ln
			log.Info("admin listener (metrics, profiler)", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("admin listener stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			if err := srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("stop the admin listener: %w", err)
			}
			return nil
		},
	})
}

func mountOperational(s Operations, srv *httpapi.Server, m *prommetrics.Metrics, h *passhash.Hasher, relay *usecase.Relay) {
	srv.Observe(func(r httpapi.RequestRecord) { m.ObserveRequest(r.Route, r.Method, r.Status, r.Duration) })
	if s.DocsEnabled {
		srv.Mount(apidocs.Path, apidocs.Handler("/openapi.json"))
	}
	m.WatchHashQueue(h.QueueStats)
	m.WatchOutbox(relay.Backlog)
	srv.ReportBacklog(relay.Backlog)
}
