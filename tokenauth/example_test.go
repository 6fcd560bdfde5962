package tokenauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/tokenauth"
)

// A service of your own accepts the tokens restreg's login/ hands out: the
// middleware checks them against restreg's store (here the in-memory one;
// in a deployment the SQLite, PostgreSQL or MongoDB store restreg uses) and
// the handler finds the user in its request's context.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	_ = store.CreateUser(ctx, core.User{ID: "42", Username: "alice", UsernameKey: "alice",
		Email: "alice@example.com", EmailKey: "alice@example.com", IsActive: true})
	key, _ := usecase.OpaqueTokens{Store: store, Clock: usecase.SystemClock{}}.IssueToken(ctx, "42") // what login/ does

	auth := tokenauth.New(tokenauth.Store(store, 0), tokenauth.WithMaxStale(30*time.Second))
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := tokenauth.FromContext(r.Context())
		fmt.Fprintf(w, "orders of %s (user %s)", user.Username, user.ID)
	})
	srv := httptest.NewServer(auth.Wrap(orders))
	defer srv.Close()

	for _, header := range []string{"Token " + key, "Bearer " + key, "", "Token 0000000000000000000000000000000000000000"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		fmt.Println(res.StatusCode, string(body))
	}
	// Output:
	// 200 orders of alice (user 42)
	// 200 orders of alice (user 42)
	// 401 {"detail":"Authentication credentials were not provided."}
	// 401 {"detail":"Invalid token."}
}
