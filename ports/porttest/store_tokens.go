package porttest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// storeTokens checks the token lifecycle: found with their user in one
// read, the newest per user, removed one by one or all but one.
func storeTokens(t *testing.T, newStore func(t *testing.T) ports.Store) {
	digest := func(c string) string { return strings.Repeat(c, 64/len(c)) }

	t.Run("a token is found with its user", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("holder")
		u.IsActive = true
		mustCreateUser(t, s, u)
		if err := s.SaveToken(ctx, digest("a1"), u.ID, storeEpoch); err != nil {
			t.Fatal(err)
		}
		tok, got, err := s.FindToken(ctx, digest("a1"))
		if err != nil {
			t.Fatalf("FindToken: %v", err)
		}
		if tok.Digest != digest("a1") || tok.UserID != u.ID || !withinSecond(tok.CreatedAt, storeEpoch) {
			t.Errorf("token = %+v, want digest, user %s, created %v", tok, u.ID, storeEpoch)
		}
		checkUser(t, got, u)
		if _, _, err := s.FindToken(ctx, digest("00")); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("FindToken of an unknown digest = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("a token whose user is gone is not found", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		if err := s.SaveToken(ctx, digest("b2"), "no-such-user", storeEpoch); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.FindToken(ctx, digest("b2")); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("FindToken of an orphan token = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("the latest token of a user is the newest", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u, other := NewUser("many"), NewUser("other")
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		for i, d := range []string{"c3", "d4", "e5"} {
			if err := s.SaveToken(ctx, digest(d), u.ID, storeEpoch.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveToken(ctx, digest("f6"), other.ID, storeEpoch.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		tok, err := s.LatestToken(ctx, u.ID)
		if err != nil || tok.Digest != digest("e5") || tok.UserID != u.ID {
			t.Fatalf("LatestToken = %+v, %v; want the one saved last", tok, err)
		}
		if _, err := s.LatestToken(ctx, "no-such-user"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("LatestToken of a user without tokens = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("deleting one token leaves the others", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("leaver")
		mustCreateUser(t, s, u)
		for _, d := range []string{"a7", "b8"} {
			if err := s.SaveToken(ctx, digest(d), u.ID, storeEpoch); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteToken(ctx, digest("a7")); err != nil {
			t.Fatalf("DeleteToken: %v", err)
		}
		if err := s.DeleteToken(ctx, digest("a7")); err != nil {
			t.Fatalf("DeleteToken again: %v", err)
		}
		if _, _, err := s.FindToken(ctx, digest("a7")); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("deleted token: FindToken = %v, want core.ErrNotFound", err)
		}
		if _, _, err := s.FindToken(ctx, digest("b8")); err != nil {
			t.Errorf("the other token: FindToken = %v, want found", err)
		}
	})

	t.Run("deleting a user's tokens keeps the one named and other users'", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u, other := NewUser("changer"), NewUser("bystander")
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		for _, d := range []string{"c9", "da", "eb"} {
			if err := s.SaveToken(ctx, digest(d), u.ID, storeEpoch); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SaveToken(ctx, digest("fc"), other.ID, storeEpoch); err != nil {
			t.Fatal(err)
		}
		n, err := s.DeleteUserTokens(ctx, u.ID, digest("da"))
		if err != nil || n != 2 {
			t.Fatalf("DeleteUserTokens keeping one = %d, %v; want 2, nil", n, err)
		}
		for d, want := range map[string]bool{"c9": false, "da": true, "eb": false, "fc": true} {
			_, _, err := s.FindToken(ctx, digest(d))
			if found := err == nil; found != want {
				t.Errorf("token %s after DeleteUserTokens: found %v (%v), want %v", d, found, err, want)
			}
		}
		if n, err := s.DeleteUserTokens(ctx, u.ID, ""); err != nil || n != 1 {
			t.Fatalf("DeleteUserTokens keeping none = %d, %v; want 1, nil", n, err)
		}
		if n, err := s.DeleteUserTokens(ctx, "no-such-user", ""); err != nil || n != 0 {
			t.Fatalf("DeleteUserTokens of a user without tokens = %d, %v; want 0, nil", n, err)
		}
	})
}
