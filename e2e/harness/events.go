package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/onsi/ginkgo/v2"
)

// NATSURL is the NATS JetStream server the machine runs for broker tests.
const NATSURL = "nats://127.0.0.1:4222"

var (
	runID         = fmt.Sprintf("r%x%x", time.Now().Unix(), os.Getpid())
	prefixCounter atomic.Int64
)

// NewTopicPrefix returns an EVENTS_TOPIC_PREFIX no other run and no other
// container of this run uses, so each subscriber sees only its own server's
// signals.
func NewTopicPrefix() string {
	return fmt.Sprintf("e2e.%s.%d.", runID, prefixCounter.Add(1))
}

// Event is one signal received from the broker.
type Event struct {
	// UUID is the Watermill message UUID.
	UUID     string
	Subject  string
	Metadata map[string]string
	Payload  []byte
	Body     EventBody
}

// EventBody is the JSON payload of a signal (openapi/events.schema.json).
type EventBody struct {
	EventID    string `json:"event_id"`
	Type       string `json:"type"`
	Version    int    `json:"version"`
	OccurredAt string `json:"occurred_at"`
	User       struct {
		ID        string `json:"id"`
		Username  string `json:"username"`
		Email     string `json:"email"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		IsActive  bool   `json:"is_active"`
	} `json:"user"`
	Request struct {
		ID         string `json:"id"`
		RemoteAddr string `json:"remote_addr"`
		UserAgent  string `json:"user_agent"`
	} `json:"request"`
}

// EventStream collects every signal published under one topic prefix.
type EventStream struct {
	// Prefix is the EVENTS_TOPIC_PREFIX to start the server with.
	Prefix string

	mu     sync.Mutex
	events []Event
	bad    []error
}

// SubscribeEvents creates a JetStream stream for prefix+">" on the NATS at
// NATSURL (before the server starts, so the server publishes into it) and
// reads it from the start; the stream is deleted when the current spec or
// container ends. NATS not running fails the spec.
func SubscribeEvents(prefix string) *EventStream {
	ginkgo.GinkgoHelper()
	schema, err := eventSchema()
	if err != nil {
		ginkgo.Fail(err.Error())
	}
	nc, err := nats.Connect(NATSURL, nats.Name("restreg-e2e"), nats.Timeout(5*time.Second))
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("the event suites need NATS with JetStream on %s: %v", NATSURL, err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		ginkgo.Fail("jetstream: " + err.Error())
	}
	streamName := "E2E_" + strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(strings.TrimSuffix(prefix, "."))
	ctx, cancel := ctxTimeout(10 * time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     streamName,
		Subjects: []string{prefix + ">"},
		Storage:  jetstream.MemoryStorage,
		MaxAge:   time.Hour,
	}); err != nil {
		nc.Close()
		ginkgo.Fail(fmt.Sprintf("create stream %s on %s: %v", streamName, NATSURL, err))
	}
	cons, err := js.OrderedConsumer(ctx, streamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		nc.Close()
		ginkgo.Fail("ordered consumer: " + err.Error())
	}
	es := &EventStream{Prefix: prefix}
	marshaler := &wmnats.NATSMarshaler{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		wm, err := marshaler.Unmarshal(&nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
		ev := Event{Subject: m.Subject(), Payload: m.Data()}
		if err == nil {
			ev.UUID = wm.UUID
			ev.Metadata = map[string]string(wm.Metadata)
			err = json.Unmarshal(m.Data(), &ev.Body)
		}
		if err == nil {
			err = validateEvent(schema, m.Data())
		}
		es.mu.Lock()
		defer es.mu.Unlock()
		if err != nil {
			es.bad = append(es.bad, fmt.Errorf("message on %s: %w: %s", m.Subject(), err, m.Data()))
		}
		es.events = append(es.events, ev)
	})
	if err != nil {
		nc.Close()
		ginkgo.Fail("consume: " + err.Error())
	}
	ginkgo.DeferCleanup(func() {
		cc.Stop()
		ctx, cancel := ctxTimeout(10 * time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, streamName)
		nc.Close()
	})
	return es
}

// All returns every signal received so far, in stream order.
func (e *EventStream) All() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.events...)
}

// For returns the signals about one user, in stream order.
func (e *EventStream) For(userID string) []Event {
	var out []Event
	for _, ev := range e.All() {
		if ev.Body.User.ID == userID {
			out = append(out, ev)
		}
	}
	return out
}

// Types returns the types of the signals about one user, in stream order.
func (e *EventStream) Types(userID string) []string {
	var out []string
	for _, ev := range e.For(userID) {
		out = append(out, ev.Body.Type)
	}
	return out
}

// Problems returns the messages that could not be decoded or break the
// events schema.
func (e *EventStream) Problems() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.bad...)
}

var (
	schemaOnce   sync.Once
	loadedSchema *openapi3.Schema
	schemaErr    error
)

// eventSchema loads the committed openapi/events.schema.json.
func eventSchema() (*openapi3.Schema, error) {
	schemaOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			schemaErr = err
			return
		}
		path := filepath.Join(root, "openapi", "events.schema.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			schemaErr = fmt.Errorf("read the events schema: %w", err)
			return
		}
		var s openapi3.Schema
		if err := json.Unmarshal(raw, &s); err != nil {
			schemaErr = fmt.Errorf("parse %s: %w", path, err)
			return
		}
		loadedSchema = &s
	})
	return loadedSchema, schemaErr
}

func validateEvent(schema *openapi3.Schema, payload []byte) error {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return fmt.Errorf("payload is not JSON: %w", err)
	}
	if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("payload breaks openapi/events.schema.json: %w", err)
	}
	return nil
}
