package passhash

import (
	"crypto/md5"  // Django's md5 hashes are verified, never written
	"crypto/sha1" // Django's sha1 hashes are verified, never written
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"strings"
)

// Django's legacy hashers: one MD5 or SHA-1 digest, or DES crypt. Django
// leaves them out of its default PASSWORD_HASHERS; restreg verifies them
// only with PASSWORD_LEGACY_HASHERS. Each is a single cheap computation,
// so Check pads it with the work of a configured hash (see Hasher.Check).

// legacyHash is a parsed legacy hash; matches recomputes it from a password.
type legacyHash struct {
	algorithm string
	matches   func(password string) bool
}

// parseLegacy reads the forms Django's identify_hasher and the legacy
// hashers' verify accept:
//
//	md5$<salt>$<hex>    sha1$<salt>$<hex>    digest of salt+password
//	md5$$<hex>          sha1$$<hex>          unsalted digest of password
//	<32 hex>                                 unsalted MD5 of password
//	crypt$<ignored>$<13 characters of DES crypt(3)>
//
// Digests are compared as lower-case hex text, as Django compares them, so
// upper-case hex never verifies.
func parseLegacy(encoded string) (h legacyHash, ok bool) {
	if len(encoded) == 2*md5.Size && !strings.Contains(encoded, "$") {
		return digestHash("unsalted_md5", md5.New, "", encoded), true
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 3 {
		return h, false
	}
	salt, data := parts[1], parts[2]
	switch parts[0] {
	case "md5":
		if len(data) != 2*md5.Size {
			return h, false
		}
		return digestHash(unsaltedName("md5", salt), md5.New, salt, data), true
	case "sha1":
		if len(data) != 2*sha1.Size {
			return h, false
		}
		return digestHash(unsaltedName("sha1", salt), sha1.New, salt, data), true
	case "crypt":
		// Django reads the salt from the crypt result and ignores the
		// middle field; only traditional DES results are supported.
		if len(data) != desCryptLen {
			return h, false
		}
		return legacyHash{algorithm: "crypt", matches: func(password string) bool {
			// crypt(3) reads a C string: the Python wrapper Django calls
			// refuses a NUL byte rather than hash a shorter password.
			if strings.IndexByte(password, 0) >= 0 {
				return false
			}
			got, ok := desCrypt([]byte(password), data[:2])
			return ok && subtle.ConstantTimeCompare([]byte(got), []byte(data)) == 1
		}}, true
	}
	return h, false
}

func unsaltedName(name, salt string) string {
	if salt == "" {
		return "unsalted_" + name
	}
	return name
}

func digestHash(algorithm string, newHash func() hash.Hash, salt, want string) legacyHash {
	return legacyHash{algorithm: algorithm, matches: func(password string) bool {
		d := newHash()
		d.Write([]byte(salt))
		d.Write([]byte(password))
		got := hex.EncodeToString(d.Sum(nil))
		return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}}
}
