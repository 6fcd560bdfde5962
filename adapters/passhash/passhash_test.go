package passhash

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// cheapSettings keeps hashing fast in tests; the default cost is covered
// by TestContractDefaultCost and the benchmarks.
func cheapSettings(algorithm string) Config {
	s := DefaultConfig()
	s.PasswordHasher = algorithm
	s.Argon2idMemoryKiB = 64
	s.Argon2idIterations = 1
	s.Argon2idParallelism = 1
	s.PBKDF2Iterations = 1000
	s.HashConcurrency = 4
	s.HashQueueSize = 64
	s.HashQueueWait = time.Minute
	return s
}

func mustNew(t testing.TB, s Config) *Hasher {
	t.Helper()
	h, err := New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h
}

func TestContractArgon2id(t *testing.T) {
	porttest.PasswordHasher(t, mustNew(t, cheapSettings("argon2id")))
}

func TestContractPBKDF2(t *testing.T) {
	porttest.PasswordHasher(t, mustNew(t, cheapSettings("pbkdf2_sha256")))
}

func TestContractDefaultCost(t *testing.T) {
	s := DefaultConfig()
	if s.PasswordHasher != "argon2id" || s.Argon2idMemoryKiB != 19456 {
		t.Fatalf("defaults changed (hasher %q, memory %d KiB); this test is meant to run at the documented cost", s.PasswordHasher, s.Argon2idMemoryKiB)
	}
	h := mustNew(t, s)
	porttest.PasswordHasher(t, h)

	encoded, err := h.Hash(t.Context(), "default-cost")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("default hash %q does not carry the OWASP parameters", encoded)
	}
}

func TestHashFormat(t *testing.T) {
	cases := []struct {
		algorithm string
		pattern   string
	}{
		// PHC string: 16-byte salt and 32-byte key, unpadded standard base64.
		{"argon2id", `^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`},
		// Django: a salt of Django's alphabet, padded standard base64 of 32 bytes.
		{"pbkdf2_sha256", `^pbkdf2_sha256\$1000\$[A-Za-z0-9]{22,}\$[A-Za-z0-9+/]{43}=$`},
	}
	for _, c := range cases {
		t.Run(c.algorithm, func(t *testing.T) {
			encoded, err := mustNew(t, cheapSettings(c.algorithm)).Hash(t.Context(), "format check")
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(c.pattern).MatchString(encoded) {
				t.Errorf("hash %q does not match %s", encoded, c.pattern)
			}
		})
	}
}

func TestDjangoHashes(t *testing.T) {
	cases := []struct {
		name, password, encoded string
	}{
		// From Django's own documentation and test suite:
		// make_password('lètmein', 'seasalt', 'pbkdf2_sha256') with 260000 iterations.
		{"django docs", "lètmein", "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="},
		// python3 -c "import hashlib,base64; print(base64.b64encode(hashlib.pbkdf2_hmac('sha256',
		//   'pässwörd-ü 密码'.encode(), b'Kq3ZtY8wRpL2mN7vXc4bHd', 1000)).decode())"
		{"hashlib, utf-8 password", "pässwörd-ü 密码", "pbkdf2_sha256$1000$Kq3ZtY8wRpL2mN7vXc4bHd$Tp/Gfnaem/3VA9mTX69Y6A3BmgNXbTdqDwpF2pYiGe0="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := mustNew(t, cheapSettings("argon2id"))
			ok, rehash, err := h.Check(t.Context(), c.password, c.encoded)
			if err != nil || !ok {
				t.Fatalf("Check(Django hash) = %v, %v; want true, nil", ok, err)
			}
			if !rehash {
				t.Error("a Django hash checked under PASSWORD_HASHER=argon2id must ask for a rehash")
			}
			for _, wrong := range []string{c.password + "x", strings.ToUpper(c.password), ""} {
				if ok, _, err := h.Check(t.Context(), wrong, c.encoded); ok || err != nil {
					t.Errorf("Check(%q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
		})
	}
}

func TestArgon2idReferenceVectors(t *testing.T) {
	// From the argon2 reference implementation's tests (phc-winner-argon2,
	// src/test.c): password "password", salt "somesalt".
	vectors := []string{
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	}
	h := mustNew(t, cheapSettings("argon2id"))
	for _, v := range vectors {
		ok, rehash, err := h.Check(t.Context(), "password", v)
		if err != nil || !ok {
			t.Errorf("Check(%q) = %v, %v; want true, nil", v, ok, err)
		}
		// An 8-byte salt is shorter than the 16 bytes Hash uses now.
		if !rehash {
			t.Errorf("Check(%q) did not ask to rehash an 8-byte salt", v)
		}
		if ok, _, err := h.Check(t.Context(), "passwore", v); ok || err != nil {
			t.Errorf("Check(wrong password, %q) = %v, %v; want false, nil", v, ok, err)
		}
	}
}

// validArgon2id is the reference implementation's test vector for
// "password": the hash malformedHashes are mutations of.
const validArgon2id = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"

// malformedHashes are near misses of every supported format, each checked
// against the password its intact form verifies ("password" for the PHC
// strings, "correct horse battery staple" for the Django vectors).
var malformedHashes = []string{
	strings.Replace(validArgon2id, "v=19", "v=16", 1),                                 // restreg writes only version 1.3
	strings.Replace(validArgon2id, "v=19$", "", 1),                                    // version missing
	strings.Replace(validArgon2id, "$argon2id$", "$argon2i$", 1),                      // other variant
	strings.Replace(validArgon2id, "m=256,t=2,p=1", "t=2,m=256,p=1", 1),               // parameters out of order
	strings.Replace(validArgon2id, "m=256", "m=0256", 1),                              // leading zero
	strings.Replace(validArgon2id, "m=256", "m=+256", 1),                              // sign
	strings.Replace(validArgon2id, "t=2", "t=0", 1),                                   // no pass
	strings.Replace(validArgon2id, "p=1", "p=0", 1),                                   // no lane
	strings.Replace(validArgon2id, "p=1", "p=256", 1),                                 // too many lanes
	strings.Replace(validArgon2id, "m=256", "m=4", 1),                                 // less than 8 KiB per lane
	strings.Replace(validArgon2id, "m=256", "m=4194305", 1),                           // above the 4 GiB cap
	strings.Replace(validArgon2id, "m=256", "m=99999999999", 1),                       // overflows 32 bits
	strings.Replace(validArgon2id, "t=2", "t=29999999", 1),                            // above the work cap
	strings.Replace(validArgon2id, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1),                  // padded base64
	strings.Replace(validArgon2id, "c29tZXNhbHQ", "c29tZ\nXNhbHQ", 1),                 // line break the decoder would skip
	strings.Replace(validArgon2id, "c29tZXNhbHQ", "c2FsdA", 1),                        // 4-byte salt
	strings.Replace(validArgon2id, "c29tZXNhbHQ", "", 1),                              // no salt
	"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$",                                       // no key
	"argon2" + validArgon2id[:len(validArgon2id)-1],                                   // Django's form, key cut short
	"argon2" + strings.Replace(validArgon2id, "$argon2id$", "$argon2x$", 1),           // unknown variant
	"argon2" + strings.Replace(validArgon2id, "v=19", "v=18", 1),                      // unknown version
	"argon2$" + validArgon2id,                                                         // doubled '$'
	"argon2$argon2id$garbage",                                                         // Django's own malformed case
	"pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo",        // unpadded
	"pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=$",      // extra field
	"pbkdf2_sha256$0$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",            // no iteration
	"pbkdf2_sha256$-1$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",           // negative
	"pbkdf2_sha256$ 260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",      // space
	"pbkdf2_sha256$999999999999$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", // above the cap
	"pbkdf2_sha256$260000$$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",              // empty salt
	"pbkdf2_sha256$260000$seasalt$YlZ2Vggt",                                           // short key
	"pbkdf2_sha1$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",         // a SHA-256-sized key
	"pbkdf2_sha1$1000$seasalt$9iRYj0as1r5j+cCBxB+HMlxkyr4",                            // unpadded
	"pbkdf2_md5$1000$seasalt$9iRYj0as1r5j+cCBxB+HMlxkyr4=",                            // unknown digest
	"PBKDF2_SHA256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",
	"pbkdf2_sha256$1000$seasalt",                                                  // Django raises on this one
	"pbkdf2_sha256$abc$seasalt$AAAA",                                              // and on this one
	"bcrypt_sha256$$2b$04$short",                                                  // and this one
	"bcrypt_sha256$$2x$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // unknown minor version
	"bcrypt_sha256$$2$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",   // no minor version
	"bcrypt_sha256$$2b$03$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // cost below bcrypt's minimum
	"bcrypt_sha256$$2b$17$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // cost above the cap
	"bcrypt_sha256$$2b$4a$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // cost not a number
	"bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBvqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // stray low bits in the salt
	"bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yM!uqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // not bcrypt's base64
	"bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8",   // short
	"bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8SS", // long
	"bcrypt_sha256$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",   // '$' missing
	"bcrypt_sha512$$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",  // unknown algorithm
	"md5$seasalt$9AA4B8ADDEFD43DBF9340B7540E4E49A",                                // upper-case hex
	"md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49",                                 // short
	"md5$sea$salt$9aa4b8addefd43dbf9340b7540e4e49a",                               // '$' in the salt
	"sha1$seasalt$4358b56128e500a125cb6b5541e52d9d202705c",                        // short
	"sha1$seasalt$9aa4b8addefd43dbf9340b7540e4e49a",                               // an MD5-sized digest
	"9CC2AE8A1BA7A93DA39B46FC1019C481",                                            // upper-case bare MD5
	"9cc2ae8a1ba7a93da39b46fc1019c48",                                             // 31 characters
	"9cc2ae8a1ba7a93da39b46fc1019c481 ",                                           // 33 characters
	"crypt$$abhfCpXqd4GrIx",                                                       // longer than DES crypt
	"crypt$$abhfCpXqd4Gr",                                                         // shorter
	"crypt$$a!hfCpXqd4GrI",                                                        // salt outside the alphabet
	"crypt$$$1$abhfCpXqd4",                                                        // another crypt scheme
	"crypt$abhfCpXqd4GrI",                                                         // '$' missing
	"!" + validArgon2id,                                                           // unusable marker in front
	"!pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=",
	"!md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a",
	"!",
	"",
}

func TestMalformedHashesAreMismatches(t *testing.T) {
	h := mustNew(t, legacySettings("argon2id", true))
	for password, valid := range map[string][]string{
		"password": {validArgon2id, "argon2" + validArgon2id},
		"correct horse battery staple": {
			"pbkdf2_sha256$1000$seasalt$3xmXbyk2QpiyNcnoBbzRPwEBsYPTbDlRdtmLyBvQltA=",
			"bcrypt_sha256$$2b$04$..CA.uOD/eaGAOmJB.yMBuqtFd68XW0NGZ4TGY23Cj5qn7oK0LO8S",
			"md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a",
			"crypt$$abhfCpXqd4GrI",
		},
	} {
		for _, v := range valid {
			if ok, _, err := h.Check(t.Context(), password, v); !ok || err != nil {
				t.Fatalf("baseline %s does not verify: %v, %v", v, ok, err)
			}
		}
	}
	for _, m := range malformedHashes {
		for _, password := range []string{"password", "correct horse battery staple"} {
			ok, rehash, err := h.Check(t.Context(), password, m)
			if ok || rehash || err != nil {
				t.Errorf("Check(%q) = %v, %v, %v; want false, false, nil", m, ok, rehash, err)
			}
		}
	}
}

// Whatever Check cannot verify — an unusable password, a malformed or
// disabled hash — and the legacy digests that cost next to nothing spend
// the work of a configured hash, as the login use case's dummy check for
// an unknown login does. argon2id allocates its whole memory cost on
// every computation, so the bytes allocated show the work was done
// without timing anything.
func TestUnverifiableAndCheapHashesSpendAConfiguredHash(t *testing.T) {
	s := legacySettings("argon2id", true)
	s.Argon2idMemoryKiB = 8 << 10
	on := mustNew(t, s)
	s.PasswordLegacyHashers = false
	off := mustNew(t, s)

	allocated := func(h *Hasher, encoded string) uint64 {
		t.Helper()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, _, err := h.Check(t.Context(), "password", encoded); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	configured, err := on.Hash(t.Context(), "password")
	if err != nil {
		t.Fatal(err)
	}
	baseline := allocated(on, configured)
	t.Logf("a configured hash: %d KiB allocated", baseline>>10)
	if baseline < uint64(s.Argon2idMemoryKiB)<<10 {
		t.Fatalf("checking a configured hash allocated %d KiB, less than its %d KiB memory cost", baseline>>10, s.Argon2idMemoryKiB)
	}
	for _, c := range []struct {
		name    string
		h       *Hasher
		encoded string
	}{
		{"unusable", on, "!"},
		{"unusable in front of a hash", on, "!" + configured},
		{"empty", on, ""},
		{"malformed", on, "pbkdf2_sha256$1000$seasalt"},
		{"unknown algorithm", on, "sha512$seasalt$abcdef"},
		{"legacy hash, setting off", off, "md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a"},
		{"md5", on, "md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a"},
		{"unsalted md5", on, "9cc2ae8a1ba7a93da39b46fc1019c481"},
		{"crypt", on, "crypt$$abhfCpXqd4GrI"},
	} {
		got := allocated(c.h, c.encoded)
		t.Logf("%s: %d KiB allocated", c.name, got>>10)
		if got < baseline*9/10 {
			t.Errorf("%s: Check allocated %d KiB; a configured hash takes %d KiB", c.name, got>>10, baseline>>10)
		}
	}
}

func TestRehash(t *testing.T) {
	configured := cheapSettings("argon2id")
	configured.Argon2idMemoryKiB = 64
	configured.Argon2idIterations = 2
	configured.Argon2idParallelism = 2
	configured.PBKDF2Iterations = 1000

	argon := func(m, t, p int) Config {
		s := configured
		s.Argon2idMemoryKiB, s.Argon2idIterations, s.Argon2idParallelism = m, t, p
		return s
	}
	pbkdf := func(iterations int) Config {
		s := configured
		s.PasswordHasher = "pbkdf2_sha256"
		s.PBKDF2Iterations = iterations
		return s
	}
	cases := []struct {
		name       string
		checker    Config
		producer   Config
		wantRehash bool
	}{
		{"argon2id at the configured cost", configured, configured, false},
		{"argon2id with less memory", configured, argon(32, 2, 2), true},
		{"argon2id with fewer passes", configured, argon(64, 1, 2), true},
		{"argon2id with fewer lanes", configured, argon(64, 2, 1), true},
		{"argon2id stronger than configured", configured, argon(128, 3, 4), false},
		{"pbkdf2 under PASSWORD_HASHER=argon2id", configured, pbkdf(1000), true},
		{"argon2id under PASSWORD_HASHER=pbkdf2_sha256", pbkdf(1000), configured, true},
		{"pbkdf2 at the configured cost", pbkdf(1000), pbkdf(1000), false},
		{"pbkdf2 with fewer iterations", pbkdf(1000), pbkdf(999), true},
		{"pbkdf2 with more iterations", pbkdf(1000), pbkdf(2000), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			encoded, err := mustNew(t, c.producer).Hash(t.Context(), "rehash me")
			if err != nil {
				t.Fatal(err)
			}
			checker := mustNew(t, c.checker)
			ok, rehash, err := checker.Check(t.Context(), "rehash me", encoded)
			if err != nil || !ok {
				t.Fatalf("Check = %v, %v; want true, nil", ok, err)
			}
			if rehash != c.wantRehash {
				t.Errorf("rehash = %v; want %v (hash %s)", rehash, c.wantRehash, encoded[:strings.LastIndex(encoded, "$")])
			}
			// Only a caller that proved the password can replace the hash.
			if ok, rehash, err := checker.Check(t.Context(), "not me", encoded); ok || rehash || err != nil {
				t.Errorf("Check(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}

	t.Run("salt of 24 bytes but 19 characters", func(t *testing.T) {
		// Django counts the salt's characters: 19 carry less than 128 bits
		// whatever their UTF-8 length. (hashlib.pbkdf2_hmac, 1000 iterations.)
		ok, rehash, err := mustNew(t, pbkdf(1000)).Check(t.Context(), "rehash me", "pbkdf2_sha256$1000$sälz-ünïcode-sälz-ü$JBA0joSC/e5iGQ9t7+yuhlWifnGfrRwz3SDf+fJJ9iI=")
		if err != nil || !ok || !rehash {
			t.Errorf("Check = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
	})

	t.Run("Django salt shorter than 128 bits", func(t *testing.T) {
		s := pbkdf(260000)
		ok, rehash, err := mustNew(t, s).Check(t.Context(), "lètmein", "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=")
		if err != nil || !ok || !rehash {
			t.Errorf("Check = %v, %v, %v; want true, true (the 7-character salt is weak), nil", ok, rehash, err)
		}
	})
}

func TestNewRejectsUnusableSettings(t *testing.T) {
	cases := map[string]func(*Config){
		"unknown hasher":      func(s *Config) { s.PasswordHasher = "bcrypt" },
		"no argon2 memory":    func(s *Config) { s.Argon2idMemoryKiB = 0 },
		"memory per lane":     func(s *Config) { s.Argon2idMemoryKiB, s.Argon2idParallelism = 16, 4 },
		"memory above cap":    func(s *Config) { s.Argon2idMemoryKiB = maxArgon2MemoryKiB + 1 },
		"work above cap":      func(s *Config) { s.Argon2idMemoryKiB, s.Argon2idIterations = maxArgon2MemoryKiB, 5 },
		"no argon2 pass":      func(s *Config) { s.Argon2idIterations = 0 },
		"no lane":             func(s *Config) { s.Argon2idParallelism = 0 },
		"too many lanes":      func(s *Config) { s.Argon2idParallelism = 256 },
		"no pbkdf2 iteration": func(s *Config) { s.PBKDF2Iterations = 0 },
		"no concurrency":      func(s *Config) { s.HashConcurrency = 0 },
		"negative queue":      func(s *Config) { s.HashQueueSize = -1 },
		"no queue wait":       func(s *Config) { s.HashQueueWait = 0 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := cheapSettings("argon2id")
			mutate(&s)
			if h, err := New(s); err == nil || h != nil {
				t.Errorf("New = %v, %v; want an error", h, err)
			}
		})
	}
}

func TestModule(t *testing.T) {
	var port ports.PasswordHasher
	var hasher *Hasher
	app := fx.New(
		fx.NopLogger,
		fx.Supply(cheapSettings("argon2id")),
		Module,
		fx.Populate(&port, &hasher),
	)
	if err := app.Err(); err != nil {
		t.Fatalf("fx: %v", err)
	}
	if port != ports.PasswordHasher(hasher) {
		t.Error("the module provides different instances as ports.PasswordHasher and *Hasher")
	}
	encoded, err := port.Hash(t.Context(), "from the graph")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := hasher.Check(t.Context(), "from the graph", encoded); !ok || err != nil {
		t.Errorf("Check = %v, %v; want true, nil", ok, err)
	}

	bad := cheapSettings("argon2id")
	bad.PasswordHasher = "md5"
	if err := fx.New(fx.NopLogger, fx.Supply(bad), Module, fx.Populate(&port)).Err(); err == nil {
		t.Error("the module accepted PASSWORD_HASHER=md5")
	}
}
