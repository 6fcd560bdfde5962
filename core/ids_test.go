package core_test

import (
	"encoding/hex"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// idTime returns the Unix-millisecond timestamp in the first 48 bits of id.
func idTime(t *testing.T, id string) time.Time {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(id, "-", "")[:12])
	if err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	var ms int64
	for _, x := range b {
		ms = ms<<8 | int64(x)
	}
	return time.UnixMilli(ms)
}

func TestNewIDIsCanonicalUUIDv7(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	id := core.NewID()
	after := time.Now()
	if len(id) != 36 || !uuidV7.MatchString(id) {
		t.Fatalf("NewID() = %q, not a lower-case version 7 UUID", id)
	}
	// Ids made in the same millisecond may carry a later one (they never
	// repeat), so allow a little slack after the call.
	if ts := idTime(t, id); ts.Before(before) || ts.After(after.Add(50*time.Millisecond)) {
		t.Errorf("id %s carries time %v, made between %v and %v", id, ts, before, after)
	}
}

func TestNewIDUniqueAndTimeOrdered(t *testing.T) {
	const n = 10000
	seen := make(map[string]struct{}, n)
	prev := ""
	for range n {
		id := core.NewID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("NewID() = %q, not a version 7 UUID", id)
		}
		if _, dup := seen[id]; dup {
			t.Fatalf("NewID() repeated %s", id)
		}
		seen[id] = struct{}{}
		if id <= prev {
			t.Fatalf("NewID() = %s after %s: ids do not sort by creation", id, prev)
		}
		prev = id
	}
}

func TestNewIDRandomPartDiffers(t *testing.T) {
	// The last 62 bits are random: two ids never share them.
	a, b := core.NewID(), core.NewID()
	if a[19:] == b[19:] {
		t.Errorf("ids %s and %s share their random part", a, b)
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	const workers, each = 8, 2000
	ids := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids <- core.NewID()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := make(map[string]struct{}, workers*each)
	for id := range ids {
		if _, dup := seen[id]; dup {
			t.Fatalf("NewID() repeated %s across goroutines", id)
		}
		seen[id] = struct{}{}
	}
}

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		core.NewID()
	}
}
