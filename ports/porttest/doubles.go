package porttest

import (
	"context"
	"sync"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Clock is a ports.Clock that tests can set: it tells the real time until
// Set fixes it, so links can be aged without waiting.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock fixed at now (the real time when now is zero).
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the fixed time, or the real time when none is set.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

// Set fixes the clock at now.
func (c *Clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// Advance moves a fixed clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var _ ports.Clock = (*Clock)(nil)

// RecordingMailer is a ports.Mailer that keeps every message it accepted. With
// Next set it passes each message on first and records it only when Next
// accepted it; Fail makes every send fail with that error.
type RecordingMailer struct {
	// Next, when set, delivers the messages for real.
	Next ports.Mailer
	// OnSend, when set, runs at the start of every send.
	OnSend func()

	mu   sync.Mutex
	err  error
	sent []core.Message
}

// Send records msg (after Next accepted it), or returns the error set by Fail.
func (m *RecordingMailer) Send(ctx context.Context, msg core.Message) error {
	if m.OnSend != nil {
		m.OnSend()
	}
	m.mu.Lock()
	err := m.err
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if m.Next != nil {
		if err := m.Next.Send(ctx, msg); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

// Fail makes every following send return err (nil: succeed again).
func (m *RecordingMailer) Fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Messages returns what was sent so far, in order.
func (m *RecordingMailer) Messages() []core.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]core.Message(nil), m.sent...)
}

var _ ports.Mailer = (*RecordingMailer)(nil)
