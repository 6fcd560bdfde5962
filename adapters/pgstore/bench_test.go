package pgstore

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
// user_registered event in one statement.
func BenchmarkCreateUser(b *testing.B) {
	s, _ := openFresh(b)
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
// update and its user_activated event in one statement.
func BenchmarkActivateUser(b *testing.B) {
	s, _ := openFresh(b)
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
	s, _ := openFresh(b)
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
// load: find the user, then activate it with its event, from GOMAXPROCS
// goroutines (as the other stores' benchmark) and from 16 times as many, as
// a busy server has requests in flight. Its ns/op bounds verifications per
// second. Every activation commits durably; concurrent commits share the
// server's WAL flushes, which the second figure shows.
func BenchmarkVerifyParallel(b *testing.B) {
	for _, perCPU := range []int{1, 16} {
		b.Run(fmt.Sprintf("goroutines-per-cpu=%d", perCPU), func(b *testing.B) {
			s, _ := openFresh(b)
			ctx := context.Background()
			users := seed(b, s, "verify", b.N)
			var next atomic.Int64
			b.SetParallelism(perCPU)
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
		})
	}
}

// BenchmarkRelayBatch measures the relay's store work per event: lease a
// batch of 100 (the relay's batch size), then remove it once published.
func BenchmarkRelayBatch(b *testing.B) {
	s, _ := openFresh(b)
	ctx := context.Background()
	const batch = 100
	seed(b, s, "relay", b.N)
	later := time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		events, err := s.PendingEvents(ctx, later, min(batch, b.N-done))
		if err != nil {
			b.Fatal(err)
		}
		if len(events) == 0 {
			b.Fatalf("only %d of %d events pending", done, b.N)
		}
		ids := make([]string, len(events))
		for i, ev := range events {
			ids[i] = ev.ID
		}
		if err := s.MarkPublished(ctx, ids...); err != nil {
			b.Fatal(err)
		}
		done += len(events)
	}
}

// BenchmarkCourierMail measures the store's share of one e-mail the courier
// sends: its part of a claim of 10 due mails, then marking it sent (which
// also releases the user's held events).
func BenchmarkCourierMail(b *testing.B) {
	s, _ := openFresh(b)
	ctx := context.Background()
	due := time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	for i := range b.N {
		u := porttest.NewUser(fmt.Sprintf("courier%d", i))
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: due}
		held := porttest.NewEvent(core.EventUserRegistered, u, u.CreatedAt)
		held.AvailableAt = due.Add(24 * time.Hour)
		if err := s.CreateUser(ctx, u, held); err != nil {
			b.Fatal(err)
		}
	}
	now := due.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		claimed, err := s.ClaimMail(ctx, now, time.Minute, 10)
		if err != nil {
			b.Fatal(err)
		}
		if len(claimed) == 0 {
			b.Fatalf("only %d of %d mails claimed", done, b.N)
		}
		for _, u := range claimed {
			if err := s.CompleteMail(ctx, u.ID, u.Mail.Kind, u.Mail.DueAt, now); err != nil {
				b.Fatal(err)
			}
		}
		done += len(claimed)
	}
}

// BenchmarkFindToken measures the read behind every authenticated request:
// a token and its user in one statement, among 10,000 users with one token
// each.
func BenchmarkFindToken(b *testing.B) {
	s, _ := openFresh(b)
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
			s, _ := openFresh(b)
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
