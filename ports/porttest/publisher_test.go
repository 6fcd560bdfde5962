package porttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

func TestEmbeddedEventsSchemaIsTheDocumentedOne(t *testing.T) {
	documented, err := os.ReadFile("../../openapi/events.schema.json")
	if err != nil {
		t.Fatalf("read the documented schema: %v", err)
	}
	if !bytes.Equal(documented, eventsSchema) {
		t.Fatal("ports/porttest/events.schema.json differs from openapi/events.schema.json; copy the documented one over")
	}
}

func validPayload() map[string]any {
	return map[string]any{
		"event_id":    "7f1c2a9e-4b1d-4c8e-9a57-0f3b5d2e6a10",
		"type":        "user_registered",
		"version":     1,
		"occurred_at": "2031-03-14T15:09:26.535897Z",
		"user": map[string]any{
			"id": "u-1", "username": "ada", "email": "ada@example.com",
			"first_name": "Ada", "last_name": "Lovelace", "is_active": false,
		},
		"request": map[string]any{"id": "req-1", "remote_addr": "192.0.2.1", "user_agent": "curl/8"},
	}
}

func TestValidateEventPayload(t *testing.T) {
	cases := map[string]struct {
		change func(p map[string]any)
		valid  bool
	}{
		"documented shape":      {func(map[string]any) {}, true},
		"user_activated":        {func(p map[string]any) { p["type"] = "user_activated" }, true},
		"user_logged_in":        {func(p map[string]any) { p["type"] = "user_logged_in" }, true},
		"user_logged_out":       {func(p map[string]any) { p["type"] = "user_logged_out" }, true},
		"user_profile_updated":  {func(p map[string]any) { p["type"] = "user_profile_updated" }, true},
		"user_password_changed": {func(p map[string]any) { p["type"] = "user_password_changed" }, true},
		"user_password_reset":   {func(p map[string]any) { p["type"] = "user_password_reset" }, true},
		"user_changed_email": {func(p map[string]any) {
			p["type"], p["old_email"], p["new_email"] = "user_changed_email", "ada@example.com", "ada@example.org"
		}, true},
		"user_changed_email from no address": {func(p map[string]any) {
			p["type"], p["new_email"] = "user_changed_email", "ada@example.org"
		}, true},
		"user_changed_email without the new address": {func(p map[string]any) {
			p["type"], p["old_email"] = "user_changed_email", "ada@example.com"
		}, false},
		"addresses on another signal": {func(p map[string]any) { p["new_email"] = "ada@example.org" }, false},
		"password hash leaked":        {func(p map[string]any) { p["user"].(map[string]any)["password"] = "argon2id$..." }, false},
		"unknown top-level field":     {func(p map[string]any) { p["extra"] = true }, false},
		"unknown signal":              {func(p map[string]any) { p["type"] = "user_deleted" }, false},
		"other version":               {func(p map[string]any) { p["version"] = 2 }, false},
		"event id not a uuid":         {func(p map[string]any) { p["event_id"] = "42" }, false},
		"occurred_at not RFC 3339":    {func(p map[string]any) { p["occurred_at"] = "14/03/2031 15:09" }, false},
		"request missing":             {func(p map[string]any) { delete(p, "request") }, false},
		"is_active as string":         {func(p map[string]any) { p["user"].(map[string]any)["is_active"] = "true" }, false},
		"user_agent missing":          {func(p map[string]any) { delete(p["request"].(map[string]any), "user_agent") }, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := validPayload()
			c.change(p)
			raw, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateEventPayload(raw)
			if c.valid && err != nil {
				t.Errorf("rejected a valid payload: %v", err)
			}
			if !c.valid && err == nil {
				t.Errorf("accepted an invalid payload: %s", raw)
			}
		})
	}
}

func TestNewEventIDIsARandomUUID(t *testing.T) {
	a, b := NewEventID(), NewEventID()
	if a == b {
		t.Fatalf("two ids are equal: %s", a)
	}
	p := validPayload()
	p["event_id"] = a
	raw, _ := json.Marshal(p)
	if err := ValidateEventPayload(raw); err != nil {
		t.Errorf("NewEventID() = %q is not a uuid: %v", a, err)
	}
}

// memBroker is an in-memory broker for checking that the EventPublisher
// contract tells good publishers from bad ones.
type memBroker struct {
	mu   sync.Mutex
	subs map[string][]chan ReceivedMessage
}

func (b *memBroker) receive(ctx context.Context, topic string) (<-chan ReceivedMessage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[string][]chan ReceivedMessage{}
	}
	ch := make(chan ReceivedMessage, 16)
	b.subs[topic] = append(b.subs[topic], ch)
	return ch, nil
}

func (b *memBroker) deliver(topic string, m ReceivedMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs[topic] {
		ch <- m
	}
}

// specPublisher encodes events as spec/events.md says, then lets mutate
// break the message to play a faulty adapter.
type specPublisher struct {
	broker *memBroker
	prefix string
	mutate func(ev core.Event, m *ReceivedMessage) (copies int)
}

func (p *specPublisher) Publish(_ context.Context, events ...core.Event) error {
	for _, ev := range events {
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		m := ReceivedMessage{UUID: ev.ID, Payload: payload, Metadata: map[string]string{
			"event_type": string(ev.Type), "event_version": strconv.Itoa(ev.Version),
			"occurred_at": ev.OccurredAt.Format(time.RFC3339Nano), "request_id": ev.Request.ID,
		}}
		copies := 1
		if p.mutate != nil {
			copies = p.mutate(ev, &m)
		}
		for range copies {
			p.broker.deliver(p.prefix+string(ev.Type), m)
		}
	}
	return nil
}

// failures records what a contract run reported instead of failing the test.
type failures struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *failures) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

func runPublisherContract(t *testing.T, mutate func(core.Event, *ReceivedMessage) int) []string {
	t.Helper()
	f := &failures{TB: t}
	broker := &memBroker{}
	pub := &specPublisher{broker: broker, prefix: "contract.", mutate: mutate}
	done := make(chan struct{})
	go func() {
		defer close(done)
		EventPublisher(f, pub, broker.receive, "contract.")
	}()
	<-done
	return f.msgs
}

func TestEventPublisherContractTellsGoodPublishersFromBad(t *testing.T) {
	// The in-memory broker delivers at once; only the "drops" case waits.
	eventDeliveryTimeout = 3 * time.Second
	cases := map[string]struct {
		mutate   func(core.Event, *ReceivedMessage) int
		wantFail string // empty: the run must pass
	}{
		"as specified":   {nil, ""},
		"delivers twice": {func(core.Event, *ReceivedMessage) int { return 2 }, "want exactly 1"},
		"drops user_activated": {func(ev core.Event, _ *ReceivedMessage) int {
			if ev.Type == core.EventUserActivated {
				return 0
			}
			return 1
		}, "received 1 of 2"},
		"random message uuid": {func(_ core.Event, m *ReceivedMessage) int { m.UUID = NewEventID(); return 1 }, "message UUID"},
		"no request_id":       {func(_ core.Event, m *ReceivedMessage) int { delete(m.Metadata, "request_id"); return 1 }, "metadata request_id"},
		"leaks a password hash": {func(_ core.Event, m *ReceivedMessage) int {
			m.Payload = bytes.Replace(m.Payload, []byte(`"is_active"`), []byte(`"password":"pbkdf2_sha256$1$x$y","is_active"`), 1)
			return 1
		}, "breaks openapi/events.schema.json"},
		"occurred_at in another format": {func(ev core.Event, m *ReceivedMessage) int {
			m.Metadata["occurred_at"] = ev.OccurredAt.Format(time.RFC1123)
			return 1
		}, "metadata occurred_at"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			msgs := runPublisherContract(t, c.mutate)
			if c.wantFail == "" {
				if len(msgs) > 0 {
					t.Errorf("a correct publisher failed the contract: %q", msgs)
				}
				return
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.wantFail) {
				t.Errorf("contract reports %q, want a failure mentioning %q", msgs, c.wantFail)
			}
		})
	}
}
