package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// Data written before the namespace existed may hold one key twice; a
// profile change, an e-mail change or an import that frees the key passes
// it on to an account still holding it, as a deletion does, so that no new
// account can take it until none is left.
func TestKeyChangesPassSharedKeysOn(t *testing.T) {
	ctx := context.Background()
	erin := legacyUser("erin", "Shared@Example.NET", 0)
	frank := legacyUser("frank", "SHARED@example.net", time.Second)
	dave := legacyUser("dave", "dave", 2*time.Second)
	dave.Email, dave.EmailKey, dave.UniqueEmailKey = "shared@example.net", "shared@example.net", "shared@example.net"
	s := openOn(t, legacySchema(t, erin, frank, dave), Options{})

	claim := func() error {
		u := porttest.NewUser("newcomer")
		u.Email, u.EmailKey, u.UniqueEmailKey = "shared@example.net", "shared@example.net", "shared@example.net"
		return s.CreateUser(ctx, u)
	}
	steps := []struct {
		name   string
		change func() error
		heir   string
	}{
		{"the address's owner changes its address", func() error {
			_, err := s.ChangeEmail(ctx, core.EmailChange{UserID: dave.ID, Email: "dave@example.org",
				EmailKey: "dave@example.org", UniqueEmailKey: "dave@example.org"}, nil)
			return err
		}, erin.ID},
		{"the oldest username holder renames itself", func() error {
			_, err := s.UpdateProfile(ctx, erin.ID, core.Profile{Username: "erin", UsernameKey: "erin"})
			return err
		}, frank.ID},
	}
	for _, step := range steps {
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if owner := loginKeyOwners(t, s)["shared@example.net"]; owner != step.heir {
			t.Errorf("after %s the shared key is owned by %q, want %q", step.name, owner, step.heir)
		}
		if err := claim(); !errors.Is(err, core.ErrEmailTaken) {
			t.Fatalf("after %s, CreateUser with the shared address = %v, want core.ErrEmailTaken", step.name, err)
		}
	}
	// The last holder is re-imported without it: the address is free.
	renamed := frank
	renamed.Username, renamed.UsernameKey, renamed.UsernameEmailKey = "frank", "frank", ""
	if _, err := s.ImportUser(ctx, renamed); err != nil {
		t.Fatalf("ImportUser: %v", err)
	}
	if owner, held := loginKeyOwners(t, s)["shared@example.net"]; held {
		t.Errorf("after the last holder let it go the shared key is owned by %q", owner)
	}
	if err := claim(); err != nil {
		t.Errorf("CreateUser with the address once nobody holds it: %v", err)
	}
}
