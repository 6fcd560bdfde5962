package passhash

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1" // Django's pbkdf2_sha1 hashes are verified, never written
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"
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

// pbkdf2Variant is one of Django's PBKDF2 hashers: its name and the HMAC
// hash, whose output size is also the key length Django stores.
type pbkdf2Variant struct {
	name    string
	newHash func() hash.Hash
	keyLen  int
}

var pbkdf2Variants = []pbkdf2Variant{
	{pbkdf2Name, sha256.New, sha256.Size},
	{"pbkdf2_sha1", sha1.New, sha1.Size},
}

// pbkdf2Hash is a parsed Django `pbkdf2_<hash>$<iterations>$<salt>$<key>`.
type pbkdf2Hash struct {
	variant    pbkdf2Variant
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

// parsePBKDF2 reads a Django pbkdf2_sha256 or pbkdf2_sha1 hash; ok is false
// for anything Django itself would not verify.
func parsePBKDF2(encoded string) (h pbkdf2Hash, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return h, false
	}
	for _, v := range pbkdf2Variants {
		if parts[0] == v.name {
			h.variant, ok = v, true
		}
	}
	if !ok {
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
	// encoding of a key of the hash's size can ever match (the decoder
	// alone would also take line breaks and stray low bits).
	key, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(key) != h.variant.keyLen || base64.StdEncoding.EncodeToString(key) != parts[3] {
		return h, false
	}
	h.iterations, h.salt, h.key = n, parts[2], key
	return h, true
}

func (h pbkdf2Hash) derive(password string) ([]byte, error) {
	key, err := pbkdf2.Key(h.variant.newHash, password, []byte(h.salt), h.iterations, h.variant.keyLen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.variant.name, err)
	}
	return key, nil
}

// matches reports whether password derives h's key.
func (h pbkdf2Hash) matches(password string) (bool, error) {
	key, err := h.derive(password)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// weakerThan reports whether h has fewer iterations than configured or a
// salt too short to carry 128 bits, Django's own rehash rules (Django
// counts the salt in characters, not bytes).
func (h pbkdf2Hash) weakerThan(iterations int) bool {
	return h.iterations < iterations || utf8.RuneCountInString(h.salt) < pbkdf2MinSaltLen
}
