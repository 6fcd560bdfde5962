package restreg_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/ports"
)

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stuckHasher stands for a hash gate whose slots are all taken: every call
// waits until its caller gives up.
type stuckHasher struct{ entered chan struct{} }

func (h stuckHasher) wait(ctx context.Context) error {
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return fmt.Errorf("waiting for a hashing slot: %w", ctx.Err())
}

func (h stuckHasher) Hash(ctx context.Context, _ string) (string, error) { return "", h.wait(ctx) }
func (h stuckHasher) Check(ctx context.Context, _, _ string) (bool, bool, error) {
	return false, false, h.wait(ctx)
}

// A client that hangs up while its login waits for a hashing slot shows in
// the metrics as 499, never as a server error, and logs no error.
func TestHungUpClientIsCountedAs499NotAsServerError(t *testing.T) {
	logs := &syncBuffer{}
	s := operationalSettings()
	s.AdminListenAddr = "127.0.0.1:0"
	s.LogLevel = "debug"
	hasher := stuckHasher{entered: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := restreg.Start(ctx, s, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		fx.Decorate(func(ports.PasswordHasher) ports.PasswordHasher { return hasher }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	reqCtx, hangUp := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodPost, srv.URL()+"/api/v1/accounts/login/",
		strings.NewReader(`{"login":"ann","password":"violet-Anchor-7412"}`))
	req.Header.Set("Content-Type", "application/json")
	sent := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		sent <- err
	}()
	select {
	case <-hasher.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the login never reached the hasher")
	}
	hangUp()
	if err := <-sent; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}

	series := regexp.MustCompile(`restreg_http_requests_total\{method="POST",route="/api/v1/accounts/login/",status="(\d+)"\} (\d+)`)
	var metrics string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.AdminURL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if series.MatchString(metrics) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string]string{}
	for _, m := range series.FindAllStringSubmatch(metrics, -1) {
		got[m[1]] = m[2]
	}
	if len(got) != 1 || got["499"] != "1" {
		t.Errorf("login requests by status = %v, want only 499: 1", got)
	}
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a client hanging up was logged as a problem:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "status=499") {
		t.Errorf("the access log does not show 499:\n%s", logs)
	}
}
