package passhash

import (
	"context"
	"runtime"
	"testing"

	"github.com/restreg/restreg/core"
)

// BenchmarkArgon2idDefault hashes at the documented cost (19 MiB, t=2,
// p=1) from GOMAXPROCS goroutines through the slots, as the server does.
func BenchmarkArgon2idDefault(b *testing.B) {
	s := core.DefaultSettings()
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
	s := core.DefaultSettings()
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
