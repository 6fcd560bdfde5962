package usecase

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Principal is who an authenticated request acts for: the user and the
// token (its digest only) the request carried.
type Principal struct {
	// User is the token's user as the store holds it now.
	User core.User
	// Token is the stored token (digest, owner, creation time).
	Token core.Token
}

// AuthenticateConfig is what token authentication follows.
type AuthenticateConfig struct {
	// TTL expires tokens older than it (AUTH_TOKEN_TTL; 0: never).
	TTL time.Duration
}

// NewAuthenticateConfig takes authentication's settings from s.
func NewAuthenticateConfig(s core.Settings) AuthenticateConfig {
	return AuthenticateConfig{TTL: s.AuthTokenTTL}
}

// Authenticate checks the token an Authorization header carries, as Django
// REST framework's TokenAuthentication does, with one store read.
type Authenticate struct {
	cfg    AuthenticateConfig
	tokens ports.TokenStore
	clock  ports.Clock
}

// NewAuthenticate returns token authentication over tokens.
func NewAuthenticate(cfg AuthenticateConfig, tokens ports.TokenStore, clock ports.Clock) *Authenticate {
	return &Authenticate{cfg: cfg, tokens: tokens, clock: clock}
}

// Authenticate reads authorization (an Authorization header value, "" when
// absent). It returns attempted=false for an anonymous request (no header,
// another scheme), the principal for a valid token, and a *core.AuthError
// with DRF's message for every refused one: malformed header, unknown or
// expired token, inactive user. Other errors (core.ErrUnavailable) mean the
// answer is not known.
func (a *Authenticate) Authenticate(ctx context.Context, authorization string) (p Principal, attempted bool, err error) {
	h := core.ParseTokenHeader(authorization)
	if !h.Attempted {
		return Principal{}, false, nil
	}
	if h.Problem != "" {
		return Principal{}, true, &core.AuthError{Detail: h.Problem}
	}
	p, err = a.Key(ctx, h.Key)
	return p, true, err
}

// Key checks a token key itself (the middleware for the developer's own
// backend reads it from wherever its requests carry it).
func (a *Authenticate) Key(ctx context.Context, key string) (Principal, error) {
	tok, user, err := a.tokens.FindToken(ctx, TokenDigest(key))
	switch {
	case errors.Is(err, core.ErrNotFound):
		return Principal{}, &core.AuthError{Detail: core.MsgTokenInvalid}
	case err != nil:
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if a.cfg.TTL > 0 && !a.clock.Now().Before(tok.CreatedAt.Add(a.cfg.TTL)) {
		return Principal{}, &core.AuthError{Detail: core.MsgTokenInvalid}
	}
	if !user.IsActive {
		return Principal{}, &core.AuthError{Detail: core.MsgTokenUserInactive}
	}
	return Principal{User: user, Token: tok}, nil
}
