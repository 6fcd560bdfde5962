package passhash

import (
	"strings"
	"testing"
)

// FuzzCheck feeds Check arbitrary stored values: whatever they are, Check
// answers a plain mismatch or a match, never an error or a panic, asks
// for a rehash only after a match, and never matches an unusable `!`
// password. The seeds are the malformed hashes, Django's special cases
// and the cheapest Django vector of each algorithm to mutate from.
func FuzzCheck(f *testing.F) {
	for _, m := range malformedHashes {
		f.Add("password", m)
	}
	vectors := loadDjangoVectors(f)
	for _, c := range vectors.Special {
		if c.Encoded != nil {
			f.Add(c.Password, *c.Encoded)
		}
	}
	seen := map[string]bool{}
	for _, v := range vectors.Vectors {
		// The first vector of each algorithm is its cheapest.
		if !seen[v.Algorithm] {
			seen[v.Algorithm] = true
			f.Add(v.Password, v.Encoded)
		}
	}
	h := mustNew(f, legacySettings("argon2id", true))
	f.Fuzz(func(t *testing.T, password, encoded string) {
		ok, rehash, err := h.Check(t.Context(), password, encoded)
		if err != nil {
			t.Fatalf("Check(%q, %q) error: %v", password, encoded, err)
		}
		if rehash && !ok {
			t.Fatalf("Check(%q, %q) asked for a rehash without a match", password, encoded)
		}
		if ok && strings.HasPrefix(encoded, "!") {
			t.Fatalf("Check(%q, %q) matched an unusable password", password, encoded)
		}
	})
}
