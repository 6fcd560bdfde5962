package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

// blockingHasher waits, like a full hash gate, until the caller's context
// ends, and then fails the way passhash does.
type blockingHasher struct{ entered chan struct{} }

func (h blockingHasher) wait(ctx context.Context) error {
	h.entered <- struct{}{}
	<-ctx.Done()
	return fmt.Errorf("passhash: check: waiting for a hashing slot: %w", ctx.Err())
}

func (h blockingHasher) Hash(ctx context.Context, _ string) (string, error) { return "", h.wait(ctx) }
func (h blockingHasher) Check(ctx context.Context, _, _ string) (bool, bool, error) {
	return false, false, h.wait(ctx)
}

// hangUp posts a login through a real connection, waits until the server is
// busy with it (entered), then hangs up, and returns what the server
// recorded for the request.
func hangUp(t *testing.T, ts testServer, entered <-chan struct{}) RequestRecord {
	t.Helper()
	records := make(chan RequestRecord, 1)
	ts.Observe(func(r RequestRecord) { records <- r })
	hs := httptest.NewServer(ts)
	defer hs.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hs.URL+login, strings.NewReader(`{"login":"ann","password":"right"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctJSON)
	sent := make(chan error, 1)
	go func() {
		resp, err := hs.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		sent <- err
	}()
	select {
	case <-entered:
	case err := <-sent:
		t.Fatalf("the request was answered before the server waited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server never reached the blocking dependency")
	}
	cancel()
	if err := <-sent; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want its own cancellation", err)
	}
	select {
	case r := <-records:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not finish the request after the client hung up")
	}
	return RequestRecord{}
}

// assertNotAServerError checks that a hung-up request is recorded as 499
// and logged at debug level, with no error line.
func assertNotAServerError(t *testing.T, ts testServer, r RequestRecord) {
	t.Helper()
	if r.Status != StatusClientClosedRequest || r.Route != login {
		t.Errorf("recorded %s %d, want %s %d", r.Route, r.Status, login, StatusClientClosedRequest)
	}
	logs := ts.logs.String()
	if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("a client hanging up was logged as a problem:\n%s", logs)
	}
	if !strings.Contains(logs, `"level":"DEBUG","msg":"client closed the request before the answer"`) {
		t.Errorf("no debug line for the hung-up request:\n%s", logs)
	}
	if !strings.Contains(logs, `"status":499`) {
		t.Errorf("the access log does not show 499:\n%s", logs)
	}
}

func TestClientHangingUpWhileWaitingForAHashingSlot(t *testing.T) {
	entered := make(chan struct{}, 1)
	ts := newTestServerWithHasher(t, nil, nil, blockingHasher{entered: entered})
	assertNotAServerError(t, ts, hangUp(t, ts, entered))
}

// A driver interrupted by the cancellation need not say so (SQLite reports
// "interrupted"): once the client is gone, the failure is still not the
// server's.
func TestClientHangingUpWhileTheStoreWorks(t *testing.T) {
	entered := make(chan struct{}, 1)
	ts := newTestServer(t, nil, func(ctx context.Context, _ core.LookupField, _ string) (core.User, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return core.User{}, errors.New("sqlite: find user: interrupted (9)")
	}, nil)
	assertNotAServerError(t, ts, hangUp(t, ts, entered))
}

func TestRequestFailureOnlyForgivesFailuresOfAGoneClient(t *testing.T) {
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	for _, c := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"gone, cancellation", gone, fmt.Errorf("hash: %w", context.Canceled), StatusClientClosedRequest},
		{"gone, driver error", gone, errors.New("interrupted"), StatusClientClosedRequest},
		{"gone, overloaded", gone, core.ErrOverloaded, StatusClientClosedRequest},
		{"gone, invalid request", gone, core.Detail(core.MsgLoginInvalid), http.StatusBadRequest},
		{"live, a dependency's own cancellation", live, fmt.Errorf("hash: %w", context.Canceled), http.StatusInternalServerError},
		{"live, unavailable", live, core.ErrUnavailable, http.StatusServiceUnavailable},
	} {
		if got := requestFailure(c.ctx, c.err).status; got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
