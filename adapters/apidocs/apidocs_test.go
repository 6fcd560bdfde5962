package apidocs

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// documentPath is restreg's committed OpenAPI document, the one the page
// shows in production.
const documentPath = "../../openapi/openapi.json"

// newDocsServer serves the docs page at /docs/ and the OpenAPI document at
// /openapi.json, as the restreg server does.
func newDocsServer(t *testing.T) *httptest.Server {
	t.Helper()
	doc, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatalf("read OpenAPI document: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, Handler("/openapi.json"))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// answer is a response already read and closed.
type answer struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, url string, header ...string) (answer, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return answer{StatusCode: resp.StatusCode, Header: resp.Header}, string(body)
}

func TestPageAndEveryAssetItLoadsAreServedWithTheirContentTypes(t *testing.T) {
	srv := newDocsServer(t)

	resp, page := get(t, srv.URL+"/docs/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /docs/ = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /docs/ Content-Type = %q", ct)
	}
	if !strings.Contains(page, `data-openapi-url="/openapi.json"`) {
		t.Errorf("page does not point Swagger UI at /openapi.json:\n%s", page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}

	// Every script and stylesheet the page names must come from this server
	// (no CDN) and be served with the type a browser executes or applies.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	var loaded int
	for _, ref := range refs {
		u := ref[1]
		if u == "/openapi.json" {
			continue
		}
		if strings.Contains(u, "//") {
			t.Errorf("page loads %q from another host", u)
			continue
		}
		ext := u[strings.LastIndex(u, "."):]
		resp, body := get(t, srv.URL+"/docs/"+u)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET /docs/%s = %d (%d bytes)", u, resp.StatusCode, len(body))
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != wantType[ext] {
			t.Errorf("GET /docs/%s Content-Type = %q, want %q", u, got, wantType[ext])
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET /docs/%s lacks X-Content-Type-Options: nosniff", u)
		}
		loaded++
	}
	if loaded < 4 {
		t.Errorf("page loads %d local assets, want Swagger UI's script and stylesheet and its own (page: %s)", loaded, page)
	}

	resp, bundle := get(t, srv.URL+"/docs/assets/swagger-ui-bundle.js")
	if !strings.Contains(bundle, "SwaggerUIBundle") {
		t.Errorf("swagger-ui-bundle.js does not define SwaggerUIBundle (%d bytes, status %d)", len(bundle), resp.StatusCode)
	}
	resp, license := get(t, srv.URL+"/docs/assets/LICENSE")
	if resp.StatusCode != http.StatusOK || !strings.Contains(license, "Apache License") ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("GET /docs/assets/LICENSE = %d %q, want the Apache licence as text", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestDocsRedirectsAndRefusesWhatItDoesNotServe(t *testing.T) {
	srv := newDocsServer(t)

	resp, _ := get(t, srv.URL+"/docs")
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/docs/" {
		t.Errorf("GET /docs = %d Location %q, want a redirect to /docs/", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Mounted on its own (no ServeMux in front), the handler redirects too.
	rec := httptest.NewRecorder()
	Handler("/openapi.json").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs?x=1", nil))
	if rec.Code/100 != 3 || rec.Header().Get("Location") != "/docs/?x=1" {
		t.Errorf("handler GET /docs?x=1 = %d Location %q, want a redirect to /docs/?x=1", rec.Code, rec.Header().Get("Location"))
	}
	for _, p := range []string{"/docs/nope", "/docs/assets/swagger-ui-bundle.js.map", "/docs/assets/", "/docs/page/index.html"} {
		if resp, _ := get(t, srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/docs/", strings.NewReader("x"))
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /docs/ = %d, want 405", r.StatusCode)
	}
}

func TestAssetsRevalidateWithTheirETag(t *testing.T) {
	srv := newDocsServer(t)
	resp, _ := get(t, srv.URL+"/docs/assets/swagger-ui.css")
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Fatalf("swagger-ui.css: ETag %q Cache-Control %q, want both", etag, resp.Header.Get("Cache-Control"))
	}
	resp, body := get(t, srv.URL+"/docs/assets/swagger-ui.css", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("conditional GET = %d with %d bytes, want 304 and no body", resp.StatusCode, len(body))
	}
}

func TestAbsoluteDocumentURLIsAllowedByThePolicy(t *testing.T) {
	h := Handler("https://api.example.com/openapi.json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/docs/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://api.example.com;") {
		t.Errorf("Content-Security-Policy %q does not allow fetching the document's origin", csp)
	}
	if !strings.Contains(rec.Body.String(), `data-openapi-url="https://api.example.com/openapi.json"`) {
		t.Errorf("page does not carry the document URL:\n%s", rec.Body.String())
	}
}
