package watermillpub_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

func sampleEvent(typ core.EventType) core.Event {
	at := time.Date(2031, time.March, 14, 15, 9, 26, 535897000, time.UTC)
	return core.Event{
		ID:          porttest.NewEventID(),
		Type:        typ,
		Version:     core.EventVersion,
		OccurredAt:  at,
		AvailableAt: at.Add(time.Minute),
		User:        core.PublicUser{ID: "u-1", Username: "ada", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", IsActive: typ == core.EventUserActivated},
		Request:     core.RequestInfo{ID: "req-1", RemoteAddr: "192.0.2.1", UserAgent: "test/1"},
	}
}

func TestEncodeEventFollowsTheSpec(t *testing.T) {
	ev := sampleEvent(core.EventUserRegistered)
	ev.OccurredAt = ev.OccurredAt.In(time.FixedZone("CET", 3600))
	msg, err := watermillpub.EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if msg.UUID != ev.ID {
		t.Errorf("UUID = %q, want the event id %q", msg.UUID, ev.ID)
	}
	want := map[string]string{
		"event_type":    "user_registered",
		"event_version": "1",
		"occurred_at":   "2031-03-14T15:09:26.535897Z",
		"request_id":    "req-1",
	}
	for k, v := range want {
		if got := msg.Metadata.Get(k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	if len(msg.Metadata) != len(want) {
		t.Errorf("metadata %v has keys beyond the documented ones", msg.Metadata)
	}
	if err := porttest.ValidateEventPayload(msg.Payload); err != nil {
		t.Errorf("payload breaks the schema: %v\n%s", err, msg.Payload)
	}
	if strings.Contains(string(msg.Payload), "available") {
		t.Errorf("payload exposes the outbox's AvailableAt: %s", msg.Payload)
	}

	back, err := watermillpub.DecodeEvent(msg)
	if err != nil {
		t.Fatal(err)
	}
	ev.AvailableAt = time.Time{} // not part of the message
	if !back.OccurredAt.Equal(ev.OccurredAt) || back.OccurredAt.Location() != time.UTC {
		t.Errorf("decoded occurred_at %v, want %v in UTC", back.OccurredAt, ev.OccurredAt)
	}
	back.OccurredAt, ev.OccurredAt = time.Time{}, time.Time{}
	if back != ev {
		t.Errorf("decoded %+v, want %+v", back, ev)
	}
}

func TestEncodeEventRejectsEventsWithoutIdentity(t *testing.T) {
	noID := sampleEvent(core.EventUserRegistered)
	noID.ID = ""
	noType := sampleEvent(core.EventUserRegistered)
	noType.Type = ""
	for _, ev := range []core.Event{noID, noType} {
		if _, err := watermillpub.EncodeEvent(ev); err == nil {
			t.Errorf("EncodeEvent(%+v) succeeded", ev)
		}
	}
}

func TestDecodeEventRejectsContradictoryMessages(t *testing.T) {
	good, err := watermillpub.EncodeEvent(sampleEvent(core.EventUserActivated))
	if err != nil {
		t.Fatal(err)
	}
	otherUUID := good.Copy()
	otherUUID.UUID = porttest.NewEventID()
	otherType := good.Copy()
	otherType.Metadata.Set("event_type", "user_registered")
	notJSON := message.NewMessage(good.UUID, []byte("<xml/>"))
	empty := message.NewMessage(good.UUID, []byte(`{}`))
	for name, msg := range map[string]*message.Message{"uuid": otherUUID, "event_type": otherType, "not json": notJSON, "empty": empty} {
		if ev, err := watermillpub.DecodeEvent(msg); err == nil {
			t.Errorf("%s: DecodeEvent accepted a contradictory message: %+v", name, ev)
		}
	}
}

// recordingPublisher is a Watermill publisher that records calls and can fail.
type recordingPublisher struct {
	calls [][2]string // topic, comma-joined UUIDs
	err   error
	ctxs  []context.Context
}

func (p *recordingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if p.err != nil {
		return p.err
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.UUID
		p.ctxs = append(p.ctxs, m.Context())
	}
	p.calls = append(p.calls, [2]string{topic, strings.Join(ids, ",")})
	return nil
}

func (p *recordingPublisher) Close() error { return nil }

func TestPublisherKeepsOrderAcrossTopics(t *testing.T) {
	rec := &recordingPublisher{}
	pub := watermillpub.NewPublisher(rec, "app.")
	a := sampleEvent(core.EventUserRegistered)
	b := sampleEvent(core.EventUserRegistered)
	c := sampleEvent(core.EventUserActivated)
	d := sampleEvent(core.EventUserRegistered)
	type ctxKey struct{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "request")
	if err := pub.Publish(ctx, a, b, c, d); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{
		{"app.user_registered", a.ID + "," + b.ID},
		{"app.user_activated", c.ID},
		{"app.user_registered", d.ID},
	}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("calls %v, want %v", rec.calls, want)
	}
	for _, c := range rec.ctxs {
		if c.Value(ctxKey{}) != "request" {
			t.Error("message context is not the caller's, so a network publisher could not honour its deadline")
		}
	}
}

func TestPublisherReportsBrokerFailuresAsUnavailable(t *testing.T) {
	pub := watermillpub.NewPublisher(&recordingPublisher{err: errors.New("connection refused")}, "app.")
	err := pub.Publish(context.Background(), sampleEvent(core.EventUserRegistered))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "app.user_registered") {
		t.Errorf("Publish = %v, want core.ErrUnavailable with the cause and topic", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := &recordingPublisher{}
	if err := watermillpub.NewPublisher(rec, "app.").Publish(ctx, sampleEvent(core.EventUserRegistered)); !errors.Is(err, context.Canceled) || len(rec.calls) > 0 {
		t.Errorf("Publish with a cancelled context = %v after %d calls, want context.Canceled and none", err, len(rec.calls))
	}
}
