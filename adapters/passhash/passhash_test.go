package passhash

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// cheapSettings keeps hashing fast in tests; the default cost is covered
// by TestContractDefaultCost and the benchmarks.
func cheapSettings(algorithm string) core.Settings {
	s := core.DefaultSettings()
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

func mustNew(t testing.TB, s core.Settings) *Hasher {
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
	s := core.DefaultSettings()
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

func TestMalformedHashesAreMismatches(t *testing.T) {
	h := mustNew(t, cheapSettings("argon2id"))
	valid := "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	if ok, _, err := h.Check(t.Context(), "password", valid); !ok || err != nil {
		t.Fatalf("baseline vector does not verify: %v, %v", ok, err)
	}
	malformed := []string{
		strings.Replace(valid, "v=19", "v=16", 1),                                         // version this library cannot compute
		strings.Replace(valid, "v=19$", "", 1),                                            // version missing
		strings.Replace(valid, "$argon2id$", "$argon2i$", 1),                              // other variant
		strings.Replace(valid, "m=256,t=2,p=1", "t=2,m=256,p=1", 1),                       // parameters out of order
		strings.Replace(valid, "m=256", "m=0256", 1),                                      // leading zero
		strings.Replace(valid, "m=256", "m=+256", 1),                                      // sign
		strings.Replace(valid, "t=2", "t=0", 1),                                           // no pass
		strings.Replace(valid, "p=1", "p=0", 1),                                           // no lane
		strings.Replace(valid, "p=1", "p=256", 1),                                         // too many lanes
		strings.Replace(valid, "m=256", "m=4", 1),                                         // less than 8 KiB per lane
		strings.Replace(valid, "m=256", "m=4194305", 1),                                   // above the 4 GiB cap
		strings.Replace(valid, "m=256", "m=99999999999", 1),                               // overflows 32 bits
		strings.Replace(valid, "c29tZXNhbHQ", "c29tZXNhbHQ=", 1),                          // padded base64
		strings.Replace(valid, "c29tZXNhbHQ", "c29tZ\nXNhbHQ", 1),                         // line break the decoder would skip
		strings.Replace(valid, "c29tZXNhbHQ", "c2FsdA", 1),                                // 4-byte salt
		strings.Replace(valid, "c29tZXNhbHQ", "", 1),                                      // no salt
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$",                                       // no key
		"pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo",        // unpadded
		"pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=$",      // extra field
		"pbkdf2_sha256$0$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",            // no iteration
		"pbkdf2_sha256$-1$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",           // negative
		"pbkdf2_sha256$ 260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",      // space
		"pbkdf2_sha256$999999999999$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=", // above the cap
		"pbkdf2_sha256$260000$$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",              // empty salt
		"pbkdf2_sha256$260000$seasalt$YlZ2Vggt",                                           // short key
		"pbkdf2_sha1$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",         // other algorithm
		"PBKDF2_SHA256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",
	}
	for _, m := range malformed {
		ok, rehash, err := h.Check(t.Context(), "password", m)
		if ok || rehash || err != nil {
			t.Errorf("Check(%q) = %v, %v, %v; want false, false, nil", m, ok, rehash, err)
		}
	}
}

func TestRehash(t *testing.T) {
	configured := cheapSettings("argon2id")
	configured.Argon2idMemoryKiB = 64
	configured.Argon2idIterations = 2
	configured.Argon2idParallelism = 2
	configured.PBKDF2Iterations = 1000

	argon := func(m, t, p int) core.Settings {
		s := configured
		s.Argon2idMemoryKiB, s.Argon2idIterations, s.Argon2idParallelism = m, t, p
		return s
	}
	pbkdf := func(iterations int) core.Settings {
		s := configured
		s.PasswordHasher = "pbkdf2_sha256"
		s.PBKDF2Iterations = iterations
		return s
	}
	cases := []struct {
		name       string
		checker    core.Settings
		producer   core.Settings
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

	t.Run("Django salt shorter than 128 bits", func(t *testing.T) {
		s := pbkdf(260000)
		ok, rehash, err := mustNew(t, s).Check(t.Context(), "lètmein", "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=")
		if err != nil || !ok || !rehash {
			t.Errorf("Check = %v, %v, %v; want true, true (the 7-character salt is weak), nil", ok, rehash, err)
		}
	})
}

func TestNewRejectsUnusableSettings(t *testing.T) {
	cases := map[string]func(*core.Settings){
		"unknown hasher":      func(s *core.Settings) { s.PasswordHasher = "bcrypt" },
		"no argon2 memory":    func(s *core.Settings) { s.Argon2idMemoryKiB = 0 },
		"memory per lane":     func(s *core.Settings) { s.Argon2idMemoryKiB, s.Argon2idParallelism = 16, 4 },
		"memory above cap":    func(s *core.Settings) { s.Argon2idMemoryKiB = maxArgon2MemoryKiB + 1 },
		"no argon2 pass":      func(s *core.Settings) { s.Argon2idIterations = 0 },
		"no lane":             func(s *core.Settings) { s.Argon2idParallelism = 0 },
		"too many lanes":      func(s *core.Settings) { s.Argon2idParallelism = 256 },
		"no pbkdf2 iteration": func(s *core.Settings) { s.PBKDF2Iterations = 0 },
		"no concurrency":      func(s *core.Settings) { s.HashConcurrency = 0 },
		"negative queue":      func(s *core.Settings) { s.HashQueueSize = -1 },
		"no queue wait":       func(s *core.Settings) { s.HashQueueWait = 0 },
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
