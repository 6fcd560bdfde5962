package porttest

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// eventsSchema is a copy of openapi/events.schema.json (a test keeps the two
// identical), embedded because a package cannot embed files above its
// directory.
//
//go:embed events.schema.json
var eventsSchema []byte

// ReceivedMessage is a message as a broker delivered it, in plain terms, so
// the contract needs no broker technology.
type ReceivedMessage struct {
	UUID     string
	Metadata map[string]string
	Payload  []byte
}

// ReceiveFunc subscribes to topic and returns the messages delivered on it
// until ctx ends. The subscription must be in place when it returns, so that
// nothing published afterwards is missed.
type ReceiveFunc func(ctx context.Context, topic string) (<-chan ReceivedMessage, error)

// eventDeliveryTimeout bounds how long the contract waits for the
// published messages to arrive.
var eventDeliveryTimeout = 30 * time.Second

// eventQuietPeriod is how long the contract waits after the expected
// messages for any that should not have come.
const eventQuietPeriod = time.Second

// EventPublisher runs the ports.EventPublisher contract: events published by
// pub reach a subscriber on <prefix><type>, exactly once each, as
// spec/events.md fixes the message (UUID = event id; metadata event_type,
// event_version, occurred_at, request_id; payload valid against
// openapi/events.schema.json). Give each run its own prefix so runs against
// a shared broker do not see each other's messages.
func EventPublisher(t testing.TB, pub ports.EventPublisher, receive ReceiveFunc, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventDeliveryTimeout)
	defer cancel()

	if err := pub.Publish(ctx); err != nil {
		t.Fatalf("Publish with no events = %v, want nil", err)
	}

	user := core.PublicUser{ID: NewEventID(), Username: "ada", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace"}
	registered := core.Event{
		ID: NewEventID(), Type: core.EventUserRegistered, Version: core.EventVersion,
		OccurredAt: time.Date(2031, time.March, 14, 15, 9, 26, 535897000, time.UTC),
		User:       user,
		Request:    core.RequestInfo{ID: "req-register-1", RemoteAddr: "192.0.2.10", UserAgent: "contract/1.0"},
	}
	registered.AvailableAt = registered.OccurredAt
	user.IsActive = true
	activated := core.Event{
		ID: NewEventID(), Type: core.EventUserActivated, Version: core.EventVersion,
		OccurredAt: registered.OccurredAt.Add(90 * time.Second),
		User:       user,
		Request:    core.RequestInfo{ID: "req-verify-1", RemoteAddr: "2001:db8::7", UserAgent: "contract/1.0 (verify)"},
	}
	activated.AvailableAt = activated.OccurredAt

	want := map[string]core.Event{
		prefix + string(core.EventUserRegistered): registered,
		prefix + string(core.EventUserActivated):  activated,
	}
	var mu sync.Mutex
	got := map[string][]ReceivedMessage{}
	arrived := make(chan struct{}, 16)
	for topic := range want {
		msgs, err := receive(ctx, topic)
		if err != nil {
			t.Fatalf("subscribe to %s: %v", topic, err)
		}
		go func() {
			for m := range msgs {
				mu.Lock()
				got[topic] = append(got[topic], m)
				mu.Unlock()
				select {
				case arrived <- struct{}{}:
				case <-ctx.Done():
				}
			}
		}()
	}

	if err := pub.Publish(ctx, registered, activated); err != nil {
		t.Fatalf("Publish(user_registered, user_activated): %v", err)
	}

	for received := 0; received < len(want); received++ {
		select {
		case <-arrived:
		case <-ctx.Done():
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("received %d of %d messages before giving up: %v", received, len(want), topicsOf(got))
		}
	}
	// Give duplicates a chance to show up before judging.
	select {
	case <-arrived:
	case <-time.After(eventQuietPeriod):
	}

	mu.Lock()
	defer mu.Unlock()
	for topic, ev := range want {
		msgs := got[topic]
		if len(msgs) != 1 {
			t.Errorf("topic %s: received %d messages, want exactly 1", topic, len(msgs))
			continue
		}
		checkEventMessage(t, topic, msgs[0], ev)
	}
}

func topicsOf(got map[string][]ReceivedMessage) map[string]int {
	counts := map[string]int{}
	for topic, msgs := range got {
		counts[topic] = len(msgs)
	}
	return counts
}

func checkEventMessage(t testing.TB, topic string, m ReceivedMessage, ev core.Event) {
	t.Helper()
	if m.UUID != ev.ID {
		t.Errorf("%s: message UUID %q, want the event id %q", topic, m.UUID, ev.ID)
	}
	for key, want := range map[string]string{
		"event_type":    string(ev.Type),
		"event_version": strconv.Itoa(core.EventVersion),
		"request_id":    ev.Request.ID,
	} {
		if got := m.Metadata[key]; got != want {
			t.Errorf("%s: metadata %s = %q, want %q", topic, key, got, want)
		}
	}
	if at, err := time.Parse(time.RFC3339, m.Metadata["occurred_at"]); err != nil || !at.Equal(ev.OccurredAt) {
		t.Errorf("%s: metadata occurred_at = %q, want RFC 3339 of %s", topic, m.Metadata["occurred_at"], ev.OccurredAt.Format(time.RFC3339Nano))
	}
	if err := ValidateEventPayload(m.Payload); err != nil {
		t.Errorf("%s: payload breaks openapi/events.schema.json: %v\npayload: %s", topic, err, m.Payload)
		return
	}

	var payload map[string]any
	if err := json.Unmarshal(m.Payload, &payload); err != nil {
		t.Errorf("%s: payload is not JSON: %v", topic, err)
		return
	}
	if at, err := time.Parse(time.RFC3339, fmt.Sprint(payload["occurred_at"])); err != nil || !at.Equal(ev.OccurredAt) {
		t.Errorf("%s: payload occurred_at = %v, want %s", topic, payload["occurred_at"], ev.OccurredAt.Format(time.RFC3339Nano))
	}
	delete(payload, "occurred_at")
	want := map[string]any{
		"event_id": ev.ID,
		"type":     string(ev.Type),
		"version":  float64(core.EventVersion),
		"user": map[string]any{
			"id": ev.User.ID, "username": ev.User.Username, "email": ev.User.Email,
			"first_name": ev.User.FirstName, "last_name": ev.User.LastName, "is_active": ev.User.IsActive,
		},
		"request": map[string]any{
			"id": ev.Request.ID, "remote_addr": ev.Request.RemoteAddr, "user_agent": ev.Request.UserAgent,
		},
	}
	if !reflect.DeepEqual(payload, want) {
		t.Errorf("%s: payload\n got %v\nwant %v", topic, payload, want)
	}
}

var (
	schemaOnce sync.Once
	schema     *jsonschema.Schema
	schemaErr  error
)

// ValidateEventPayload checks a published payload against
// openapi/events.schema.json (JSON Schema draft 2020-12, formats asserted).
func ValidateEventPayload(payload []byte) error {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(eventsSchema))
		if err != nil {
			schemaErr = fmt.Errorf("events schema: %w", err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource("events.schema.json", doc); err != nil {
			schemaErr = fmt.Errorf("events schema: %w", err)
			return
		}
		schema, schemaErr = c.Compile("events.schema.json")
	})
	if schemaErr != nil {
		return schemaErr
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("payload is not JSON: %w", err)
	}
	return schema.Validate(inst)
}

// NewEventID returns a random version 4 UUID, the form of event ids.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
