package passhash

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

const (
	pbkdf2Name = "pbkdf2_sha256"
	// pbkdf2Prefix starts every Django pbkdf2_sha256 hash.
	pbkdf2Prefix = pbkdf2Name + "$"
	pbkdf2KeyLen = sha256.Size
	// pbkdf2MinSaltLen is the shortest salt Django (3.1+) keeps without
	// asking for a rehash: 22 characters of [A-Za-z0-9] carry ≥128 bits.
	pbkdf2MinSaltLen = 22
	// maxPBKDF2Iterations keeps a corrupt stored count from pinning a
	// hashing slot for hours; Django's default is 1,000,000.
	maxPBKDF2Iterations = 100_000_000
)

// pbkdf2Hash is a parsed Django `pbkdf2_sha256$<iterations>$<salt>$<hash>`.
type pbkdf2Hash struct {
	iterations int
	salt       string
	key        []byte
}

func hashPBKDF2(password string, iterations int) (string, error) {
	// rand.Text gives 26 characters of [A-Z2-7] (130 bits), never a '$'.
	salt := rand.Text()
	key, err := pbkdf2.Key(sha256.New, password, []byte(salt), iterations, pbkdf2KeyLen)
	if err != nil {
		return "", fmt.Errorf("pbkdf2: %w", err)
	}
	return fmt.Sprintf("%s%d$%s$%s", pbkdf2Prefix, iterations, salt, base64.StdEncoding.EncodeToString(key)), nil
}

// parsePBKDF2 reads a Django pbkdf2_sha256 hash; ok is false for anything
// Django itself would not verify.
func parsePBKDF2(encoded string) (h pbkdf2Hash, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != pbkdf2Name {
		return h, false
	}
	digits := parts[1]
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return h, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > maxPBKDF2Iterations {
		return h, false
	}
	if parts[2] == "" {
		return h, false
	}
	// Django compares the base64 text, so only the canonical, padded
	// encoding of a 32-byte key can ever match (the decoder alone would
	// also take line breaks and stray low bits).
	key, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(key) != pbkdf2KeyLen || base64.StdEncoding.EncodeToString(key) != parts[3] {
		return h, false
	}
	return pbkdf2Hash{iterations: n, salt: parts[2], key: key}, true
}

func (h pbkdf2Hash) derive(password string) ([]byte, error) {
	key, err := pbkdf2.Key(sha256.New, password, []byte(h.salt), h.iterations, pbkdf2KeyLen)
	if err != nil {
		return nil, fmt.Errorf("pbkdf2: %w", err)
	}
	return key, nil
}

// weakerThan reports whether h has fewer iterations than configured or a
// salt too short to carry 128 bits, Django's own rehash rules.
func (h pbkdf2Hash) weakerThan(iterations int) bool {
	return h.iterations < iterations || len(h.salt) < pbkdf2MinSaltLen
}
