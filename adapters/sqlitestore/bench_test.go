package sqlitestore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// seed stores n inactive users, each with its registration event, and
// returns them.
func seed(b *testing.B, s *Store, prefix string, n int) []core.User {
	b.Helper()
	users := make([]core.User, n)
	for i := range users {
		u := porttest.NewUser(fmt.Sprintf("%s%d", prefix, i))
		if err := s.CreateUser(context.Background(), u, porttest.NewEvent(core.EventUserRegistered, u, u.CreatedAt)); err != nil {
			b.Fatal(err)
		}
		users[i] = u
	}
	return users
}

// BenchmarkCreateUser measures one registration's write: a user and its
// user_registered event in one transaction.
func BenchmarkCreateUser(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	now := time.Now().UTC()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := porttest.NewUser(fmt.Sprintf("create%d", i))
		i++
		if err := s.CreateUser(ctx, u, porttest.NewEvent(core.EventUserRegistered, u, now)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkActivateUser measures one verification's write: the conditional
// update and its user_activated event in one transaction.
func BenchmarkActivateUser(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	users := seed(b, s, "activate", b.N)
	events := make([]core.Event, b.N)
	for i, u := range users {
		u.IsActive = true
		events[i] = porttest.NewEvent(core.EventUserActivated, u, u.CreatedAt)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if ok, err := s.ActivateUser(ctx, users[i].ID, events[i]); err != nil || !ok {
			b.Fatalf("ActivateUser = %v, %v", ok, err)
		}
	}
}

// BenchmarkFindUserByID measures the lookup every verification starts with,
// in a table of 10,000 users.
func BenchmarkFindUserByID(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	users := seed(b, s, "find", 10000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.FindUser(ctx, core.ByID, users[i%len(users)].ID); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkVerifyParallel is the store's share of verify-registration under
// load: find the user, then activate it with its event, from as many
// goroutines as GOMAXPROCS. Its ns/op bounds verifications per second.
func BenchmarkVerifyParallel(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	users := seed(b, s, "verify", b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := users[next.Add(1)-1]
			found, err := s.FindUser(ctx, core.ByID, u.ID)
			if err != nil {
				b.Fatal(err)
			}
			found.IsActive = true
			if ok, err := s.ActivateUser(ctx, u.ID, porttest.NewEvent(core.EventUserActivated, found, found.CreatedAt)); err != nil || !ok {
				b.Fatalf("ActivateUser = %v, %v", ok, err)
			}
		}
	})
}

// BenchmarkFindToken measures the read behind every authenticated request:
// a token and its user in one statement, among 10,000 users with one token
// each.
func BenchmarkFindToken(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	users := seed(b, s, "token", 10000)
	digests := make([]string, len(users))
	for i, u := range users {
		digests[i] = fmt.Sprintf("%064x", i)
		if err := s.SaveToken(ctx, digests[i], u.ID, u.CreatedAt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := s.FindToken(ctx, digests[i%len(digests)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRecordLogin measures the write every login now makes (last_login
// and user_logged_in in one transaction), with 1 and 16 logins in flight
// per CPU over 1,000 users: concurrent logins share commits, which the
// ratio of the two figures shows.
func BenchmarkRecordLogin(b *testing.B) {
	for _, perCPU := range []int{1, 16} {
		b.Run(fmt.Sprintf("goroutines-per-cpu=%d", perCPU), func(b *testing.B) {
			s := openTemp(b)
			ctx := context.Background()
			users := seed(b, s, "login", 1000)
			var next atomic.Int64
			b.SetParallelism(perCPU)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					u := users[int(next.Add(1))%len(users)]
					at := time.Now()
					if err := s.RecordLogin(ctx, u.ID, at, porttest.NewEvent(core.EventUserLoggedIn, u, at)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
