package restreg

import (
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/apidocs"
	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/prommetrics"
	"github.com/restreg/restreg/core/usecase"
)

// Operational serves /metrics and /docs beside the API and feeds the
// metrics' gauges from the hash queue and the outbox.
var Operational = fx.Options(prommetrics.Module, fx.Invoke(mountOperational))

func mountOperational(srv *httpapi.Server, m *prommetrics.Metrics, h *passhash.Hasher, relay *usecase.Relay) {
	srv.Observe(func(r httpapi.RequestRecord) { m.ObserveRequest(r.Route, r.Method, r.Status, r.Duration) })
	srv.Mount("/metrics", m.Handler())
	srv.Mount(apidocs.Path, apidocs.Handler("/openapi.json"))
	m.WatchHashQueue(h.QueueStats)
	m.WatchOutbox(relay.Backlog)
	srv.ReportBacklog(relay.Backlog)
}
