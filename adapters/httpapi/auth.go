package httpapi

import (
	"context"
	"net/http"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// principalKey is the context key of the authenticated principal.
type principalKey struct{}

// PrincipalFrom returns who the request whose context is ctx acts for, and
// whether its Authorization header carried a valid token. Every operation
// under BASE_PATH can read it: the router authenticates before any handler
// runs. An operation that needs a user declares the security requirement
// tokenSecurity() and is registered before protectTokenOperations runs (the
// router then refuses anonymous requests with 401 before the handler runs
// and marks its answers no-store); its handler reads the user with
// requirePrincipal.
func PrincipalFrom(ctx context.Context) (usecase.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(usecase.Principal)
	return p, ok
}

// requirePrincipal is PrincipalFrom for an operation that needs a user: an
// anonymous request is refused as DRF's IsAuthenticated refuses it.
func requirePrincipal(ctx context.Context) (usecase.Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return usecase.Principal{}, &core.AuthError{Detail: core.MsgAuthNotProvided}
	}
	return p, nil
}

// authenticate runs Django REST framework's authentication for a request
// on an API path, before the method is looked at (as DRF's
// APIView.initial does): a header that carries a token must carry a valid
// one, on every endpoint (so a stale token fails even on login/), and an
// endpoint that needs a user refuses an anonymous request. It writes the
// 401 and returns false when the request is refused; otherwise it returns
// the request with the principal in its context.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, required bool) (*http.Request, bool) {
	header := r.Header.Get("Authorization")
	if header == "" && !required {
		return r, true
	}
	ctx := r.Context()
	var (
		p         usecase.Principal
		attempted bool
		err       error
	)
	if s.uc.Authenticate != nil {
		p, attempted, err = s.uc.Authenticate.Authenticate(ctx, header)
	} else if core.ParseTokenHeader(header).Attempted {
		// No token store: no token can be valid.
		attempted, err = true, &core.AuthError{Detail: core.MsgTokenInvalid}
	}
	switch {
	case err != nil:
		writeFailure(w, requestFailure(ctx, err))
		return nil, false
	case !attempted && required:
		writeFailure(w, mapError(&core.AuthError{Detail: core.MsgAuthNotProvided}))
		return nil, false
	case !attempted:
		return r, true
	}
	// An authenticated answer is the user's own: no cache may keep it.
	w.Header().Set("Cache-Control", noStore)
	return r.WithContext(context.WithValue(ctx, principalKey{}, p)), true
}
