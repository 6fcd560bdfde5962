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

// BenchmarkSendResetLink measures the request path of
// send-reset-password-link/ for a login that names an account and for one
// that names none. With RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND off the two
// do the same work (validate, throttle, one queue write), so their ratio
// stays near 1: the answer's timing tells nobody which accounts exist. The
// fail-mode cases look the login up on the request path, as DRR does.
func BenchmarkSendResetLink(b *testing.B) {
	for _, fail := range []bool{false, true} {
		for _, login := range []string{"known", "unknown"} {
			b.Run(fmt.Sprintf("fail-when-not-found=%v/%s", fail, login), func(b *testing.B) {
				f := newFixture(b, func(s *core.Settings) { s.ResetPasswordFailWhenUserNotFound = fail })
				if _, err := f.reg.Handle(context.Background(), registration("known")); err != nil {
					b.Fatal(err)
				}
				in := usecase.SendResetInput{Login: core.Str(login)}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					_, err := f.sendReset.Handle(context.Background(), in)
					if err != nil && (!fail || login == "known") {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
