package pgstore

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/pgstore/pgtest"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Open(ctx, "postgres://restreg@"+closedAddr(t)+"/restreg", Options{ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Open on a closed port = %v, want core.ErrUnavailable", err)
	}
}

// With the server gone every call reports core.ErrUnavailable (the API
// answers 503, /readyz is not ready); when it is back the same store serves
// again without being reopened.
func TestOutageIsUnavailableAndTheStoreRecovers(t *testing.T) {
	ctx := context.Background()
	p, dbURL := pgtest.StartProxyT(t, testDB.NewSchemaT(t))
	s := openOn(t, dbURL, Options{ConnectTimeout: 2 * time.Second, StatementTimeout: 2 * time.Second})
	before := porttest.NewUser("before")
	if err := s.CreateUser(ctx, before); err != nil {
		t.Fatal(err)
	}

	p.Stop()
	calls := map[string]func(ctx context.Context) error{
		"Ping":       s.Ping,
		"CreateUser": func(ctx context.Context) error { return s.CreateUser(ctx, porttest.NewUser("during")) },
		"FindUser":   func(ctx context.Context) error { _, err := s.FindUser(ctx, core.ByID, before.ID); return err },
		"PendingEvents": func(ctx context.Context) error {
			_, err := s.PendingEvents(ctx, time.Now(), 10)
			return err
		},
		"Backlog": func(ctx context.Context) error { _, _, err := s.Backlog(ctx); return err },
		"RecordLogin": func(ctx context.Context) error {
			return s.RecordLogin(ctx, before.ID, time.Now(), porttest.NewEvent(core.EventUserLoggedIn, before, time.Now()))
		},
		"UpdateProfile": func(ctx context.Context) error {
			_, err := s.UpdateProfile(ctx, before.ID, core.Profile{Username: "renamed", UsernameKey: "renamed"})
			return err
		},
		"ChangePassword": func(ctx context.Context) error {
			_, err := s.ChangePassword(ctx, core.PasswordChange{UserID: before.ID, OldHash: before.PasswordHash, NewHash: "new"})
			return err
		},
		"ChangeEmail": func(ctx context.Context) error {
			_, err := s.ChangeEmail(ctx, core.EmailChange{UserID: before.ID, Email: "x@example.org", EmailKey: "x@example.org"}, nil)
			return err
		},
		"ClaimQueuedMail": func(ctx context.Context) error {
			_, err := s.ClaimQueuedMail(ctx, time.Now(), time.Minute, 10)
			return err
		},
		"ImportUser": func(ctx context.Context) error { _, err := s.ImportUser(ctx, porttest.NewUser("imported")); return err },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := call(cctx)
		cancel()
		if !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("%s during the outage = %v, want core.ErrUnavailable", name, err)
		}
	}

	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping did not recover within 30s of the server coming back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got, err := s.FindUser(ctx, core.ByID, before.ID); err != nil {
		t.Errorf("FindUser after the recovery: %v", err)
	} else if got.UsernameKey != before.UsernameKey || got.PasswordHash != before.PasswordHash ||
		got.EmailKey != before.EmailKey || !got.LastLogin.IsZero() {
		t.Errorf("user changed by calls that failed during the outage:\n got %+v\nwant %+v", got, before)
	}
	if err := s.CreateUser(ctx, porttest.NewUser("after")); err != nil {
		t.Errorf("CreateUser after the recovery: %v", err)
	}
}
