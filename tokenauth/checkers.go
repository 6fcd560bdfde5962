package tokenauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// storeChecker checks keys with restreg's own token authentication over a
// store the service can reach.
type storeChecker struct{ auth *usecase.Authenticate }

// Store checks keys against a restreg store directly (one FindToken read
// per check): the store of a restreg deployment, opened by the service
// itself. ttl is the deployment's AUTH_TOKEN_TTL (0: tokens never expire).
func Store(tokens ports.TokenStore, ttl time.Duration) Checker {
	return storeChecker{auth: usecase.NewAuthenticate(usecase.AuthenticateConfig{TTL: ttl}, tokens, usecase.SystemClock{})}
}

// Check returns the key's user, or DRF's refusal.
func (s storeChecker) Check(ctx context.Context, key string) (User, error) {
	p, err := s.auth.Key(ctx, key)
	if err != nil {
		return User{}, fmt.Errorf("tokenauth: %w", err)
	}
	return User{ID: p.User.ID, Username: p.User.Username, Email: p.User.Email}, nil
}

// remoteChecker asks a running restreg's forward-auth endpoint.
type remoteChecker struct {
	url    string
	client *http.Client
}

// maxRefusalBody bounds the 401 body read from restreg.
const maxRefusalBody = 4 << 10

// Remote checks keys against a running restreg over HTTP: authURL is its
// forward-auth endpoint, {BASE_PATH}/auth/ (for example
// http://restreg:8000/api/v1/accounts/auth/). client nil means a client
// with a 5 s timeout.
func Remote(authURL string, client *http.Client) Checker {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return remoteChecker{url: authURL, client: client}
}

// Check asks restreg: 200 names the user, 401 carries DRF's refusal, and
// anything else (or no answer) is core.ErrUnavailable. Errors name the URL,
// never the key.
func (r remoteChecker) Check(ctx context.Context, key string) (User, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return User{}, fmt.Errorf("tokenauth: build request to %s: %w", r.url, err)
	}
	req.Header.Set("Authorization", "Token "+key)
	res, err := r.client.Do(req)
	if err != nil {
		return User{}, fmt.Errorf("tokenauth: %w: %w", core.ErrUnavailable, err)
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxRefusalBody))
		return User{ID: res.Header.Get("X-User-Id"), Username: res.Header.Get("X-Username"), Email: res.Header.Get("X-User-Email")}, nil
	case http.StatusUnauthorized:
		var body struct {
			Detail string `json:"detail"`
		}
		if err := json.NewDecoder(io.LimitReader(res.Body, maxRefusalBody)).Decode(&body); err != nil || body.Detail == "" {
			return User{}, fmt.Errorf("tokenauth: %s answered 401 without DRF's body: %w", r.url, core.ErrUnavailable)
		}
		return User{}, &core.AuthError{Detail: body.Detail}
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxRefusalBody))
		return User{}, fmt.Errorf("tokenauth: %s answered %d: %w", r.url, res.StatusCode, core.ErrUnavailable)
	}
}
