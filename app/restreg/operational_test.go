package restreg_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/restreg/restreg/app/apisuite"
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
	srv := startT(t, s)

	if code := get(t, "http://"+pprofAddr+"/debug/pprof/"); code != 200 {
		t.Errorf("profiler on PPROF_ADDR: %d", code)
	}
	if code := get(t, srv.URL()+"/debug/pprof/"); code != 404 {
		t.Errorf("profiler reachable on the public listener: %d", code)
	}
	for _, path := range []string{"/metrics", "/docs/", "/healthz", "/readyz", "/openapi.yaml"} {
		if code := get(t, srv.URL()+path); code != 200 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}
