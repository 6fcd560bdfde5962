package tokenauth_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/tokenauth"
)

const (
	aliceKey = "abcdef0123456789abcdef0123456789abcdef01"
	bobKey   = "0123456789abcdef0123456789abcdef01234567"
)

// tokenTable is a ports.TokenStore over a map that counts FindToken reads
// and fails them with err when set.
type tokenTable struct {
	mu      sync.Mutex
	tokens  map[string]core.User
	created map[string]time.Time
	err     error
	reads   atomic.Int64
}

func newTokenTable() *tokenTable {
	return &tokenTable{tokens: map[string]core.User{
		usecase.TokenDigest(aliceKey): {ID: "u-alice", Username: "alice", Email: "alice@example.com", IsActive: true},
		usecase.TokenDigest(bobKey):   {ID: "u-bob", Username: "bob", Email: "bob@example.com"},
	}, created: map[string]time.Time{}}
}

var errUnused = errors.New("not used by authentication")

func (tt *tokenTable) SaveToken(_ context.Context, digest, userID string, created time.Time) error {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.tokens[digest] = core.User{ID: userID, Username: userID, IsActive: true}
	tt.created[digest] = created
	return nil
}
func (tt *tokenTable) UserIDForToken(context.Context, string) (string, error) { return "", errUnused }
func (tt *tokenTable) LatestToken(context.Context, string) (core.Token, error) {
	return core.Token{}, errUnused
}
func (tt *tokenTable) DeleteUserTokens(context.Context, string, string) (int, error) {
	return 0, errUnused
}

func (tt *tokenTable) DeleteToken(_ context.Context, digest string) error {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	delete(tt.tokens, digest)
	return nil
}

func (tt *tokenTable) setErr(err error) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	tt.err = err
}

func (tt *tokenTable) FindToken(_ context.Context, digest string) (core.Token, core.User, error) {
	tt.reads.Add(1)
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.err != nil {
		return core.Token{}, core.User{}, tt.err
	}
	u, ok := tt.tokens[digest]
	if !ok {
		return core.Token{}, core.User{}, core.ErrNotFound
	}
	return core.Token{Digest: digest, UserID: u.ID, CreatedAt: tt.created[digest]}, u, nil
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// whoAmI answers the user the middleware put in the context.
var whoAmI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, ok := tokenauth.FromContext(r.Context())
	if !ok {
		_, _ = io.WriteString(w, "anonymous")
		return
	}
	_, _ = fmt.Fprintf(w, "%s %s %s", u.ID, u.Username, u.Email)
})

// call sends one request with the Authorization header value (absent when
// nil) through h.
func call(h http.Handler, authorization *string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	if authorization != nil {
		req.Header["Authorization"] = []string{*authorization}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func token(key string) *string {
	h := "Token " + key
	return &h
}

// expectRefusal checks DRF's 401.
func expectRefusal(t *testing.T, rec *httptest.ResponseRecorder, detail string) {
	t.Helper()
	want, _ := json.Marshal(map[string]string{"detail": detail})
	if rec.Code != http.StatusUnauthorized || rec.Body.String() != string(want) {
		t.Errorf("answer %d %s, want 401 %s", rec.Code, rec.Body, want)
	}
	if rec.Header().Get("WWW-Authenticate") != "Token" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("headers %v, want WWW-Authenticate: Token and JSON", rec.Header())
	}
}

// The middleware answers the 26 header cases of DRF 3.14 as DRF's view
// does (Bearer is restreg's addition).
func TestAnswersDRFVectors(t *testing.T) {
	raw, err := os.ReadFile("../core/testdata/drf-token-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []struct {
			ID        string  `json:"id"`
			HeaderHex *string `json:"header_bytes_hex"`
			View      struct {
				Status int               `json:"status"`
				Body   map[string]string `json:"body"`
			} `json:"view"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 26 {
		t.Fatalf("%d vectors, want 26", len(f.Vectors))
	}
	h := tokenauth.New(tokenauth.Store(newTokenTable(), 0)).Wrap(whoAmI)
	for _, v := range f.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			var header *string
			if v.HeaderHex != nil {
				b, err := hex.DecodeString(*v.HeaderHex)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				header = &s
			}
			rec := call(h, header)
			status, name := v.View.Status, v.View.Body["username"]
			if v.ID == "bearer" {
				status, name = http.StatusOK, "alice"
			}
			if status == http.StatusOK {
				if rec.Code != http.StatusOK || rec.Body.String() != "u-alice "+name+" alice@example.com" {
					t.Errorf("answer %d %q, want %s's", rec.Code, rec.Body, name)
				}
				return
			}
			expectRefusal(t, rec, v.View.Body["detail"])
		})
	}
}

// Answers are reused until MaxStale has passed: one store read per key and
// period, valid and refused keys alike.
func TestCacheHitsMissesAndExpiry(t *testing.T) {
	tt := newTokenTable()
	clock := &fakeClock{now: time.Unix(1700000000, 0)}
	h := tokenauth.New(tokenauth.Store(tt, 0), tokenauth.WithMaxStale(30*time.Second), tokenauth.WithClock(clock.Now)).Wrap(whoAmI)
	unknown := "ffffffffffffffffffffffffffffffffffffffff"
	for range 3 {
		if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK {
			t.Fatalf("alice: %d", rec.Code)
		}
		expectRefusal(t, call(h, token(unknown)), core.MsgTokenInvalid)
		expectRefusal(t, call(h, token(bobKey)), core.MsgTokenUserInactive)
	}
	if n := tt.reads.Load(); n != 3 {
		t.Fatalf("%d store reads for 3 keys asked 3 times each, want 3", n)
	}
	clock.Advance(29 * time.Second)
	call(h, token(aliceKey))
	if n := tt.reads.Load(); n != 3 {
		t.Fatalf("%d store reads before MaxStale, want 3", n)
	}
	clock.Advance(time.Second)
	call(h, token(aliceKey))
	expectRefusal(t, call(h, token(unknown)), core.MsgTokenInvalid)
	if n := tt.reads.Load(); n != 5 {
		t.Fatalf("%d store reads once MaxStale passed, want 5", n)
	}
	// A malformed header needs no store read at all.
	bad := "Token a b"
	expectRefusal(t, call(h, &bad), core.MsgTokenHasSpaces)
	if n := tt.reads.Load(); n != 5 {
		t.Fatalf("a malformed header read the store (%d reads)", n)
	}
}

// A revoked token keeps working at most MaxStale, then is refused.
func TestRevocationVisibleAfterMaxStale(t *testing.T) {
	tt := newTokenTable()
	clock := &fakeClock{now: time.Unix(1700000000, 0)}
	h := tokenauth.New(tokenauth.Store(tt, 0), tokenauth.WithMaxStale(10*time.Second), tokenauth.WithClock(clock.Now)).Wrap(whoAmI)
	if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK {
		t.Fatalf("before logout: %d", rec.Code)
	}
	if err := tt.DeleteToken(context.Background(), usecase.TokenDigest(aliceKey)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second)
	if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK {
		t.Fatalf("within MaxStale: %d, want the cached 200", rec.Code)
	}
	clock.Advance(time.Second)
	expectRefusal(t, call(h, token(aliceKey)), core.MsgTokenInvalid)
}

// With MaxStale 0 every request asks the store: revocation is immediate.
func TestMaxStaleZeroDisablesTheCache(t *testing.T) {
	tt := newTokenTable()
	h := tokenauth.New(tokenauth.Store(tt, 0), tokenauth.WithMaxStale(0)).Wrap(whoAmI)
	for range 4 {
		call(h, token(aliceKey))
	}
	if n := tt.reads.Load(); n != 4 {
		t.Fatalf("%d store reads for 4 requests, want 4", n)
	}
	_ = tt.DeleteToken(context.Background(), usecase.TokenDigest(aliceKey))
	expectRefusal(t, call(h, token(aliceKey)), core.MsgTokenInvalid)
}

// The cache holds at most its size; the least recently used key goes.
func TestCacheIsBounded(t *testing.T) {
	tt := newTokenTable()
	for i := range 3 {
		_ = tt.SaveToken(context.Background(), usecase.TokenDigest(fmt.Sprintf("key%d", i)), fmt.Sprintf("u%d", i), time.Time{})
	}
	h := tokenauth.New(tokenauth.Store(tt, 0), tokenauth.WithCacheSize(2)).Wrap(whoAmI)
	call(h, token("key0"))
	call(h, token("key1"))
	call(h, token("key0")) // key0 is now the most recently used
	call(h, token("key2")) // evicts key1
	if n := tt.reads.Load(); n != 3 {
		t.Fatalf("%d reads, want 3", n)
	}
	call(h, token("key0"))
	if n := tt.reads.Load(); n != 3 {
		t.Fatalf("key0 was evicted although recently used (%d reads)", n)
	}
	call(h, token("key1"))
	if n := tt.reads.Load(); n != 4 {
		t.Fatalf("key1 was kept beyond the cache size (%d reads)", n)
	}
}

// A store that cannot answer gives 503 with Retry-After, and the failure is
// not cached: the next request asks again and succeeds once the store is back.
func TestStoreErrorsAnswer503AndAreNotCached(t *testing.T) {
	tt := newTokenTable()
	tt.setErr(fmt.Errorf("sqlite: database is locked: %w", core.ErrUnavailable))
	h := tokenauth.New(tokenauth.Store(tt, 0)).Wrap(whoAmI)
	for range 2 {
		rec := call(h, token(aliceKey))
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			rec.Body.String() != `{"detail":"Service temporarily unavailable, please try again later."}` {
			t.Fatalf("store down: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
	}
	tt.setErr(nil)
	if rec := call(h, token(aliceKey)); rec.Code != http.StatusOK {
		t.Fatalf("store back: %d %s", rec.Code, rec.Body)
	}
	if n := tt.reads.Load(); n != 3 {
		t.Fatalf("%d store reads, want 3 (failures are not cached)", n)
	}
}

// Tokens expire after the deployment's AUTH_TOKEN_TTL.
func TestStoreCheckerHonoursTTL(t *testing.T) {
	tt := newTokenTable()
	_ = tt.SaveToken(context.Background(), usecase.TokenDigest("old"), "u-old", time.Now().Add(-2*time.Hour))
	_, err := tokenauth.Store(tt, time.Hour).Check(context.Background(), "old")
	var refused *core.AuthError
	if !errors.As(err, &refused) || refused.Detail != core.MsgTokenInvalid {
		t.Fatalf("expired token: %v, want Invalid token.", err)
	}
	if u, err := tokenauth.Store(tt, 3*time.Hour).Check(context.Background(), "old"); err != nil || u.ID != "u-old" {
		t.Fatalf("token within its TTL: %v %v", u, err)
	}
}

// AllowAnonymous lets requests without credentials through without a user;
// a refused token is still refused.
func TestAllowAnonymous(t *testing.T) {
	h := tokenauth.New(tokenauth.Store(newTokenTable(), 0), tokenauth.AllowAnonymous()).Wrap(whoAmI)
	if rec := call(h, nil); rec.Code != http.StatusOK || rec.Body.String() != "anonymous" {
		t.Errorf("anonymous: %d %q", rec.Code, rec.Body)
	}
	basic := "Basic dXNlcjpwYXNz"
	if rec := call(h, &basic); rec.Code != http.StatusOK || rec.Body.String() != "anonymous" {
		t.Errorf("another scheme: %d %q", rec.Code, rec.Body)
	}
	expectRefusal(t, call(h, token("ffff")), core.MsgTokenInvalid)
	if rec := call(h, token(aliceKey)); rec.Body.String() != "u-alice alice alice@example.com" {
		t.Errorf("valid token: %q", rec.Body)
	}
}

// Many goroutines share one middleware while tokens are revoked and the
// cache evicts; run with -race. Every answer is one of the two possible.
func TestConcurrentRequests(t *testing.T) {
	tt := newTokenTable()
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("%040x", i+1)
		_ = tt.SaveToken(context.Background(), usecase.TokenDigest(keys[i]), fmt.Sprintf("u%d", i), time.Time{})
	}
	h := tokenauth.New(tokenauth.Store(tt, 0), tokenauth.WithCacheSize(16), tokenauth.WithMaxStale(time.Millisecond)).Wrap(whoAmI)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				k := keys[(g*7+i)%len(keys)]
				if g == 0 && i%10 == 0 {
					_ = tt.DeleteToken(context.Background(), usecase.TokenDigest(k))
				}
				rec := call(h, token(k))
				if rec.Code != http.StatusOK && rec.Code != http.StatusUnauthorized {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d answers neither 200 nor 401", n)
	}
}
