// Package tokenauth lets a Go service of your own accept restreg's login
// tokens: an net/http middleware that reads `Authorization: Token <key>`
// (or `Bearer <key>`) exactly as Django REST framework's TokenAuthentication
// does, checks the key either against a restreg store directly (Store) or
// against a running restreg over HTTP (Remote, which asks its forward-auth
// endpoint), and puts the user in the request's context (FromContext).
//
// Answers are cached in a small LRU cache for at most MaxStale (30 s by
// default): a revoked token (logout with revoke_token, a password change)
// keeps working for at most that long in a service that uses this package,
// and the cache saves a store read or an HTTP round trip on every request.
// WithMaxStale(0) switches the cache off, so that every request asks.
// Refusals answer DRF's 401 `{"detail": "..."}` with `WWW-Authenticate:
// Token`; a store or restreg that cannot answer gives 503 and is never
// cached.
package tokenauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/restreg/restreg/core"
)

// User is who an authenticated request acts for.
type User struct {
	// ID is the user's stable id (restreg's id, as in verification links).
	ID string
	// Username is the user's username.
	Username string
	// Email is the user's e-mail address ("" when none).
	Email string
}

// Checker decides whom a token key belongs to. It returns the user, a
// *core.AuthError with DRF's message when the key is refused (unknown,
// revoked, expired, inactive user), or another error when it cannot tell
// now (store or network trouble).
type Checker interface {
	Check(ctx context.Context, key string) (User, error)
}

// Defaults of the middleware's options.
const (
	// DefaultMaxStale is how long an answer is reused: the longest a revoked
	// token keeps working in a service behind this middleware.
	DefaultMaxStale = 30 * time.Second
	// DefaultCacheSize is how many keys' answers are kept at most.
	DefaultCacheSize = 10000
)

// DRF's body and restreg's retry hint for a check that could not be made.
const (
	msgUnavailable    = "Service temporarily unavailable, please try again later."
	retryAfterSeconds = "5"
)

// Middleware authenticates requests with a Checker and a cache.
type Middleware struct {
	checker   Checker
	maxStale  time.Duration
	size      int
	anonymous bool
	now       func() time.Time
	cache     *lru
}

// Option changes a Middleware.
type Option func(*Middleware)

// WithMaxStale sets how long an answer (valid or refused) may be reused;
// 0 switches the cache off. Negative values count as 0.
func WithMaxStale(d time.Duration) Option {
	return func(m *Middleware) { m.maxStale = max(d, 0) }
}

// WithCacheSize bounds how many keys' answers are kept (the least recently
// used go first); values below 1 switch the cache off.
func WithCacheSize(n int) Option {
	return func(m *Middleware) { m.size = n }
}

// WithClock sets the clock the cache ages its entries by (tests).
func WithClock(now func() time.Time) Option {
	return func(m *Middleware) { m.now = now }
}

// AllowAnonymous lets requests without token credentials through, without
// a user in their context (FromContext reports false). A request whose
// token is refused still gets 401, as in Django REST framework, where a
// bad token fails even on an open view.
func AllowAnonymous() Option {
	return func(m *Middleware) { m.anonymous = true }
}

// New returns a middleware that checks tokens with c.
func New(c Checker, opts ...Option) *Middleware {
	m := &Middleware{checker: c, maxStale: DefaultMaxStale, size: DefaultCacheSize, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	if m.maxStale > 0 && m.size > 0 {
		m.cache = newLRU(m.size)
	}
	return m
}

// Wrap returns next behind token authentication: next runs only for a
// request with a valid token (or none, with AllowAnonymous), and finds the
// user with FromContext.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, attempted, err := m.Authenticate(r.Context(), r.Header.Get("Authorization"))
		var refused *core.AuthError
		switch {
		case errors.As(err, &refused):
			writeDetail(w, http.StatusUnauthorized, refused.Detail)
		case err != nil:
			w.Header().Set("Retry-After", retryAfterSeconds)
			writeDetail(w, http.StatusServiceUnavailable, msgUnavailable)
		case !attempted && !m.anonymous:
			writeDetail(w, http.StatusUnauthorized, core.MsgAuthNotProvided)
		case !attempted:
			next.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), u)))
		}
	})
}

// Authenticate reads an Authorization header value as DRF does and checks
// its key: attempted is false when the header carries no token credentials;
// a refused token is a *core.AuthError; any other error means the answer is
// not known now. Answers come from the cache while they are fresh.
func (m *Middleware) Authenticate(ctx context.Context, authorization string) (u User, attempted bool, err error) {
	h := core.ParseTokenHeader(authorization)
	if !h.Attempted {
		return User{}, false, nil
	}
	if h.Problem != "" {
		return User{}, true, &core.AuthError{Detail: h.Problem}
	}
	u, err = m.check(ctx, h.Key)
	return u, true, err
}

// check answers for one key, from the cache or the checker. The cache is
// keyed by the key's digest, so no token is kept in memory and a long key
// costs no more room than a short one.
func (m *Middleware) check(ctx context.Context, key string) (User, error) {
	if m.cache == nil {
		return m.checker.Check(ctx, key)
	}
	digest := sha256.Sum256([]byte(key))
	now := m.now()
	if e, ok := m.cache.get(digest, now); ok {
		if e.refusal != "" {
			return User{}, &core.AuthError{Detail: e.refusal}
		}
		return e.user, nil
	}
	u, err := m.checker.Check(ctx, key)
	var refused *core.AuthError
	switch {
	case errors.As(err, &refused):
		m.cache.put(digest, entry{refusal: refused.Detail, expires: now.Add(m.maxStale)})
	case err == nil:
		m.cache.put(digest, entry{user: u, expires: now.Add(m.maxStale)})
	}
	return u, err
}

// userKey is the context key of the authenticated user.
type userKey struct{}

// WithUser returns ctx carrying u, as Wrap passes it on (also for testing
// handlers that sit behind the middleware).
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// FromContext returns the user an authenticated request acts for, and
// false for an anonymous one.
func FromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

// writeDetail writes DRF's `{"detail": msg}`; every 401 carries DRF's
// challenge.
func writeDetail(w http.ResponseWriter, status int, msg string) {
	b, err := json.Marshal(struct {
		Detail string `json:"detail"`
	}{msg})
	if err != nil {
		b = []byte(`{"detail":"` + msgUnavailable + `"}`)
	}
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", core.AuthenticateChallenge)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
