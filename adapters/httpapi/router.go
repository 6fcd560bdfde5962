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
	methods map[string]http.Handler
}

func newRouter(basePath string, wrapAPI func(http.Handler) http.Handler) *router {
	return &router{
		apiPrefix: strings.TrimRight(basePath, "/") + "/",
		apiPaths:  map[string]bool{},
		wrapAPI:   wrapAPI,
		routes:    map[string]*route{},
		mounts:    http.NewServeMux(),
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
	api := rt.apiPaths[path]
	noStore := rt.noStorePaths[path]
	rt.mu.RUnlock()
	if api && method == http.MethodPost && rt.wrapAPI != nil {
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
			r = &route{name: path, api: api, noStore: noStore, methods: map[string]http.Handler{}}
			rt.routes[p] = r
		}
		r.methods[method] = h
	}
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

// allow lists the methods of a route for the Allow header.
func (r *route) allow() string {
	if r.api {
		if _, ok := r.methods[http.MethodGet]; ok {
			// A mailed link opened in a browser (verification redirects).
			return "GET, HEAD, POST, OPTIONS"
		}
		return "POST, OPTIONS"
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
