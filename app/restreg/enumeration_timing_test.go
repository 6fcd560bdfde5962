package restreg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/app/restreg"
)

// timingTestKey is a signing key strong enough for any start-up check.
const timingTestKey = "t1m1ng-Test-Key-4f9c2a7e1b8d6035c9e2f7a1d4b8c6e0-zQ"

// With REGISTER_ENUMERATION_SAFE a registration with a taken address and
// one with a new address do the same work, so their answer times match
// within noise: the test prints both medians over 40 requests each on
// SQLite with the default password hash, and asserts only the answers.
func TestEnumerationSafeTiming(t *testing.T) {
	s := restreg.DefaultConfig()
	s.SecretKey = timingTestKey
	s.Store = "sqlite"
	s.DataDir = t.TempDir()
	s.MailBackend = "file"
	s.FileMail.Dir = t.TempDir()
	s.RegisterVerificationURL = "https://frontend.example/verify-user/"
	s.VerificationFromEmail = "noreply@example.com"
	s.RegisterEnumerationSafe = true
	s.RateLimitBackend = "off"
	s.ListenAddr = "127.0.0.1:0"
	s.LogLevel = "error"
	srv, err := restreg.Start(t.Context(), s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	url := srv.URL() + s.HTTP.BasePath + "/register/"

	const n = 40
	register := func(username, address string) (time.Duration, int, []string) {
		t.Helper()
		body := fmt.Sprintf(`{"username":%q,"email":%q,"password":"violet-Anchor-7412","password_confirm":"violet-Anchor-7412"}`, username, address)
		start := time.Now()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("register %s: %v", username, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("register %s: %s", username, raw)
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return took, resp.StatusCode, keys
	}
	for i := range n {
		if _, status, _ := register(fmt.Sprintf("owner%d", i), fmt.Sprintf("owner%d@example.com", i)); status != http.StatusCreated {
			t.Fatalf("owner %d: status %d", i, status)
		}
	}
	var fresh, taken []time.Duration
	for i := range n {
		// Interleaved, so drift on a shared machine hits both alike.
		d1, s1, k1 := register(fmt.Sprintf("fresh%d", i), fmt.Sprintf("fresh%d@example.com", i))
		d2, s2, k2 := register(fmt.Sprintf("probe%d", i), fmt.Sprintf("owner%d@example.com", i))
		if s1 != http.StatusCreated || s2 != http.StatusCreated || strings.Join(k1, ",") != strings.Join(k2, ",") {
			t.Fatalf("new address: %d %v; taken address: %d %v; want the same 201 answer", s1, k1, s2, k2)
		}
		fresh, taken = append(fresh, d1), append(taken, d2)
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	t.Logf("median answer time over %d registrations each: new address %v, taken address %v", n, median(fresh), median(taken))
}
