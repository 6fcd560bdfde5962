package passhash

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const (
	// bcryptSHA256Name is Django's default-installed bcrypt hasher: bcrypt
	// over the hex SHA-256 of the password, so long passwords count in full.
	bcryptSHA256Name = "bcrypt_sha256"
	// bcryptName is Django's plain bcrypt hasher, which sees only the first
	// 72 bytes of a password.
	bcryptName = "bcrypt"
	// bcryptLen is the length of a `$2b$12$<22 salt><31 hash>` string.
	bcryptLen = 60
	// bcryptMaxPassword is how much of a password bcrypt uses; the Python
	// library Django calls cuts longer ones there, whatever the prefix.
	bcryptMaxPassword = 72
	// maxBcryptCost keeps a stored cost from pinning a hashing slot for
	// minutes: 2^16 rounds is 16 times Django's default of 2^12.
	maxBcryptCost = 16
)

// bcryptSalt is bcrypt's own base64 (alphabet "./A-Za-z0-9", no padding).
// Strict refuses stray low bits, which the Python library would re-encode
// to a different string and so never verify.
var bcryptSalt = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").
	WithPadding(base64.NoPadding).Strict()

// bcryptHash is a parsed Django `bcrypt_sha256$$2b$…` or `bcrypt$$2b$…`.
type bcryptHash struct {
	algorithm string
	hash      []byte // the $2b$ string bcrypt itself reads
}

// parseBcrypt reads the two Django bcrypt formats; ok is false for anything
// the Python bcrypt library would refuse or never match.
func parseBcrypt(encoded string) (h bcryptHash, ok bool) {
	algorithm, rest, found := strings.Cut(encoded, "$")
	if !found || (algorithm != bcryptSHA256Name && algorithm != bcryptName) || len(rest) != bcryptLen {
		return h, false
	}
	// $2y$ (PHP's name) is read as $2b$; $2a$ differs from $2b$ only for
	// passwords of 255 bytes or more, which are cut to 72 first anyway.
	switch rest[:4] {
	case "$2a$", "$2b$", "$2y$":
	default:
		return h, false
	}
	costDigits := rest[4:6]
	if rest[6] != '$' || strings.Trim(costDigits, "0123456789") != "" {
		return h, false
	}
	cost, err := strconv.Atoi(costDigits)
	if err != nil || cost < bcrypt.MinCost || cost > maxBcryptCost {
		return h, false
	}
	if salt, err := bcryptSalt.DecodeString(rest[7:29]); err != nil || len(salt) != 16 {
		return h, false
	}
	return bcryptHash{algorithm: algorithm, hash: []byte(rest)}, true
}

// matches runs bcrypt on password the way Django's hasher feeds it, and
// compares in constant time (inside x/crypto's comparison). parseBcrypt
// has checked everything x/crypto could refuse, so any failure is a
// mismatch.
func (h bcryptHash) matches(password string) bool {
	input := []byte(password)
	if h.algorithm == bcryptSHA256Name {
		sum := sha256.Sum256(input)
		input = []byte(hex.EncodeToString(sum[:]))
	} else if strings.IndexByte(password, 0) >= 0 {
		// The Python library refuses NUL bytes, so no Django bcrypt hash
		// can stand for such a password.
		return false
	}
	input = input[:min(len(input), bcryptMaxPassword)]
	return bcrypt.CompareHashAndPassword(h.hash, input) == nil
}
