package passhash

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkArgon2idDefault hashes at the documented cost (19 MiB, t=2,
// p=1) from GOMAXPROCS goroutines through the slots, as the server does.
func BenchmarkArgon2idDefault(b *testing.B) {
	s := DefaultConfig()
	s.HashConcurrency = runtime.GOMAXPROCS(0)
	h := mustNew(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(ctx, "benchmark password"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkPBKDF2 hashes with Django's current default of 1,000,000
// iterations, and checks the 260,000-iteration hash Django 3.2 wrote.
func BenchmarkPBKDF2(b *testing.B) {
	s := DefaultConfig()
	s.PasswordHasher = "pbkdf2_sha256"
	h := mustNew(b, s)
	ctx := context.Background()
	b.Run("hash-1000000", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Hash(ctx, "benchmark password"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	})
	b.Run("check-django-260000", func(b *testing.B) {
		for b.Loop() {
			if ok, _, err := h.Check(ctx, "lètmein", "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo="); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
}

// BenchmarkCheck checks the right password against one hash of each
// format at the cost Django 3.2 writes by default (the legacy hashers have
// none), with restreg's default settings: what a login with an imported
// Django hash costs before its upgrade. "unusable" and "malformed" are
// what a padded mismatch costs, "argon2id-configured" a restreg hash.
func BenchmarkCheck(b *testing.B) {
	s := DefaultConfig()
	s.PasswordLegacyHashers = true
	h := mustNew(b, s)
	ctx := context.Background()
	configured, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, password, encoded string }{
		{"argon2id-configured", "correct horse battery staple", configured},
		{"unusable", "correct horse battery staple", "!eojQf5OpM7pprZVkOD17ppiF8sn3WCQCUTtanLmp"},
		{"malformed", "correct horse battery staple", "pbkdf2_sha256$1000$seasalt"},
	}
	byID := map[string]djangoVector{}
	for _, v := range loadDjangoVectors(b).Vectors {
		byID[v.ID] = v
	}
	for _, id := range []string{
		"pbkdf2_sha256/260000/Xb3kR9pLm2QwZt7YhN4vJc/ascii",
		"pbkdf2_sha1/260000/Xb3kR9pLm2QwZt7YhN4vJc/ascii",
		"argon2id/t2m102400p8/Xb3kR9pLm2QwZt7YhN4vJc/ascii",
		"argon2i/t1m256p1/Xb3kR9pLm2QwZt7YhN4vJc/ascii",
		"argon2d/t1m256p1/Xb3kR9pLm2QwZt7YhN4vJc/ascii",
		"bcrypt_sha256/2b/12/ascii",
		"bcrypt/2b/12/ascii",
		"sha1/seasalt/ascii",
		"md5/seasalt/ascii",
		"unsalted_sha1/ascii",
		"unsalted_md5/ascii",
		"crypt/ab/ascii",
	} {
		v, found := byID[id]
		if !found {
			b.Fatalf("no vector %s", id)
		}
		cases = append(cases, struct{ name, password, encoded string }{id, v.Password, v.Encoded})
	}
	for _, c := range cases {
		want := c.encoded != "pbkdf2_sha256$1000$seasalt" && c.encoded[0] != '!'
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if ok, _, err := h.Check(ctx, c.password, c.encoded); ok != want || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
