package mongostore

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

// outboxAttempts bounds how often a read-modify-write of one user's outbox is
// retried when a concurrent write changed the array in between.
const outboxAttempts = 5

// hasOutbox matches users with at least one pending event, through the
// outbox_event_id index on MongoDB.
var hasOutbox = bson.D{{Key: "outbox.event_id", Value: bson.D{{Key: "$exists", Value: true}}}}

// PendingEvents returns up to limit events available at now, in the order
// they were recorded.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]core.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mongodb: pending events: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	due := bson.D{{Key: "outbox.available_at", Value: bson.D{{Key: "$lte", Value: now}}}}
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: due}},
		{{Key: "$project", Value: bson.D{{Key: "outbox", Value: 1}}}},
		{{Key: "$unwind", Value: "$outbox"}},
		{{Key: "$match", Value: due}},
		{{Key: "$sort", Value: bson.D{{Key: "outbox.seq", Value: 1}, {Key: "outbox.event_id", Value: 1}}}},
		{{Key: "$limit", Value: limit}},
	}
	cur, err := s.users.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, wrap("pending events", err)
	}
	var rows []struct {
		Outbox outboxEntry `bson:"outbox"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, wrap("pending events", err)
	}
	events := make([]core.Event, 0, len(rows))
	for _, r := range rows {
		ev, err := r.Outbox.event()
		if err != nil {
			return nil, fmt.Errorf("mongodb: pending events: %w", err)
		}
		events = append(events, ev)
	}
	return events, nil
}

// outboxDoc is a user's outbox read for rewriting: the entries stay raw so
// that they can be matched exactly, byte for byte, in the update.
type outboxDoc struct {
	ID     string     `bson:"_id"`
	Outbox []bson.Raw `bson:"outbox"`
}

// MarkPublished removes the events with the given ids from their users'
// outboxes. It pulls each entry as a whole document because FerretDB v1
// ignores $pull with a condition; an entry that changed meanwhile (released
// by a concurrent activation or completed mail) is looked up again.
func (s *Store) MarkPublished(ctx context.Context, ids ...string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mongodb: mark published: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	wanted := make(map[string]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	filter := bson.D{{Key: "outbox.event_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	for range outboxAttempts {
		cur, err := s.users.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "outbox", Value: 1}}))
		if err != nil {
			return wrap("mark published", err)
		}
		var docs []outboxDoc
		if err := cur.All(ctx, &docs); err != nil {
			return wrap("mark published", err)
		}
		settled := true
		for _, doc := range docs {
			var pull []bson.Raw
			for _, entry := range doc.Outbox {
				if id, ok := entry.Lookup("event_id").StringValueOK(); ok && wanted[id] {
					pull = append(pull, entry)
				}
			}
			if len(pull) == 0 {
				continue
			}
			unlock := s.lockUser(doc.ID)
			res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: doc.ID}},
				bson.D{{Key: "$pullAll", Value: bson.D{{Key: "outbox", Value: pull}}}})
			unlock()
			if err != nil {
				return wrap("mark published", err)
			}
			if res.ModifiedCount == 0 {
				settled = false
			}
		}
		if settled {
			return nil
		}
	}
	// What is left will be published again; delivery is at-least-once.
	return nil
}

// releaseHeld returns a user's outbox (as read, raw) with every held entry
// made available from when it occurred, and whether any was held. The
// caller writes it back on condition that the outbox is still the one read,
// because FerretDB v1 has neither arrayFilters nor update pipelines.
func releaseHeld(outbox bson.RawValue) (bson.A, bool, error) {
	arr, ok := outbox.ArrayOK()
	if !ok {
		return bson.A{}, false, nil
	}
	values, err := arr.Values()
	if err != nil {
		return nil, false, fmt.Errorf("read outbox: %w", err)
	}
	rewritten := make(bson.A, 0, len(values))
	held := false
	for _, v := range values {
		var entry bson.D
		if err := v.Unmarshal(&entry); err != nil {
			return nil, false, fmt.Errorf("read outbox entry: %w", err)
		}
		occurred, okOccurred := lookupDateTime(entry, "occurred_at")
		for i, f := range entry {
			if f.Key != "available_at" || !okOccurred {
				continue
			}
			if t, ok := f.Value.(bson.DateTime); ok && t > occurred {
				entry[i].Value = occurred
				held = true
			}
		}
		rewritten = append(rewritten, entry)
	}
	return rewritten, held, nil
}

// lookupDateTime returns the date of field key in entry.
func lookupDateTime(entry bson.D, key string) (bson.DateTime, bool) {
	for _, f := range entry {
		if f.Key == key {
			t, ok := f.Value.(bson.DateTime)
			return t, ok
		}
	}
	return 0, false
}

// Backlog counts unpublished events (held ones too) and returns when the
// oldest of them occurred. FerretDB v1 has neither $min nor $first, so the
// oldest comes from a sort instead of the grouping.
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, fmt.Errorf("mongodb: backlog: %w", err)
	}
	cur, err := s.users.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: hasOutbox}},
		{{Key: "$project", Value: bson.D{{Key: "outbox.occurred_at", Value: 1}}}},
		{{Key: "$unwind", Value: "$outbox"}},
		{{Key: "$count", Value: "n"}},
	})
	if err != nil {
		return 0, time.Time{}, wrap("backlog", err)
	}
	var counts []struct {
		N int `bson:"n"`
	}
	if err := cur.All(ctx, &counts); err != nil {
		return 0, time.Time{}, wrap("backlog", err)
	}
	if len(counts) == 0 || counts[0].N == 0 {
		return 0, time.Time{}, nil
	}
	cur, err = s.users.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: hasOutbox}},
		{{Key: "$project", Value: bson.D{{Key: "outbox.occurred_at", Value: 1}}}},
		{{Key: "$unwind", Value: "$outbox"}},
		{{Key: "$sort", Value: bson.D{{Key: "outbox.occurred_at", Value: 1}}}},
		{{Key: "$limit", Value: 1}},
	})
	if err != nil {
		return 0, time.Time{}, wrap("backlog", err)
	}
	var oldest []struct {
		Outbox struct {
			OccurredAt time.Time `bson:"occurred_at"`
		} `bson:"outbox"`
	}
	if err := cur.All(ctx, &oldest); err != nil {
		return 0, time.Time{}, wrap("backlog", err)
	}
	if len(oldest) == 0 {
		// Published between the two reads.
		return counts[0].N, time.Time{}, nil
	}
	return counts[0].N, oldest[0].Outbox.OccurredAt, nil
}
