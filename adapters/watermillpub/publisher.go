// Package watermillpub publishes restreg's signals (user_registered,
// user_activated) through Watermill, and lets in-process code listen to them
// the way Django code connects a signal receiver.
//
// Each broker has its own fx module, chosen by EVENTS_BACKEND: GoChannelModule
// (in-process, the default, also exported as Module), NATSModule (JetStream),
// AMQPModule (RabbitMQ) and RedisModule (Redis Streams). All of them provide
// ports.EventPublisher; the outbox relay is their only caller, so a broker that
// is down delays signals instead of failing requests.
package watermillpub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/restreg/restreg/core"
)

// Metadata keys every published message carries (spec/events.md).
const (
	MetadataEventType    = "event_type"
	MetadataEventVersion = "event_version"
	MetadataOccurredAt   = "occurred_at"
	MetadataRequestID    = "request_id"
)

// Topic returns the Watermill topic a signal is published on:
// EVENTS_TOPIC_PREFIX followed by the event type.
func Topic(prefix string, typ core.EventType) string {
	return prefix + string(typ)
}

// Publisher is a ports.EventPublisher on top of any Watermill publisher.
type Publisher struct {
	pub    message.Publisher
	prefix string
}

// NewPublisher returns a Publisher that sends each event to
// Topic(topicPrefix, event.Type) through p. It does not own p: closing p is
// the caller's business.
func NewPublisher(p message.Publisher, topicPrefix string) *Publisher {
	return &Publisher{pub: p, prefix: topicPrefix}
}

// Publish sends events in order and returns nil once the broker acknowledged
// all of them. Consecutive events of one type go out in one Watermill call.
// A failure of the broker is reported wrapping core.ErrUnavailable.
func (p *Publisher) Publish(ctx context.Context, events ...core.Event) error {
	for start := 0; start < len(events); {
		end := start + 1
		for end < len(events) && events[end].Type == events[start].Type {
			end++
		}
		if err := p.publishRun(ctx, events[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (p *Publisher) publishRun(ctx context.Context, events []core.Event) error {
	topic := Topic(p.prefix, events[0].Type)
	msgs := make([]*message.Message, len(events))
	for i, ev := range events {
		msg, err := EncodeEvent(ev)
		if err != nil {
			return err
		}
		// Publishers that talk to the network (AMQP, Redis) honour the
		// message context, so cancelling ctx bounds the call.
		msg.SetContext(ctx)
		msgs[i] = msg
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("watermill: publish to %s: %w", topic, err)
	}
	if err := p.pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("watermill: publish %d event(s) to %s: %w: %v", len(msgs), topic, core.ErrUnavailable, err)
	}
	return nil
}

// EncodeEvent returns the Watermill message of ev as spec/events.md fixes it:
// UUID = event id, metadata event_type, event_version, occurred_at (RFC 3339)
// and request_id, payload = the event's JSON (openapi/events.schema.json).
func EncodeEvent(ev core.Event) (*message.Message, error) {
	if ev.ID == "" {
		return nil, errors.New("watermill: encode event: empty event id")
	}
	if ev.Type == "" {
		return nil, fmt.Errorf("watermill: encode event %s: empty event type", ev.ID)
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("watermill: encode event %s: %w", ev.ID, err)
	}
	msg := message.NewMessage(ev.ID, payload)
	msg.Metadata.Set(MetadataEventType, string(ev.Type))
	msg.Metadata.Set(MetadataEventVersion, strconv.Itoa(ev.Version))
	msg.Metadata.Set(MetadataOccurredAt, ev.OccurredAt.Format(time.RFC3339Nano))
	msg.Metadata.Set(MetadataRequestID, ev.Request.ID)
	return msg, nil
}

// DecodeEvent returns the event a received message carries. It rejects
// messages whose payload is not an event or whose UUID or event_type metadata
// contradict the payload, so a consumer never acts on a half-understood
// message.
func DecodeEvent(msg *message.Message) (core.Event, error) {
	var ev core.Event
	if err := json.Unmarshal(msg.Payload, &ev); err != nil {
		return core.Event{}, fmt.Errorf("watermill: decode message %s: %w", msg.UUID, err)
	}
	if ev.ID == "" || ev.Type == "" {
		return core.Event{}, fmt.Errorf("watermill: decode message %s: payload lacks event_id or type", msg.UUID)
	}
	if msg.UUID != "" && msg.UUID != ev.ID {
		return core.Event{}, fmt.Errorf("watermill: decode message %s: payload event_id %s differs from the message UUID", msg.UUID, ev.ID)
	}
	if t := msg.Metadata.Get(MetadataEventType); t != "" && t != string(ev.Type) {
		return core.Event{}, fmt.Errorf("watermill: decode message %s: event_type %q differs from the payload type %q", msg.UUID, t, ev.Type)
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	return ev, nil
}
