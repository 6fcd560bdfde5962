package usecase

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/restreg/restreg/ports"
)

// OpaqueTokens issues random login tokens (160 bits, 40 lower-case hex
// characters) and stores only their SHA-256 digest, so a leaked database
// holds no usable token.
type OpaqueTokens struct {
	// Store keeps the digests.
	Store ports.TokenStore
	// Clock stamps each token's creation.
	Clock ports.Clock
}

// IssueToken returns a new token for userID.
func (o OpaqueTokens) IssueToken(ctx context.Context, userID string) (string, error) {
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

// TokenDigest returns the hex SHA-256 digest under which a token is stored.
func TokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
