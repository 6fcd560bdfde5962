package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/restreg/restreg/core"
)

func TestModuleProvidesTheServer(t *testing.T) {
	var srv *Server
	app := fxtest.New(t,
		fx.Supply(testSettings().Settings, testSettings().Config, UseCases{}, slog.Default()),
		fx.Provide(func() Readiness { return func(context.Context) error { return core.ErrUnavailable } }),
		Module,
		fx.Populate(&srv),
	)
	app.RequireStart()
	defer app.RequireStop()
	rec := testServer{Server: srv}.do(http.MethodGet, "/readyz", "", "")
	assertJSON(t, rec, http.StatusServiceUnavailable, `{"detail":"Service temporarily unavailable, please try again later."}`)
}
