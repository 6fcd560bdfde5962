package usecase_test

import (
	"context"
	"testing"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports/porttest"
)

func TestOpaqueTokensContract(t *testing.T) {
	store := memstore.New()
	porttest.TokenIssuer(t, usecase.OpaqueTokens{Store: store, Clock: usecase.SystemClock{}},
		func(ctx context.Context, token string) (string, error) {
			return store.UserIDForToken(ctx, usecase.TokenDigest(token))
		})
}
