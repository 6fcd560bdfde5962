package restreg_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
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

// operationalSettings are a quick in-memory server on a free port.
func operationalSettings() restreg.Config {
	s := restreg.DefaultConfig()
	configureSuite(&s, apisuite.Configure)
	s.ListenAddr = "127.0.0.1:0"
	s.Store = "memory"
	s.MailBackend = "console"
	return s
}

// /metrics and the profiler answer on the admin listener only, never on the
// public one; the docs and probes are on the public one.
func TestMetricsAndProfilerOnTheAdminListenerOnly(t *testing.T) {
	s := operationalSettings()
	s.AdminListenAddr = "127.0.0.1:0"
	srv := startT(t, s)
	if srv.AdminURL() == "" || srv.AdminURL() == srv.URL() {
		t.Fatalf("admin listener %q, public %q", srv.AdminURL(), srv.URL())
	}

	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code := get(t, srv.AdminURL()+path); code != 200 {
			t.Errorf("GET %s on the admin listener: %d", path, code)
		}
		if code := get(t, srv.URL()+path); code != 404 {
			t.Errorf("GET %s on the public listener: %d, want 404", path, code)
		}
	}
	for _, path := range []string{"/docs/", "/healthz", "/readyz", "/openapi.yaml"} {
		if code := get(t, srv.URL()+path); code != 200 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
}

// Without ADMIN_LISTEN_ADDR there is no /metrics anywhere: the safe default
// is to show an outsider nothing.
func TestNoMetricsWithoutAnAdminListener(t *testing.T) {
	srv := startT(t, operationalSettings())
	if srv.AdminURL() != "" {
		t.Errorf("admin listener %q without ADMIN_LISTEN_ADDR", srv.AdminURL())
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code := get(t, srv.URL()+path); code != 404 {
			t.Errorf("GET %s on the public listener: %d, want 404", path, code)
		}
	}
}

// PPROF_ADDR, the older name, still opens the admin listener.
func TestPprofAddrStillOpensTheAdminListener(t *testing.T) {
	s := operationalSettings()
	s.PprofAddr = "127.0.0.1:0"
	srv := startT(t, s)
	if srv.AdminURL() == "" {
		t.Fatal("PPROF_ADDR opened no admin listener")
	}
	for _, path := range []string{"/debug/pprof/", "/metrics"} {
		if code := get(t, srv.AdminURL()+path); code != 200 {
			t.Errorf("GET %s on PPROF_ADDR: %d", path, code)
		}
	}
	if code := get(t, srv.URL()+"/debug/pprof/"); code != 404 {
		t.Errorf("profiler reachable on the public listener: %d", code)
	}
}

// DOCS_ENABLED=false takes the reference page and its assets away; the
// OpenAPI documents stay.
func TestDocsSwitchedOff(t *testing.T) {
	s := operationalSettings()
	s.DocsEnabled = false
	srv := startT(t, s)
	for _, path := range []string{"/docs", "/docs/", "/docs/assets/swagger-ui.css"} {
		if code := get(t, srv.URL()+path); code != 404 {
			t.Errorf("GET %s with docs off: %d, want 404", path, code)
		}
	}
	if code := get(t, srv.URL()+"/openapi.json"); code != 200 {
		t.Errorf("GET /openapi.json with docs off: %d", code)
	}

	on := startT(t, operationalSettings())
	if code := get(t, on.URL()+"/docs/assets/swagger-ui.css"); code != 200 {
		t.Errorf("GET /docs/assets/swagger-ui.css with docs on: %d", code)
	}
}
