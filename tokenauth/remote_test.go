package tokenauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/tokenauth"
)

// restregAuth serves restreg's own forward-auth endpoint over tt.
func restregAuth(t *testing.T, tt *tokenTable) *httptest.Server {
	t.Helper()
	s := core.DefaultSettings()
	srv, err := httpapi.New(s, httpapi.DefaultConfig(), httpapi.UseCases{
		Authenticate: usecase.NewAuthenticate(usecase.NewAuthenticateConfig(s), tt, usecase.SystemClock{}),
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// Remote asks a running restreg: the user of a valid token, DRF's refusals
// word for word, and revocation once MaxStale has passed.
func TestRemoteAsksRestregsForwardAuth(t *testing.T) {
	tt := newTokenTable()
	restreg := restregAuth(t, tt)
	clock := &fakeClock{now: time.Unix(1700000000, 0)}
	h := tokenauth.New(tokenauth.Remote(restreg.URL+"/api/v1/accounts/auth/", nil),
		tokenauth.WithMaxStale(5*time.Second), tokenauth.WithClock(clock.Now)).Wrap(whoAmI)
	if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK || rec.Body.String() != "u-alice alice alice@example.com" {
		t.Fatalf("valid token: %d %q", rec.Code, rec.Body)
	}
	expectRefusal(t, call(h, token(bobKey)), core.MsgTokenUserInactive)
	expectRefusal(t, call(h, token("ffff")), core.MsgTokenInvalid)
	bearer := "Bearer " + aliceKey
	if rec := call(h, &bearer); rec.Code != http.StatusOK {
		t.Fatalf("Bearer: %d", rec.Code)
	}
	expectRefusal(t, call(h, nil), core.MsgAuthNotProvided)

	_ = tt.DeleteToken(t.Context(), usecase.TokenDigest(aliceKey))
	if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK {
		t.Fatalf("revoked, within MaxStale: %d, want the cached 200", rec.Code)
	}
	clock.Advance(5 * time.Second)
	expectRefusal(t, call(h, token(aliceKey)), core.MsgTokenInvalid)
}

// restreg out of reach, a store failure behind it, or an answer that is
// not restreg's: 503, never cached, and no error names the key.
func TestRemoteFailuresAnswer503(t *testing.T) {
	tt := newTokenTable()
	restreg := restregAuth(t, tt)
	tt.setErr(core.ErrUnavailable)
	checker := tokenauth.Remote(restreg.URL+"/api/v1/accounts/auth/", nil)
	h := tokenauth.New(checker).Wrap(whoAmI)
	for range 2 {
		if rec := call(h, token(aliceKey)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("store down behind restreg: %d %s", rec.Code, rec.Body)
		}
	}
	tt.setErr(nil)
	if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK {
		t.Fatalf("store back: %d (a failure was cached)", rec.Code)
	}

	notRestreg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("<html>login required</html>"))
	}))
	defer notRestreg.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for name, url := range map[string]string{"401 that is not DRF's": notRestreg.URL, "nobody listening": gone.URL} {
		_, err := tokenauth.Remote(url, nil).Check(t.Context(), aliceKey)
		if !errors.Is(err, core.ErrUnavailable) || strings.Contains(err.Error(), aliceKey) {
			t.Errorf("%s: %v, want core.ErrUnavailable without the key", name, err)
		}
	}
}
