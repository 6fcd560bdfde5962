package passhash

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

// blockInSlot makes every computation wait in its slot until release is
// closed, and records the most computations ever inside at once.
func blockInSlot(h *Hasher) (release chan struct{}, peak *atomic.Int32) {
	release = make(chan struct{})
	peak = new(atomic.Int32)
	var inside atomic.Int32
	h.inSlot = func() func() {
		n := inside.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		return func() { inside.Add(-1) }
	}
	return release, peak
}

// eventually polls cond; it waits for goroutines to reach a state, it does
// not time anything.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting until %s", what)
}

func TestQueueBoundsConcurrencyAndWaiters(t *testing.T) {
	s := cheapSettings("argon2id")
	s.HashConcurrency = 1
	s.HashQueueSize = 2
	s.HashQueueWait = time.Minute
	h := mustNew(t, s)
	release, peak := blockInSlot(h)

	const callers = 20
	results := make(chan error, callers)
	for range callers {
		go func() {
			_, err := h.Hash(t.Context(), "queued password")
			results <- err
		}()
	}

	// One caller holds the slot and two wait, so the other seventeen must
	// be turned away at once, before anything is released.
	for i := range callers - 1 - s.HashQueueSize {
		select {
		case err := <-results:
			if !errors.Is(err, core.ErrOverloaded) {
				t.Fatalf("result %d before release: %v; want core.ErrOverloaded", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d callers were refused while the queue was full", i)
		}
	}
	if running, waiting := h.QueueStats(); running != 1 || waiting != 2 {
		t.Errorf("QueueStats = %d running, %d waiting; want 1, 2", running, waiting)
	}

	close(release)
	for range 1 + s.HashQueueSize {
		if err := <-results; err != nil {
			t.Errorf("admitted caller failed: %v", err)
		}
	}
	if got := peak.Load(); got != 1 {
		t.Errorf("%d hashes ran at once with HASH_CONCURRENCY=1", got)
	}
	if running, waiting := h.QueueStats(); running != 0 || waiting != 0 {
		t.Errorf("QueueStats after the burst = %d, %d; want 0, 0", running, waiting)
	}
}

func TestQueueConcurrencyAboveOne(t *testing.T) {
	s := cheapSettings("pbkdf2_sha256")
	s.HashConcurrency = 3
	s.HashQueueSize = 100
	h := mustNew(t, s)
	release, peak := blockInSlot(h)

	encoded, err := mustNew(t, cheapSettings("pbkdf2_sha256")).Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	const callers = 12
	results := make(chan error, callers)
	for i := range callers {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = h.Hash(t.Context(), "pw")
			} else {
				var ok bool
				if ok, _, err = h.Check(t.Context(), "pw", encoded); err == nil && !ok {
					err = errors.New("Check rejected the right password")
				}
			}
			results <- err
		}()
	}
	eventually(t, "3 run and 9 wait", func() bool {
		running, waiting := h.QueueStats()
		return running == 3 && waiting == 9
	})
	close(release)
	for range callers {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	if got := peak.Load(); got != 3 {
		t.Errorf("peak concurrency %d; want exactly HASH_CONCURRENCY=3", got)
	}
}

func TestQueueWithoutWaitingRoomRefusesAtOnce(t *testing.T) {
	s := cheapSettings("argon2id")
	s.HashConcurrency = 1
	s.HashQueueSize = 0
	s.HashQueueWait = time.Hour
	h := mustNew(t, s)
	release, _ := blockInSlot(h)
	defer close(release)

	go func() { _, _ = h.Hash(context.Background(), "holder") }()
	eventually(t, "the slot is taken", func() bool { r, _ := h.QueueStats(); return r == 1 })

	// With an hour of HASH_QUEUE_WAIT, only an immediate refusal lets
	// this return at all.
	if _, err := h.Hash(t.Context(), "second"); !errors.Is(err, core.ErrOverloaded) {
		t.Errorf("Hash with a full slot and no queue: %v; want core.ErrOverloaded", err)
	}
	if _, _, err := h.Check(t.Context(), "second", "pbkdf2_sha256$1000$saltsaltsaltsaltsaltsa$Tp/Gfnaem/3VA9mTX69Y6A3BmgNXbTdqDwpF2pYiGe0="); !errors.Is(err, core.ErrOverloaded) {
		t.Errorf("Check with a full slot and no queue: %v; want core.ErrOverloaded", err)
	}
	// Garbage costs the same work as a real hash, so it is refused alike:
	// answering it at once would tell it apart from a real hash.
	if ok, _, err := h.Check(t.Context(), "second", "not a hash"); ok || !errors.Is(err, core.ErrOverloaded) {
		t.Errorf("Check(garbage) under overload = %v, %v; want false, core.ErrOverloaded", ok, err)
	}
}

func TestQueueWaitDeadline(t *testing.T) {
	s := cheapSettings("argon2id")
	s.HashConcurrency = 1
	s.HashQueueSize = 1
	s.HashQueueWait = 20 * time.Millisecond
	h := mustNew(t, s)
	release, _ := blockInSlot(h)
	defer close(release)

	go func() { _, _ = h.Hash(context.Background(), "holder") }()
	eventually(t, "the slot is taken", func() bool { r, _ := h.QueueStats(); return r == 1 })

	_, err := h.Hash(t.Context(), "waiter")
	if !errors.Is(err, core.ErrOverloaded) {
		t.Fatalf("Hash after HASH_QUEUE_WAIT: %v; want core.ErrOverloaded", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		t.Errorf("the queue deadline was reported as a context error: %v", err)
	}
	if _, waiting := h.QueueStats(); waiting != 0 {
		t.Errorf("%d callers still counted as waiting after giving up", waiting)
	}
}

func TestQueueCancelledWhileWaiting(t *testing.T) {
	s := cheapSettings("argon2id")
	s.HashConcurrency = 1
	s.HashQueueSize = 1
	s.HashQueueWait = time.Hour
	h := mustNew(t, s)
	release, _ := blockInSlot(h)

	holder := make(chan error, 1)
	go func() { _, err := h.Hash(context.Background(), "holder"); holder <- err }()
	eventually(t, "the slot is taken", func() bool { r, _ := h.QueueStats(); return r == 1 })

	ctx, cancel := context.WithCancel(t.Context())
	waiter := make(chan error, 1)
	go func() {
		_, _, err := h.Check(ctx, "waiter", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4")
		waiter <- err
	}()
	eventually(t, "the second caller waits", func() bool { _, w := h.QueueStats(); return w == 1 })

	cancel()
	if err := <-waiter; !errors.Is(err, context.Canceled) {
		t.Errorf("waiting Check after cancel: %v; want context.Canceled", err)
	}
	if _, waiting := h.QueueStats(); waiting != 0 {
		t.Errorf("%d callers still counted as waiting after cancel", waiting)
	}

	close(release)
	if err := <-holder; err != nil {
		t.Errorf("the caller holding the slot failed: %v", err)
	}
	// The slot is free again for the next caller.
	if _, err := h.Hash(t.Context(), "after"); err != nil {
		t.Errorf("Hash after the queue drained: %v", err)
	}
}
