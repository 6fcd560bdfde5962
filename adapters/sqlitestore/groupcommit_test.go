package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// Concurrent writes share commits (with synchronous=FULL, each commit waits
// for the disk), and each keeps its own outcome: a duplicate username in the
// same group fails alone, the others are stored.
func TestConcurrentWritesShareCommitsAndKeepTheirOwnOutcome(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const n = 200
	users := make([]core.User, n)
	for i := range users {
		users[i] = porttest.NewUser(fmt.Sprintf("grouped%d", i))
	}
	// Every tenth one takes the username of the one before it.
	for i := 10; i < n; i += 10 {
		users[i].Username, users[i].UsernameKey = users[i-1].Username, users[i-1].UsernameKey
	}
	before := s.commits.Load()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range users {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateUser(ctx, users[i], porttest.NewEvent(core.EventUserRegistered, users[i], time.Now()))
		})
	}
	close(start)
	wg.Wait()
	commits := s.commits.Load() - before

	stored, taken := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			stored++
			if _, ferr := s.FindUser(ctx, core.ByID, users[i].ID); ferr != nil {
				t.Errorf("user %d answered stored but is not: %v", i, ferr)
			}
		case errors.Is(err, core.ErrUsernameTaken):
			taken++
			if _, ferr := s.FindUser(ctx, core.ByID, users[i].ID); !errors.Is(ferr, core.ErrNotFound) {
				t.Errorf("user %d answered taken but was stored: %v", i, ferr)
			}
		default:
			t.Errorf("create %d: %v", i, err)
		}
	}
	if taken != n/10-1 || stored != n-taken {
		t.Fatalf("%d stored and %d taken, want %d and %d", stored, taken, n-(n/10-1), n/10-1)
	}
	pending, err := s.PendingEvents(ctx, time.Now().Add(time.Hour), 10*n)
	if err != nil || len(pending) != stored {
		t.Fatalf("%d events pending (%v), want one per stored user (%d)", len(pending), err, stored)
	}
	t.Logf("%d concurrent writes took %d commits", n, commits)
	if commits >= n {
		t.Fatalf("%d commits for %d concurrent writes, want them to share commits", commits, n)
	}
}

// A write whose caller has given up before its turn writes nothing and says
// so; the writes around it are unaffected.
func TestAWriteGivenUpBeforeItsTurnWritesNothing(t *testing.T) {
	s := openTemp(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	u := porttest.NewUser("late")
	req := &writeRequest{ctx: cancelled, op: "create user", done: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
		return errors.New("must not run")
	}}
	ok := &writeRequest{ctx: context.Background(), op: "save token", done: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (digest, user_id, created_at) VALUES ('d', ?, 0)`, u.ID)
		return err
	}}
	s.commitGroup([]*writeRequest{req, ok})
	if err := <-req.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("given-up write = %v, want context.Canceled", err)
	}
	if err := <-ok.done; err != nil {
		t.Fatalf("the write after it = %v, want nil", err)
	}
	if id, err := s.UserIDForToken(context.Background(), "d"); err != nil || id != u.ID {
		t.Fatalf("the write after it was not stored: %q, %v", id, err)
	}
}
