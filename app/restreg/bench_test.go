package restreg_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// BenchmarkUseCasesByStore measures the register and verify-registration use
// cases, composed exactly as the server composes them, on each store. The
// password hash is made cheap so the figures show the store's share; with the
// default argon2id cost registration is bounded by hashing on every store.
func BenchmarkUseCasesByStore(b *testing.B) {
	var db atomic.Int64
	for _, store := range []struct {
		name      string
		configure func(b *testing.B, s *restreg.Config)
	}{
		{"memory", func(_ *testing.B, s *restreg.Config) { s.Store = "memory" }},
		{"sqlite", func(b *testing.B, s *restreg.Config) { s.Store = "sqlite"; s.DataDir = b.TempDir() }},
		{"mongodb", func(_ *testing.B, s *restreg.Config) {
			s.Store = "mongodb"
			s.MongoDB.URI = mongoURI
			s.MongoDB.Database = fmt.Sprintf("restreg_bench_%d", db.Add(1))
		}},
		{"postgres", func(b *testing.B, s *restreg.Config) { s.Store = "postgres"; s.Postgres.URL = postgresURL(b) }},
	} {
		b.Run(store.name, func(b *testing.B) {
			s := restreg.DefaultConfig()
			s.SecretKey = apisuite.SecretKey
			s.RegisterVerificationURL = "https://frontend-host/verify-user/"
			s.VerificationFromEmail = "noreply@example.com"
			s.ListenAddr = "127.0.0.1:0"
			s.MailBackend = "console"
			s.RateLimitBackend = "off"
			s.Hashing.Argon2idMemoryKiB, s.Hashing.Argon2idIterations = 64, 1
			store.configure(b, &s)
			var reg *usecase.Register
			var verify *usecase.VerifyRegistration
			var signer usecase.Links
			startT(b, s, fx.Populate(&reg, &verify, &signer))

			var n atomic.Int64
			register := func() core.PublicUser {
				i := n.Add(1)
				name := "bench" + strconv.FormatInt(i, 10)
				u, err := reg.Handle(context.Background(), usecase.RegisterInput{
					Username: core.Str(name), Email: core.Str(name + "@example.com"),
					Password: core.Str("violet-Anchor-7412"), PasswordConfirm: core.Str("violet-Anchor-7412"),
				})
				if err != nil {
					b.Fatal(err)
				}
				return u
			}
			b.Run("register", func(b *testing.B) {
				for b.Loop() {
					register()
				}
			})
			b.Run("verify", func(b *testing.B) {
				// Every iteration activates a user, as the first use of a link does.
				links := make([]usecase.VerifyInput, b.N)
				now := time.Now()
				for i := range links {
					u := register()
					link, err := signer.Sign(core.User{ID: u.ID}, now)
					if err != nil {
						b.Fatal(err)
					}
					m := mailLink.FindStringSubmatch(link)
					links[i] = usecase.VerifyInput{UserID: core.Str(m[1]), Timestamp: core.Str(m[2]), Signature: core.Str(m[3])}
				}
				b.ResetTimer()
				for i := range b.N {
					if _, err := verify.Handle(context.Background(), links[i]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
