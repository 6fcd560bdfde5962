package usecase

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// OpaqueTokens issues login tokens (40 lower-case hex characters, like
// Django REST framework's keys) and stores only their SHA-256 digest, so a
// leaked database holds no usable token.
//
// By default every login gets a fresh random token (160 bits,
// AUTH_TOKEN_PER_LOGIN=true). With OnePerUser (AUTH_TOKEN_PER_LOGIN=false)
// it behaves like DRF's one token per user: every login answers with the
// same key. Since only digests are stored, that key is derived rather than
// remembered: key = the first 40 hex characters of
// HMAC-SHA256(Secret, "restreg.token|" + user id + "|" + creation time in
// Unix milliseconds), so the key of the user's latest token can be derived
// again from what the store holds. When the latest token cannot be derived
// again (a token imported from Django, or SECRET_KEY changed since), or it
// has expired (TTL), a new derived token is issued; the older ones keep
// working until they expire or are revoked.
type OpaqueTokens struct {
	// Store keeps the digests.
	Store ports.TokenStore
	// Clock stamps each token's creation.
	Clock ports.Clock
	// OnePerUser is AUTH_TOKEN_PER_LOGIN=false: one reusable token per user.
	OnePerUser bool
	// Secret is SECRET_KEY, the key of the derivation (OnePerUser only).
	Secret string
	// TTL is AUTH_TOKEN_TTL: an expired latest token is not handed out
	// again (0: tokens never expire).
	TTL time.Duration
}

// NewOpaqueTokens returns the token issuer of settings s over store.
func NewOpaqueTokens(s core.Settings, store ports.TokenStore, clock ports.Clock) OpaqueTokens {
	return OpaqueTokens{Store: store, Clock: clock, OnePerUser: !s.AuthTokenPerLogin, Secret: s.SecretKey, TTL: s.AuthTokenTTL}
}

// IssueToken returns a token for userID: a new one, or with OnePerUser the
// user's current one.
func (o OpaqueTokens) IssueToken(ctx context.Context, userID string) (string, error) {
	if o.OnePerUser {
		return o.reusableToken(ctx, userID)
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	if err := o.Store.SaveToken(ctx, TokenDigest(token), userID, o.Clock.Now().UTC()); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return token, nil
}

// reusableToken hands out the key of the user's latest token when it can be
// derived again and has not expired, and issues a new derived one otherwise.
func (o OpaqueTokens) reusableToken(ctx context.Context, userID string) (string, error) {
	now := o.Clock.Now().UTC()
	latest, err := o.Store.LatestToken(ctx, userID)
	switch {
	case err == nil:
		key := o.derive(userID, latest.CreatedAt)
		fresh := o.TTL <= 0 || now.Before(latest.CreatedAt.Add(o.TTL))
		if fresh && subtle.ConstantTimeCompare([]byte(TokenDigest(key)), []byte(latest.Digest)) == 1 {
			return key, nil
		}
	case errors.Is(err, core.ErrNotFound):
	default:
		return "", fmt.Errorf("issue token: %w", err)
	}
	// Stores keep at least millisecond precision: the creation time must
	// come back from them exactly as it went in.
	created := now.Truncate(time.Millisecond)
	key := o.derive(userID, created)
	if err := o.Store.SaveToken(ctx, TokenDigest(key), userID, created); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return key, nil
}

// derive is the key of the token of userID created at created.
func (o OpaqueTokens) derive(userID string, created time.Time) string {
	mac := hmac.New(sha256.New, []byte(o.Secret))
	mac.Write([]byte("restreg.token|" + userID + "|" + strconv.FormatInt(created.UnixMilli(), 10)))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// TokenDigest returns the hex SHA-256 digest under which a token is stored.
func TokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
