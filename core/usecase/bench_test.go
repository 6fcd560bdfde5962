package usecase_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// BenchmarkRegister measures a whole registration (validation, uniqueness,
// hash, store, link, e-mail composition) on the in-memory store. The
// cheap-hash case shows the use case's own cost; the default case is bounded
// by argon2id (19 MiB, t=2).
func BenchmarkRegister(b *testing.B) {
	for _, tc := range []struct {
		name    string
		hashing passhash.Config
	}{
		{"cheap-hash", cheapHashing()},
		{"argon2id-default", passhash.DefaultConfig()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixtureHashing(b, nil, tc.hashing)
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := f.reg.Handle(context.Background(), registration(fmt.Sprintf("user%d", n.Add(1)))); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkVerify measures verify-registration of valid links on the
// in-memory store (signature check, lookup, activation).
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, nil)
	const users = 256
	links := make([]usecase.VerifyInput, 0, users)
	for i := range users {
		pub, err := f.reg.Handle(context.Background(), registration(fmt.Sprintf("v%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		link, err := f.links.Sign(core.User{ID: pub.ID}, f.clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		m := linkPattern.FindStringSubmatch(link)
		links = append(links, usecase.VerifyInput{UserID: core.Str(m[1]), Timestamp: core.Str(m[2]), Signature: core.Str(m[3])})
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.verify.Handle(context.Background(), links[n.Add(1)%users]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
