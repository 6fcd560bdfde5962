package restreg

import (
	"context"
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
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// Operational serves /metrics and /docs beside the API, feeds the metrics'
// gauges from the hash queue and the outbox, and serves the profiler on
// PPROF_ADDR when it is set.
var Operational = fx.Options(prommetrics.Module, fx.Invoke(mountOperational), fx.Invoke(servePprof))

// servePprof serves /debug/pprof/ on its own listener (PPROF_ADDR), so the
// profiler is never reachable through the public address.
func servePprof(lc fx.Lifecycle, s core.Settings, log *slog.Logger) {
	if s.PprofAddr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", s.PprofAddr)
			if err != nil {
				return fmt.Errorf("listen on PPROF_ADDR %s: %w", s.PprofAddr, err)
			}
			log.Info("profiler listening", "addr", ln.Addr().String())
			go func() { _ = srv.Serve(ln) }()
			return nil
		},
		OnStop: func(ctx context.Context) error { return srv.Shutdown(ctx) },
	})
}

func mountOperational(srv *httpapi.Server, m *prommetrics.Metrics, h *passhash.Hasher, relay *usecase.Relay) {
	srv.Observe(func(r httpapi.RequestRecord) { m.ObserveRequest(r.Route, r.Method, r.Status, r.Duration) })
	srv.Mount("/metrics", m.Handler())
	srv.Mount(apidocs.Path, apidocs.Handler("/openapi.json"))
	m.WatchHashQueue(h.QueueStats)
	m.WatchOutbox(relay.Backlog)
	srv.ReportBacklog(relay.Backlog)
}
