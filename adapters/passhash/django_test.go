package passhash

import (
	"encoding/json"
	"os"
	"testing"
)

// djangoVectors is testdata/django-password-hashes.json: hashes made and
// checked by Django 3.2's own hashers (see its "meta" for how).
type djangoVectors struct {
	Vectors []djangoVector  `json:"vectors"`
	Special []djangoSpecial `json:"special"`
}

type djangoVector struct {
	ID        string `json:"id"`
	Algorithm string `json:"algorithm"`
	Password  string `json:"password"`
	Encoded   string `json:"encoded"`
	// UpgradeAll is whether Django, with every hasher installed and
	// pbkdf2_sha256 (260,000 iterations) preferred, re-hashes on login.
	UpgradeAll *bool `json:"upgrade_on_login_all_hashers"`
	// UpgradeDefault is the same under Django's default PASSWORD_HASHERS
	// (null where those cannot verify the hash at all).
	UpgradeDefault *bool         `json:"upgrade_on_login_default_settings"`
	Checks         []djangoCheck `json:"checks"`
}

type djangoCheck struct {
	Label    string `json:"label"`
	Password string `json:"password"`
	// All is check_password with every hasher installed: a bool, or an
	// object naming the exception Django raised.
	All json.RawMessage `json:"check_password_all_hashers"`
}

type djangoSpecial struct {
	ID       string          `json:"id"`
	Encoded  *string         `json:"encoded"`
	Password string          `json:"password"`
	Default  json.RawMessage `json:"check_password_default_settings"`
	All      json.RawMessage `json:"check_password_all_hashers"`
}

func loadDjangoVectors(t testing.TB) djangoVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/django-password-hashes.json")
	if err != nil {
		t.Fatal(err)
	}
	var v djangoVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Vectors) != 110 || len(v.Special) != 13 {
		t.Fatalf("testdata has %d vectors and %d special cases; want 110 and 13", len(v.Vectors), len(v.Special))
	}
	return v
}

// djangoVerdict reads a check_password result; Django raising (on some
// malformed hashes) counts as a mismatch, which is what restreg answers.
func djangoVerdict(t testing.TB, raw json.RawMessage) bool {
	t.Helper()
	var ok bool
	if err := json.Unmarshal(raw, &ok); err == nil {
		return ok
	}
	var raised struct{ Raises string }
	if err := json.Unmarshal(raw, &raised); err != nil || raised.Raises == "" {
		t.Fatalf("unreadable check_password result %s", raw)
	}
	return false
}

// legacyAlgorithms are the hashers that verify only with
// PASSWORD_LEGACY_HASHERS.
var legacyAlgorithms = map[string]bool{"md5": true, "sha1": true, "unsalted_md5": true, "unsalted_sha1": true, "crypt": true}

func legacySettings(algorithm string, legacy bool) Config {
	s := cheapSettings(algorithm)
	s.PasswordLegacyHashers = legacy
	return s
}

// Every vector, every candidate password: restreg answers what Django's
// check_password answers with all its hashers installed. A verified hash
// is re-hashed (restreg's argon2id is the target), and the new hash takes
// the password and nothing else — not even what the old hash let through
// (the 72-byte cut of bcrypt, the 8 bytes of crypt). Without
// PASSWORD_LEGACY_HASHERS the legacy hashes verify nothing.
func TestDjangoVectors(t *testing.T) {
	vectors := loadDjangoVectors(t)
	off := mustNew(t, legacySettings("argon2id", false))
	h := mustNew(t, legacySettings("argon2id", true))
	for _, v := range vectors.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			for _, c := range v.Checks {
				want := djangoVerdict(t, c.All)
				ok, rehash, err := h.Check(t.Context(), c.Password, v.Encoded)
				if err != nil || ok != want {
					t.Errorf("%s: Check = %v, %v; want %v, nil", c.Label, ok, err, want)
				}
				if ok && !rehash {
					t.Errorf("%s: a Django hash verified without a rehash", c.Label)
				}
				if !ok && rehash {
					t.Errorf("%s: rehash asked for a password that did not match", c.Label)
				}
				if legacyAlgorithms[v.Algorithm] {
					if ok, rehash, err := off.Check(t.Context(), c.Password, v.Encoded); ok || rehash || err != nil {
						t.Errorf("%s without PASSWORD_LEGACY_HASHERS: Check = %v, %v, %v; want false, false, nil", c.Label, ok, rehash, err)
					}
				}
			}

			upgraded, err := h.Hash(t.Context(), v.Password)
			if err != nil {
				t.Fatal(err)
			}
			if ok, rehash, err := h.Check(t.Context(), v.Password, upgraded); !ok || rehash || err != nil {
				t.Errorf("Check(password, re-hashed) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			for _, c := range v.Checks {
				if c.Password == v.Password {
					continue
				}
				if ok, _, err := h.Check(t.Context(), c.Password, upgraded); ok || err != nil {
					t.Errorf("%s: the re-hashed password accepts %q (%v, %v)", c.Label, c.Password, ok, err)
				}
			}
		})
	}
}

// The rehash decision beside Django's upgrade decision for the right
// password. Under PASSWORD_HASHER=argon2id restreg re-hashes every Django
// hash (TestDjangoVectors), where Django keeps its preferred hash at the
// preferred cost; configured like Django 3.2 (pbkdf2_sha256, 260,000
// iterations) it decides as Django does, but for the differences listed.
func TestDjangoUpgradeDecisions(t *testing.T) {
	vectors := loadDjangoVectors(t)
	const djangoKeeps = "pbkdf2_sha256/260000/Xb3kR9pLm2QwZt7YhN4vJc/ascii"
	for _, v := range vectors.Vectors {
		if v.UpgradeDefault != nil && !*v.UpgradeDefault && v.ID != djangoKeeps {
			t.Errorf("%s: Django keeps this hash, restreg re-hashes it; README must list it", v.ID)
		}
	}

	s := legacySettings("pbkdf2_sha256", true)
	s.PBKDF2Iterations = 260000 // Django 3.2's PBKDF2PasswordHasher.iterations
	h := mustNew(t, s)
	// The iteration count decides only for pbkdf2_sha256 hashes; the
	// others are re-hashed for their algorithm alone, so they are checked
	// at a cheap cost (each legacy check is padded with a configured hash).
	cheap := mustNew(t, legacySettings("pbkdf2_sha256", true))
	differences := map[string]struct {
		restreg bool
		why     string
	}{
		// Django re-hashes any other count, even a higher one, which
		// lowers the cost; restreg keeps a hash that is stronger.
		"pbkdf2_sha256/260001/Xb3kR9pLm2QwZt7YhN4vJc/ascii": {false, "more iterations than configured"},
	}
	for _, v := range vectors.Vectors {
		checker := cheap
		if v.Algorithm == pbkdf2Name {
			checker = h
		}
		ok, rehash, err := checker.Check(t.Context(), v.Password, v.Encoded)
		if v.UpgradeAll == nil {
			// Django rejects even the right password (upper-case hex).
			if ok || rehash || err != nil {
				t.Errorf("%s: Check = %v, %v, %v; want false, false, nil", v.ID, ok, rehash, err)
			}
			continue
		}
		if !ok || err != nil {
			t.Fatalf("%s: Check = %v, %v", v.ID, ok, err)
		}
		want := *v.UpgradeAll
		if d, differs := differences[v.ID]; differs {
			t.Logf("%s: Django re-hashes: %v, restreg: %v (%s)", v.ID, want, d.restreg, d.why)
			want = d.restreg
		}
		if rehash != want {
			t.Errorf("%s: rehash = %v; want %v", v.ID, rehash, want)
		}
	}
}

// The special cases: unusable passwords (with or without a hash behind the
// `!`), gibberish, unknown algorithms and the malformed hashes that make
// Django 3.2 raise are all plain mismatches; a salted MD5 hash verifies
// only with the legacy hashers, as it does in Django only once they are
// installed.
func TestDjangoSpecialCases(t *testing.T) {
	vectors := loadDjangoVectors(t)
	for _, legacy := range []bool{false, true} {
		h := mustNew(t, legacySettings("argon2id", legacy))
		for _, c := range vectors.Special {
			if c.Encoded == nil {
				continue // bcrypt refusing to hash a NUL byte: see TestBcryptRefusesNULLikeDjango
			}
			want := djangoVerdict(t, c.Default)
			if legacy {
				want = djangoVerdict(t, c.All)
			}
			ok, rehash, err := h.Check(t.Context(), c.Password, *c.Encoded)
			if ok != want || (rehash && !ok) || err != nil {
				t.Errorf("legacy=%v, %s: Check(%q) = %v, %v, %v; want %v, nil", legacy, c.ID, *c.Encoded, ok, rehash, err, want)
			}
		}
	}
}

// Hashes from Django's own test suite (tests/auth_tests/test_hashers.py)
// in forms the generated vectors lack: argon2-cffi's output before it
// wrote a version (Argon2 1.0), and argon2i at 1.3.
func TestDjangoOlderArgon2Forms(t *testing.T) {
	h := mustNew(t, cheapSettings("argon2id"))
	for _, encoded := range []string{
		"argon2$argon2i$m=8,t=1,p=1$c29tZXNhbHQ$gwQOXSNhxiOxPOA0+PY10P9QFO4NAYysnqRt1GSQLE55m+2GYDt9FEjPMHhP2Cuf0nOEXXMocVrsJAtNSsKyfg",
		"argon2$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$YC9+jJCrQhs5R6db7LlN8Q",
		"argon2$argon2id$v=19$m=102400,t=2,p=8$Y041dExhNkljRUUy$TMa6A8fPJhCAUXRhJXCXdw",
	} {
		if ok, rehash, err := h.Check(t.Context(), "secret", encoded); !ok || !rehash || err != nil {
			t.Errorf("Check(secret, %s) = %v, %v, %v; want true, true, nil", encoded, ok, rehash, err)
		}
		if ok, _, err := h.Check(t.Context(), "wrong", encoded); ok || err != nil {
			t.Errorf("Check(wrong, %s) = %v, %v; want false, nil", encoded, ok, err)
		}
	}
	// Version 1.0 differs from 1.3 beyond the version number only from the
	// second pass on (it overwrites blocks instead of XOR-ing into them);
	// a 1.0 hash read as 1.3 must not verify.
	v10 := argon2Hash{typ: argon2TypeI, version: argon2Version10, params: argon2Params{memoryKiB: 64, iterations: 3, parallelism: 2}, salt: []byte("somesaltsomesalt"), key: make([]byte, 32)}
	v13 := v10
	v13.version = argon2Version13
	if string(v10.derive("secret")) == string(v13.derive("secret")) {
		t.Error("Argon2 1.0 and 1.3 derive the same key over three passes")
	}
}

// Legacy hashes are mismatches until PASSWORD_LEGACY_HASHERS allows them;
// Django's other hashers, plain bcrypt included, need no setting.
func TestLegacyHashersOnlyWithTheSetting(t *testing.T) {
	const password = "correct horse battery staple"
	legacyHashes := []string{
		"md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a",
		"sha1$seasalt$4358b56128e500a125cb6b5541e52d9d202705c0",
		"9cc2ae8a1ba7a93da39b46fc1019c481",
		"md5$$9cc2ae8a1ba7a93da39b46fc1019c481",
		"sha1$$abf7aad6438836dbe526aa231abde2d0eef74d42",
		"crypt$$abhfCpXqd4GrI",
	}
	off := mustNew(t, legacySettings("argon2id", false))
	on := mustNew(t, legacySettings("argon2id", true))
	for _, encoded := range legacyHashes {
		if ok, rehash, err := off.Check(t.Context(), password, encoded); ok || rehash || err != nil {
			t.Errorf("without the setting, Check(%s) = %v, %v, %v; want false, false, nil", encoded, ok, rehash, err)
		}
		if ok, rehash, err := on.Check(t.Context(), password, encoded); !ok || !rehash || err != nil {
			t.Errorf("with the setting, Check(%s) = %v, %v, %v; want true, true, nil", encoded, ok, rehash, err)
		}
	}
	for _, encoded := range []string{
		"bcrypt$$2b$04$..CA.uOD/eaGAOmJB.yMBuaOWmnNUFfwORoH..MfuhEhaBiFsYEfG",
		"bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",
		"pbkdf2_sha1$1000$seasalt$9iRYj0as1r5j+cCBxB+HMlxkyr4=",
		"argon2$argon2id$v=19$m=256,t=1,p=1$WGIza1I5cExtMlF3WnQ3WWhONHZKYw$nF3NmZ6YvFVvyKAYJVAKVw",
	} {
		if ok, _, err := off.Check(t.Context(), password, encoded); !ok || err != nil {
			t.Errorf("without the setting, Check(%s) = %v, %v; want true, nil", encoded, ok, err)
		}
	}
}

// Django's bcrypt library refuses passwords with a NUL byte, so no Django
// bcrypt hash stands for one; bcrypt_sha256 hashes the SHA-256 hex instead
// and takes them.
func TestBcryptRefusesNULLikeDjango(t *testing.T) {
	h := mustNew(t, cheapSettings("argon2id"))
	// x/crypto's bcrypt does hash NUL bytes: bcrypt.GenerateFromPassword
	// made this from "nul\x00byte".
	const madeWithNUL = "bcrypt$$2a$04$A0a1ThUnb1959ftMcZSTkucLWALRasNtqEBRz3fXsdozflpzlhhiy"
	if ok, _, err := h.Check(t.Context(), "nul\x00byte", madeWithNUL); ok || err != nil {
		t.Errorf("Check(NUL password, bcrypt) = %v, %v; want false, nil", ok, err)
	}
	const sha256Vector = "bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBuEFQTenGYLbbauDSQgW.538jnHU.XwMW"
	if ok, _, err := h.Check(t.Context(), "nul\x00byte", sha256Vector); !ok || err != nil {
		t.Errorf("Check(NUL password, bcrypt_sha256) = %v, %v; want true, nil", ok, err)
	}
}
