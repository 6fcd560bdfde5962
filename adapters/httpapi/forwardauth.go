package httpapi

import (
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
)

// Headers with which the forward-auth endpoint names the token's user, for
// a reverse proxy to pass on to the service it protects.
const (
	HeaderUserID    = "X-User-Id"
	HeaderUsername  = "X-Username"
	HeaderUserEmail = "X-User-Email"
)

// forwardAuthPath is where reverse proxies ask whether a request's token is
// good: {BASE_PATH}/auth/.
func forwardAuthPath(basePath string) string {
	return strings.TrimRight(basePath, "/") + "/auth/"
}

// registerForwardAuth serves the forward-auth endpoint and documents it.
// It answers every method, on the path with and without its final slash
// and below it, because proxies differ in what they send: nginx's
// auth_request and Traefik's forwardAuth send GET to the configured path,
// Envoy's ext_authz sends the original request's method and appends the
// original path to its path_prefix.
func (s *Server) registerForwardAuth() {
	path := forwardAuthPath(s.config.BasePath)
	h := http.HandlerFunc(s.forwardAuth)
	s.router.mount(path, h)
	s.router.mount(strings.TrimSuffix(path, "/"), h)
	o := s.api.OpenAPI()
	o.AddOperation(forwardAuthOperation(path, http.MethodGet, "forwardAuth"))
	o.AddOperation(forwardAuthOperation(path, http.MethodHead, "forwardAuthHead"))
}

// forwardAuth answers 200 with the user's id, username and e-mail address
// in headers and an empty body when the request carries a valid token of
// an active user, and DRF's 401 otherwise. No answer may be cached: a
// revoked token must stop working at once.
func (s *Server) forwardAuth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", noStore)
	if s.uc.Authenticate == nil {
		writeFailure(w, mapError(errNotFound))
		return
	}
	ctx := r.Context()
	p, attempted, err := s.uc.Authenticate.Authenticate(ctx, r.Header.Get("Authorization"))
	if err == nil && !attempted {
		err = &core.AuthError{Detail: core.MsgAuthNotProvided}
	}
	if err != nil {
		f := requestFailure(ctx, err)
		if f.status >= http.StatusInternalServerError {
			// The cause names the store's trouble, never the token.
			s.log.WarnContext(ctx, "forward auth could not check a token", slog.String("request_id", core.RequestInfoFrom(ctx).ID), slog.Any("error", err))
		}
		writeFailure(w, f)
		return
	}
	h.Set(HeaderUserID, p.User.ID)
	h.Set(HeaderUsername, p.User.Username)
	if p.User.Email != "" {
		h.Set(HeaderUserEmail, p.User.Email)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// forwardAuthOperation documents the forward-auth endpoint for method.
func forwardAuthOperation(path, method, id string) *huma.Operation {
	str := func(desc string) *huma.Param {
		return &huma.Param{Description: desc, Schema: &huma.Schema{Type: "string"}}
	}
	ok := &huma.Response{
		Description: "The token is valid and its user active. The body is empty; the headers name the user.",
		Headers: map[string]*huma.Param{
			HeaderUserID:    str("The user's id."),
			HeaderUsername:  str("The user's username (UTF-8)."),
			HeaderUserEmail: str("The user's e-mail address; absent when the user has none."),
			"Cache-Control": {Ref: headerRef + "CacheControl"},
			"X-Request-ID":  {Ref: headerRef + "RequestID"},
		},
	}
	unavailable := response("The store cannot be reached, so the token could not be checked; retry after the "+
		"number of seconds in Retry-After. Nothing is cached: the next request asks the store again.",
		schemaRef(reflect.TypeFor[detail]()), detailExample("unavailable", "Store unavailable", msgUnavailable))
	unavailable.Headers["Retry-After"] = &huma.Param{Ref: headerRef + "RetryAfter"}
	summary := "Check a login token for a reverse proxy"
	if method == http.MethodHead {
		summary = "Check a login token for a reverse proxy (HEAD)"
	}
	return &huma.Operation{
		OperationID: id,
		Method:      method,
		Path:        path,
		Summary:     summary,
		Description: "Answers whether the request's `Authorization: Token <key>` (or `Bearer <key>`) header " +
			"names a valid login token of an active user, for a reverse proxy that protects another service: " +
			"nginx `auth_request`, Traefik `forwardAuth`, Envoy `ext_authz`. 200 with the user in `" +
			HeaderUserID + "`, `" + HeaderUsername + "` and `" + HeaderUserEmail + "` and an empty body; 401 " +
			"with Django REST framework's body and `WWW-Authenticate: Token` otherwise. The token is checked " +
			"against the store on every request (one read) and no answer may be cached, so a revoked token is " +
			"refused at once.\n\nEvery method is answered alike, on this path with and without its final slash " +
			"and on any path below it, because Envoy sends the original request's method and appends its path.",
		Tags:     []string{tagAccounts},
		Security: tokenSecurity(),
		Responses: map[string]*huma.Response{
			"200": ok,
			"401": {Ref: responseRef + "Unauthorized"},
			"500": {Ref: responseRef + "ServerError"},
			"503": unavailable,
		},
	}
}
