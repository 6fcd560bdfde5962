// Package apidocs serves the API reference page at /docs/: Swagger UI,
// vendored and embedded, rendering the server's own OpenAPI document, so
// the page works with no internet access and loads nothing from elsewhere.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// SwaggerUIVersion is the version of the vendored swagger-ui-dist package.
const SwaggerUIVersion = "5.35.0"

// Path is where Handler expects to be mounted; /docs redirects here.
const Path = "/docs/"

//go:embed assets/swagger-ui-bundle.js assets/swagger-ui.css assets/LICENSE assets/NOTICE assets/swagger-ui-bundle.js.LICENSE.txt
var assets embed.FS

//go:embed page/index.html page/docs.js page/docs.css
var page embed.FS

var indexTemplate = template.Must(template.ParseFS(page, "page/index.html"))

// file is one response body with the headers it is served with.
type file struct {
	body        []byte
	contentType string
	etag        string
	cache       string
}

// Handler serves the reference page for the OpenAPI document at openapiURL
// (e.g. "/openapi.json") and the page's assets, below Path. It answers GET
// and HEAD; the page carries a Content-Security-Policy that lets it load
// only from this server (and from openapiURL's origin when that is another).
func Handler(openapiURL string) http.Handler {
	files, err := buildFiles(openapiURL)
	if err != nil {
		// The embedded files are fixed at build time; failing here means
		// the binary itself is broken, which the package's tests rule out.
		panic(err)
	}
	csp := contentSecurityPolicy(openapiURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == strings.TrimSuffix(Path, "/") {
			target := Path
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		rel, ok := strings.CutPrefix(r.URL.Path, Path)
		f, found := files[rel]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", f.cache)
		h.Set("ETag", f.etag)
		if strings.HasPrefix(f.contentType, "text/html") {
			h.Set("Content-Security-Policy", csp)
			h.Set("Referrer-Policy", "no-referrer")
		}
		// ServeContent answers If-None-Match with 304 and serves ranges.
		http.ServeContent(w, r, rel, time.Time{}, bytes.NewReader(f.body))
	})
}

// buildFiles renders the page and indexes every file by its path below Path.
func buildFiles(openapiURL string) (map[string]file, error) {
	var index bytes.Buffer
	if err := indexTemplate.Execute(&index, openapiURL); err != nil {
		return nil, fmt.Errorf("apidocs: render index.html: %w", err)
	}
	files := map[string]file{}
	add := func(name string, body []byte, cache string) {
		sum := sha256.Sum256(body)
		files[name] = file{
			body:        body,
			contentType: contentType(name),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			cache:       cache,
		}
	}
	// The page names the document URL, which may change between releases;
	// browsers revalidate it (cheap with the ETag) instead of caching it.
	add("", index.Bytes(), "no-cache")
	add("index.html", index.Bytes(), "no-cache")
	for _, name := range []string{"docs.js", "docs.css"} {
		b, err := page.ReadFile("page/" + name)
		if err != nil {
			return nil, fmt.Errorf("apidocs: read %s: %w", name, err)
		}
		add(name, b, "no-cache")
	}
	entries, err := assets.ReadDir("assets")
	if err != nil {
		return nil, fmt.Errorf("apidocs: list assets: %w", err)
	}
	for _, e := range entries {
		b, err := assets.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("apidocs: read %s: %w", e.Name(), err)
		}
		add("assets/"+e.Name(), b, "public, max-age=86400")
	}
	return files, nil
}

// contentType returns the media type of an embedded file by its name.
func contentType(name string) string {
	switch path.Ext(name) {
	case "", ".html":
		if path.Base(name) == "LICENSE" || path.Base(name) == "NOTICE" {
			return "text/plain; charset=utf-8"
		}
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// contentSecurityPolicy allows the page to load only its own assets and the
// OpenAPI document. Swagger UI sets style attributes from script, hence
// 'unsafe-inline' for styles (not for scripts).
func contentSecurityPolicy(openapiURL string) string {
	connect := "'self'"
	if u, err := url.Parse(openapiURL); err == nil && u.Scheme != "" && u.Host != "" {
		connect += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"font-src 'self' data:; connect-src " + connect + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}
