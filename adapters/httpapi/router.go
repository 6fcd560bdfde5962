package httpapi

import (
	"net/http"
	"strings"
	"sync"
)

// router dispatches on exact paths. It implements humago.Mux so Huma
// registers its operations here, and it answers unknown paths and wrong
// methods with the contract's JSON bodies instead of net/http's plain text.
type router struct {
	// apiPrefix is BASE_PATH with a trailing slash; CORS applies below it.
	apiPrefix string
	// apiPaths are the account operations' paths: they get the body reader
	// and a twin without the final slash.
	apiPaths map[string]bool
	// wrapAPI wraps the handler of every POST route on an API path.
	wrapAPI func(http.Handler) http.Handler
	// noStorePaths are the paths whose every answer carries
	// Cache-Control: no-store (those that may answer with a token).
	noStorePaths map[string]bool
	// authPaths are the paths that need an authenticated user.
	authPaths map[string]bool
	// documentOnly are "METHOD /path" patterns registered with Huma only
	// to be described in the OpenAPI document: the operation exists under
	// a setting this deployment leaves off, so it is not routed.
	documentOnly map[string]bool
	// authenticate checks the credentials of a request on an API path
	// before its method is looked at; required refuses anonymous requests.
	// It answers a refused request itself and returns false. Nil: no
	// authentication.
	authenticate func(w http.ResponseWriter, r *http.Request, required bool) (*http.Request, bool)

	mu     sync.RWMutex
	routes map[string]*route
	mounts *http.ServeMux
	// mounted is set once anything was mounted, so that the common case
	// never consults the extra mux.
	mounted bool
}

// route is one path and the handlers of its methods.
type route struct {
	// name is the documented path (with its final slash), for logs and metrics.
	name    string
	api     bool
	noStore bool
	// auth: the path needs an authenticated user.
	auth    bool
	methods map[string]http.Handler
}

func newRouter(basePath string, wrapAPI func(http.Handler) http.Handler) *router {
	return &router{
		apiPrefix:    strings.TrimRight(basePath, "/") + "/",
		apiPaths:     map[string]bool{},
		authPaths:    map[string]bool{},
		documentOnly: map[string]bool{},
		wrapAPI:      wrapAPI,
		routes:       map[string]*route{},
		mounts:       http.NewServeMux(),
	}
}

// HandleFunc registers fn for a "METHOD /path" pattern, as humago.Mux asks.
func (rt *router) HandleFunc(pattern string, fn func(http.ResponseWriter, *http.Request)) {
	rt.handle(pattern, http.HandlerFunc(fn))
}

func (rt *router) handle(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("httpapi: route pattern needs a method: " + pattern)
	}
	rt.mu.RLock()
	skip := rt.documentOnly[pattern]
	api := rt.apiPaths[path]
	noStore := rt.noStorePaths[path]
	auth := rt.authPaths[path]
	rt.mu.RUnlock()
	if skip {
		return
	}
	if api && hasBody(method) && rt.wrapAPI != nil {
		h = rt.wrapAPI(h)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	paths := []string{path}
	if api && len(path) > 1 && strings.HasSuffix(path, "/") {
		paths = append(paths, strings.TrimSuffix(path, "/"))
	}
	for _, p := range paths {
		r := rt.routes[p]
		if r == nil {
			r = &route{name: path, api: api, noStore: noStore, auth: auth, methods: map[string]http.Handler{}}
			rt.routes[p] = r
		}
		r.methods[method] = h
	}
}

// describeOnly makes the operation registered next with method and path
// appear in the OpenAPI document without being routed, so the document is
// the same whatever the settings that switch the operation on.
func (rt *router) describeOnly(method, path string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.documentOnly[method+" "+path] = true
}

// markAPI declares path an account operation's path, before it is registered.
func (rt *router) markAPI(path string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.apiPaths[path] = true
}

// markNoStore declares that every answer on path (and its twin without the
// final slash) forbids caching, before the path is registered.
func (rt *router) markNoStore(path string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.noStorePaths == nil {
		rt.noStorePaths = map[string]bool{}
	}
	rt.noStorePaths[path] = true
}

// markAuthenticated declares that path (and its twin without the final
// slash) needs an authenticated user, and that no cache may keep its
// answers, before or after the path is registered.
func (rt *router) markAuthenticated(path string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.authPaths[path] = true
	if rt.noStorePaths == nil {
		rt.noStorePaths = map[string]bool{}
	}
	rt.noStorePaths[path] = true
	for _, p := range []string{path, strings.TrimSuffix(path, "/")} {
		if r := rt.routes[p]; r != nil {
			r.auth, r.noStore = true, true
		}
	}
}

// hasBody reports whether requests of method carry a body the operations
// read (and so go through the body reader).
func hasBody(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
}

// mount adds a handler outside the documented API (metrics, docs). pattern
// is a net/http ServeMux pattern; the handler answers every method itself.
func (rt *router) mount(pattern string, h http.Handler) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.mounts.Handle(pattern, h)
	rt.mounted = true
}

// lookup returns the route of an exact path, or nil.
func (rt *router) lookup(path string) *route {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.routes[path]
}

// isAPIPath reports whether path lies below BASE_PATH.
func (rt *router) isAPIPath(path string) bool {
	return strings.HasPrefix(path, rt.apiPrefix) || path+"/" == rt.apiPrefix
}

// drfMethodOrder is the order Django REST framework lists allowed methods
// in (Django's http_method_names).
var drfMethodOrder = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}

// allow lists the methods of a route for the Allow header.
func (r *route) allow() string {
	if r.api {
		var ms []string
		for _, m := range drfMethodOrder {
			_, ok := r.methods[m]
			if m == http.MethodHead {
				// Django answers HEAD with its GET handler.
				_, ok = r.methods[http.MethodGet]
			}
			if ok {
				ms = append(ms, m)
			}
		}
		return strings.Join(append(ms, http.MethodOptions), ", ")
	}
	if _, ok := r.methods[http.MethodGet]; ok {
		return "GET, HEAD"
	}
	var ms []string
	for m := range r.methods {
		ms = append(ms, m)
	}
	return strings.Join(ms, ", ")
}

// corsMethods is what a preflight on path may ask for: the path's methods
// (POST for the register flow; GET, POST, PUT and PATCH for profile/), or
// every method an API path serves when the path is unknown (its answer will
// be a 404 either way).
func (rt *router) corsMethods(path string) string {
	if found := rt.lookup(path); found != nil && found.api {
		return strings.ReplaceAll(found.allow(), "HEAD, ", "")
	}
	return "GET, POST, PUT, PATCH, OPTIONS"
}

// ServeHTTP dispatches to the route's handler, a mounted handler, or a JSON
// 404/405.
func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, _ := w.(*recorder)
	if found := rt.lookup(r.URL.Path); found != nil {
		if rec != nil {
			rec.route = found.name
		}
		if found.noStore {
			// Set before any handler runs, so that every answer carries it:
			// a token in a cached answer would outlive its request.
			w.Header().Set("Cache-Control", "no-store")
		}
		if found.api && rt.authenticate != nil {
			var ok bool
			if r, ok = rt.authenticate(w, r, found.auth); !ok {
				return
			}
		}
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		if h := found.methods[method]; h != nil {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Allow", found.allow())
		if found.api && r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeFailure(w, mapError(&methodNotAllowedError{method: r.Method}))
		return
	}
	rt.mu.RLock()
	mounted := rt.mounted
	rt.mu.RUnlock()
	if mounted {
		if h, pattern := rt.mounts.Handler(r); pattern != "" {
			if rec != nil {
				rec.route = pattern
			}
			h.ServeHTTP(w, r)
			return
		}
	}
	writeFailure(w, mapError(errNotFound))
}
