package memstore_test

import (
	"context"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

func TestStoreContract(t *testing.T) {
	porttest.Store(t, func(*testing.T) ports.Store { return memstore.New() }, porttest.StoreFeatures{AtomicConditionalUpdates: true})
}

// The module must hand every port the same store, or a user created through
// one port would be invisible to another.
func TestModuleProvidesOneStoreForEveryPort(t *testing.T) {
	var (
		users  ports.UserStore
		outbox ports.Outbox
		tokens ports.TokenStore
		store  ports.Store
	)
	app := fxtest.New(t, memstore.Module, fx.Populate(&users, &outbox, &tokens, &store))
	app.RequireStart()
	defer app.RequireStop()

	ctx := context.Background()
	u := porttest.NewUser("module")
	ev := porttest.NewEvent(core.EventUserRegistered, u, u.CreatedAt)
	if err := users.CreateUser(ctx, u, ev); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if n, _, err := outbox.Backlog(ctx); err != nil || n != 1 {
		t.Fatalf("Backlog through the Outbox port = %d, %v; want 1, nil", n, err)
	}
	if err := store.SaveToken(ctx, "digest", u.ID, u.CreatedAt); err != nil {
		t.Fatalf("SaveToken: %v", err)
	}
	if id, err := tokens.UserIDForToken(ctx, "digest"); err != nil || id != u.ID {
		t.Fatalf("UserIDForToken through the TokenStore port = %q, %v; want %q, nil", id, err, u.ID)
	}
}
