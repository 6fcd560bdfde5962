package restreg_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
)

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// The profiler answers on PPROF_ADDR only, never on the public listener;
// /metrics and /docs are on the public one.
func TestOperationalEndpoints(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pprofAddr := free.Addr().String()
	free.Close()

	s := core.DefaultSettings()
	apisuite.Configure(&s)
	s.ListenAddr = "127.0.0.1:0"
	s.Store = "memory"
	s.MailBackend = "console"
	s.PprofAddr = pprofAddr
	var listener *restreg.Listener
	app, err := restreg.New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), fx.Populate(&listener))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Stop(context.Background()) }()

	if code := get(t, "http://"+pprofAddr+"/debug/pprof/"); code != 200 {
		t.Errorf("profiler on PPROF_ADDR: %d", code)
	}
	if code := get(t, listener.URL()+"/debug/pprof/"); code != 404 {
		t.Errorf("profiler reachable on the public listener: %d", code)
	}
	for _, path := range []string{"/metrics", "/docs/", "/healthz", "/readyz", "/openapi.yaml"} {
		if code := get(t, listener.URL()+path); code != 200 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}
