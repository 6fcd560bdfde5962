package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

const (
	argon2idName = "argon2id"
	// argon2idPrefix starts every PHC-format argon2id hash.
	argon2idPrefix = "$argon2id$"
	// djangoArgon2Name is Django's Argon2PasswordHasher, which stores
	// "argon2" in front of the PHC string argon2-cffi writes.
	djangoArgon2Name   = "argon2"
	djangoArgon2Prefix = djangoArgon2Name + "$"
	argon2SaltLen      = 16
	argon2KeyLen       = 32
	// maxArgon2MemoryKiB caps the memory a stored hash may ask for (4 GiB),
	// so that a corrupt or planted hash cannot defeat the memory bound the
	// hashing slots exist to keep.
	maxArgon2MemoryKiB = 4 << 20
	// maxArgon2Work caps memory × passes (16 GiB of blocks filled, some
	// seconds of one core), so that a stored hash cannot pin a hashing
	// slot with millions of passes over a small memory either.
	maxArgon2Work = 16 << 20
)

// argon2Params is the cost of one Argon2 hash.
type argon2Params struct {
	memoryKiB   uint32
	iterations  uint32
	parallelism uint8
}

func (p argon2Params) validate() error {
	switch {
	case p.iterations < 1:
		return fmt.Errorf("argon2id iterations must be at least 1 (got %d)", p.iterations)
	case p.parallelism < 1:
		return fmt.Errorf("argon2id parallelism must be between 1 and 255 (got %d)", p.parallelism)
	case p.memoryKiB < 8*uint32(p.parallelism):
		return fmt.Errorf("argon2id memory must be at least 8 KiB per lane (got %d KiB for %d lanes)", p.memoryKiB, p.parallelism)
	case p.memoryKiB > maxArgon2MemoryKiB:
		return fmt.Errorf("argon2id memory must be at most %d KiB (got %d)", maxArgon2MemoryKiB, p.memoryKiB)
	case uint64(p.memoryKiB)*uint64(p.iterations) > maxArgon2Work:
		return fmt.Errorf("argon2id memory × iterations must be at most %d KiB (got %d KiB × %d)", maxArgon2Work, p.memoryKiB, p.iterations)
	}
	return nil
}

// argon2Hash is a parsed `$<variant>$v=<version>$m=…,t=…,p=…$salt$key` string.
type argon2Hash struct {
	typ     uint32 // argon2TypeD, argon2TypeI or argon2TypeID
	version uint32 // argon2Version10 or argon2Version13
	params  argon2Params
	salt    []byte
	key     []byte
}

// b64 is the PHC string format's base64: standard alphabet, no padding, as
// the reference implementation writes it.
var b64 = base64.RawStdEncoding

func hashArgon2id(password string, p argon2Params) string {
	salt := make([]byte, argon2SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails; it crashes the program instead.
	key := argon2.IDKey([]byte(password), salt, p.iterations, p.memoryKiB, p.parallelism, argon2KeyLen)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2idPrefix, argon2.Version,
		p.memoryKiB, p.iterations, p.parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parseArgon2id reads restreg's own hashes: PHC-format argon2id at version
// 1.3. ok is false for anything else.
func parseArgon2id(encoded string) (h argon2Hash, ok bool) {
	h, ok = parseArgon2PHC(encoded)
	if !ok || h.typ != argon2TypeID || !strings.HasPrefix(encoded, argon2idPrefix+"v=") {
		return h, false
	}
	return h, h.version == argon2Version13
}

// argon2Types maps the PHC variant names to Argon2's type numbers.
var argon2Types = map[string]uint32{"argon2d": argon2TypeD, "argon2i": argon2TypeI, argon2idName: argon2TypeID}

// parseArgon2PHC reads any PHC string the argon2 reference implementation
// verifies: the three variants, version 1.3 (v=19) or 1.0 (v=16, or no v=
// field at all, as argon2-cffi wrote before version 16.1). ok is false for
// anything this package cannot recompute.
func parseArgon2PHC(encoded string) (h argon2Hash, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) == 5 {
		// No version field: Argon2 1.0.
		parts = []string{parts[0], parts[1], "v=16", parts[2], parts[3], parts[4]}
	}
	if len(parts) != 6 || parts[0] != "" {
		return h, false
	}
	if h.typ, ok = argon2Types[parts[1]]; !ok {
		return h, false
	}
	switch parts[2] {
	case "v=19":
		h.version = argon2Version13
	case "v=16":
		h.version = argon2Version10
	default:
		return h, false
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, false
	}
	m, okM := phcUint(params[0], "m=", 32)
	t, okT := phcUint(params[1], "t=", 32)
	p, okP := phcUint(params[2], "p=", 8)
	if !okM || !okT || !okP {
		return h, false
	}
	h.params = argon2Params{memoryKiB: uint32(m), iterations: uint32(t), parallelism: uint8(p)}
	if h.params.validate() != nil {
		return h, false
	}
	// The reference implementation refuses salts under 8 bytes and keys
	// under 4; so do we, which also keeps absurd inputs out.
	if h.salt, ok = phcBase64(parts[4], 8); !ok {
		return h, false
	}
	if h.key, ok = phcBase64(parts[5], 4); !ok {
		return h, false
	}
	return h, true
}

// phcBase64 decodes s if it is the canonical unpadded encoding of minLen to
// 1024 bytes; the decoder alone would also accept line breaks.
func phcBase64(s string, minLen int) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) < minLen || len(b) > 1024 || b64.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// phcUint parses "name=digits" with no sign, spaces or leading zeros, the
// only spelling the PHC format allows.
func phcUint(s, name string, bits int) (uint64, bool) {
	digits, found := strings.CutPrefix(s, name)
	if !found || digits == "" || (len(digits) > 1 && digits[0] == '0') || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, bits)
	return v, err == nil
}

// derive computes the key of password with h's variant, version and cost;
// x/crypto does the variants it offers (with its vectorised code), the
// rest is argon2Ref.
func (h argon2Hash) derive(password string) []byte {
	p, keyLen := h.params, uint32(len(h.key))
	switch {
	case h.version == argon2Version13 && h.typ == argon2TypeID:
		return argon2.IDKey([]byte(password), h.salt, p.iterations, p.memoryKiB, p.parallelism, keyLen)
	case h.version == argon2Version13 && h.typ == argon2TypeI:
		return argon2.Key([]byte(password), h.salt, p.iterations, p.memoryKiB, p.parallelism, keyLen)
	default:
		return argon2Ref(h.typ, h.version, []byte(password), h.salt, nil, nil, p, keyLen)
	}
}

// matches reports whether password derives h's key.
func (h argon2Hash) matches(password string) bool {
	return subtle.ConstantTimeCompare(h.derive(password), h.key) == 1
}

// weakerThan reports whether any cost of h is below p, or its salt or key
// is shorter than what Hash produces now.
func (h argon2Hash) weakerThan(p argon2Params) bool {
	return h.params.memoryKiB < p.memoryKiB ||
		h.params.iterations < p.iterations ||
		h.params.parallelism < p.parallelism ||
		len(h.salt) < argon2SaltLen ||
		len(h.key) < argon2KeyLen
}
