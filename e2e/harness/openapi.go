package harness

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// contract is the committed OpenAPI document and a router over its paths.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	contractOnce sync.Once
	loaded       *contract
	contractErr  error
)

// DocumentPath is the OpenAPI 3.1 document every response is checked
// against: the committed openapi/openapi.yaml, or the file RESTREG_E2E_OPENAPI
// names (e.g. the document of the version a deployment runs).
func DocumentPath() (string, error) {
	if path := os.Getenv(EnvOpenAPI); path != "" {
		return path, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "openapi", "openapi.yaml"), nil
}

// LoadContract reads and checks openapi/openapi.yaml once; suites call it
// before their first spec so a missing or broken document fails fast.
func LoadContract() error {
	contractOnce.Do(func() {
		path, err := DocumentPath()
		if err != nil {
			contractErr = err
			return
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(path)
		if err != nil {
			contractErr = fmt.Errorf("load %s: %w", path, err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contractErr = fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
			return
		}
		// The document's one server is "/" (wherever it is served from);
		// without servers the router matches on the path alone, which is
		// what a document served by every deployment means.
		doc.Servers = nil
		router, err := legacy.NewRouter(doc)
		if err != nil {
			contractErr = fmt.Errorf("route %s: %w", path, err)
			return
		}
		loaded = &contract{doc: doc, router: router}
	})
	return contractErr
}

// ValidateResponse checks that the document describes resp: its path and
// method, its status (an undocumented status is an error) and its body.
// Paths without their final slash are routed as the documented path with it,
// as the API serves both. A method the document has no operation for cannot
// be described by it, except a 405 or a 401 (authentication runs before the
// method check), which are checked against the path's operations that
// document them.
func ValidateResponse(resp *Response) error {
	if err := LoadContract(); err != nil {
		return err
	}
	u, err := url.Parse(resp.URL)
	if err != nil {
		return fmt.Errorf("parse %q: %w", resp.URL, err)
	}
	req, err := http.NewRequest(resp.Method, u.String(), bytes.NewReader([]byte(resp.RequestBody)))
	if err != nil {
		return err
	}
	route, params, err := loaded.router.FindRoute(req)
	if err != nil && !strings.HasSuffix(u.Path, "/") {
		slashed := *u
		slashed.Path += "/"
		if req2, err2 := http.NewRequest(resp.Method, slashed.String(), nil); err2 == nil {
			route, params, err = loaded.router.FindRoute(req2)
		}
	}
	if err != nil && (resp.Status == http.StatusMethodNotAllowed || resp.Status == http.StatusUnauthorized) {
		// A method the path has no operation for is answered 405, or 401
		// first when the request's credentials are refused (authentication
		// runs before the method check); the document lists those answers
		// under the path's operations.
		req, route, params, err = routeByDocumentedStatus(u, resp.Status)
	}
	if err != nil {
		return fmt.Errorf("%s %s is not in the document: %w", resp.Method, u.Path, err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: params,
			Route:      route,
			Options:    opts,
		},
		Status:  resp.Status,
		Header:  resp.Header,
		Options: opts,
	}
	in.SetBodyBytes(resp.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	return nil
}

// routeByDocumentedStatus finds an operation on u's path (with or without its
// final slash) that documents status, and a request that routes to it.
func routeByDocumentedStatus(u *url.URL, status int) (*http.Request, *routers.Route, map[string]string, error) {
	paths := []string{u.Path}
	if !strings.HasSuffix(u.Path, "/") {
		paths = append(paths, u.Path+"/")
	}
	for _, path := range paths {
		item := loaded.doc.Paths.Find(path)
		if item == nil {
			continue
		}
		for method, op := range item.Operations() {
			if op.Responses == nil || op.Responses.Status(status) == nil {
				continue
			}
			alt := *u
			alt.Path = path
			req, err := http.NewRequest(method, alt.String(), nil)
			if err != nil {
				return nil, nil, nil, err
			}
			route, params, err := loaded.router.FindRoute(req)
			if err == nil {
				return req, route, params, nil
			}
		}
	}
	return nil, nil, nil, fmt.Errorf("no operation on %s documents %d", u.Path, status)
}

// Describes reports whether the document can speak for a request: it lists
// the URL's path (with or without its final slash), and the request is not a
// CORS preflight (OPTIONS), which no OpenAPI document describes. Answers to
// other requests — an unknown path's 404, the documents themselves — are
// checked by the suites' own expectations only.
func Describes(method, rawURL string) (bool, error) {
	if err := LoadContract(); err != nil {
		return false, err
	}
	if method == http.MethodOptions {
		return false, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false, fmt.Errorf("parse %q: %w", rawURL, err)
	}
	return loaded.doc.Paths.Find(u.Path) != nil || loaded.doc.Paths.Find(u.Path+"/") != nil, nil
}
