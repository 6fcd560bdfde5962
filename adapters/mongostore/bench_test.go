package mongostore_test

import (
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// BenchmarkCreateUser measures one registration write (a user with its
// user_registered event) against the embedded FerretDB.
func BenchmarkCreateUser(b *testing.B) {
	s := openT(b, sharedURI, freshDatabase("bench_create"), true)
	ctx := b.Context()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u := porttest.NewUser(fmt.Sprintf("bench%d", i))
		if err := s.CreateUser(ctx, u, porttest.NewEvent(core.EventUserRegistered, u, at)); err != nil {
			b.Fatalf("CreateUser: %v", err)
		}
	}
}

// BenchmarkActivateUser measures one verification write (the conditional
// update that flips is_active and appends user_activated) against the
// embedded FerretDB, on a collection of activationPopulation users: FerretDB
// scans the whole collection for any filter other than a bare _id, so the
// figure depends on that size (MongoDB uses the _id index instead).
func BenchmarkActivateUser(b *testing.B) {
	const activationPopulation = 100
	database := freshDatabase("bench_activate")
	s := openT(b, sharedURI, database, true)
	ctx := b.Context()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	users := make([]core.User, activationPopulation)
	for i := range users {
		users[i] = porttest.NewUser(fmt.Sprintf("bench%d", i))
		if err := s.CreateUser(ctx, users[i], porttest.NewEvent(core.EventUserRegistered, users[i], at)); err != nil {
			b.Fatalf("CreateUser: %v", err)
		}
	}
	raw := rawClient(b, sharedURI).Database(database).Collection("users")
	reset := bson.D{{Key: "$set", Value: bson.D{{Key: "is_active", Value: false}, {Key: "outbox", Value: bson.A{}}}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		u := users[i%activationPopulation]
		active := u
		active.IsActive = true
		ok, err := s.ActivateUser(ctx, u.ID, porttest.NewEvent(core.EventUserActivated, active, at))
		if err != nil || !ok {
			b.Fatalf("ActivateUser = %v, %v", ok, err)
		}
		if i%activationPopulation == activationPopulation-1 {
			// Make every user inactive again, outside the measurement.
			b.StopTimer()
			if _, err := raw.UpdateMany(ctx, bson.D{}, reset); err != nil {
				b.Fatalf("reset users: %v", err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkFindToken measures the read behind every authenticated request,
// a token and its user (two reads by _id), against the embedded FerretDB,
// among 1,000 users with one token each.
func BenchmarkFindToken(b *testing.B) {
	const population = 1000
	s := openT(b, sharedURI, freshDatabase("bench_token"), true)
	ctx := b.Context()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	digests := make([]string, population)
	for i := range digests {
		u := porttest.NewUser(fmt.Sprintf("bench%d", i))
		if err := s.CreateUser(ctx, u); err != nil {
			b.Fatalf("CreateUser: %v", err)
		}
		digests[i] = fmt.Sprintf("%064x", i)
		if err := s.SaveToken(ctx, digests[i], u.ID, at); err != nil {
			b.Fatalf("SaveToken: %v", err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := s.FindToken(ctx, digests[i%population]); err != nil {
			b.Fatalf("FindToken: %v", err)
		}
		i++
	}
}
