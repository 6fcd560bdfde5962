package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/restreg/restreg/core"
)

// Relays of several instances share one outbox. Each event PendingEvents
// returns is leased to this store (claimed_by, claimed_until) until it is
// published or the lease runs out; until then no other store returns it, nor
// any later event of the same user, so a user's events reach the broker in
// record order even when its first event goes out through one instance and
// the next through another. The store's own leased events are returned again
// (and the lease renewed), so its relay retries what it failed to publish.
//
// Claims are made one at a time, under a transaction-scoped advisory lock:
// with FOR UPDATE SKIP LOCKED alone, a claimer that skips a user's earlier
// event locked by another claimer could take that user's next event and
// publish it first. A claim is one short indexed update; publishing happens
// outside it, so relays still publish in parallel.

// claimLock serialises claims on one schema (see migrateLock).
const claimLock = `hashtext('restreg.pgstore.outbox_claim'), hashtext(COALESCE(current_schema(), ''))`

// claimSQL leases up to $2 events available at $1 to owner $3 for $4
// microseconds. The statement runs after the claim lock is taken, so its
// snapshot holds every earlier claim.
const claimSQL = `WITH due AS (
		SELECT o.seq FROM outbox o
		WHERE o.available_at <= $1
		  AND (o.claimed_by IS NULL OR o.claimed_by = $3 OR o.claimed_until <= statement_timestamp())
		  AND NOT EXISTS (
			SELECT 1 FROM outbox e
			WHERE e.user_id = o.user_id AND e.seq < o.seq
			  AND e.claimed_by <> $3 AND e.claimed_until > statement_timestamp()
		  )
		ORDER BY o.seq
		LIMIT $2
		FOR UPDATE OF o
	)
	UPDATE outbox SET claimed_by = $3, claimed_until = statement_timestamp() + $4 * interval '1 microsecond'
	FROM due WHERE outbox.seq = due.seq
	RETURNING outbox.seq, outbox.payload, outbox.available_at`

// PendingEvents leases and returns up to limit events available at now, in
// record order.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]core.Event, error) {
	const op = "pending events"
	if err := s.usable(ctx, op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	type claimed struct {
		seq   int64
		event core.Event
	}
	var got []claimed
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		got = got[:0]
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+claimLock+`)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, claimSQL, now, limit, s.owner, s.lease.Microseconds())
		if err != nil {
			return err
		}
		var seq int64
		var payload []byte
		var available time.Time
		_, err = pgx.ForEachRow(rows, []any{&seq, &payload, &available}, func() error {
			ev, err := decodeEvent(payload, available)
			if err != nil {
				return err
			}
			got = append(got, claimed{seq: seq, event: ev})
			return nil
		})
		return err
	})
	if err != nil {
		return nil, classify(op, err)
	}
	if len(got) > 0 {
		s.leased.Store(true)
	}
	// RETURNING gives no order; the relay needs record order.
	sort.Slice(got, func(i, j int) bool { return got[i].seq < got[j].seq })
	events := make([]core.Event, len(got))
	for i, c := range got {
		events[i] = c.event
	}
	return events, nil
}

// decodeEvent rebuilds an event from its stored payload and availability.
func decodeEvent(payload []byte, available time.Time) (core.Event, error) {
	var ev core.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return core.Event{}, fmt.Errorf("decode payload: %w", err)
	}
	ev.OccurredAt = ev.OccurredAt.UTC()
	ev.AvailableAt = available.UTC()
	return ev, nil
}

// markPublishedSQL deletes the events in seq order, the order claims lock
// them in, so that it never deadlocks with a claim.
const markPublishedSQL = `DELETE FROM outbox WHERE seq IN (
		SELECT seq FROM outbox WHERE event_id = ANY($1::text[]) ORDER BY seq FOR UPDATE
	)`

// MarkPublished removes the events with the given ids.
func (s *Store) MarkPublished(ctx context.Context, ids ...string) error {
	const op = "mark published"
	if err := s.usable(ctx, op); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, markPublishedSQL, ids); err != nil {
		return classify(op, err)
	}
	return nil
}

// releaseHeldEvents is the part of a statement that makes the held events
// of the user the CTE named by from returns available from when they
// occurred (after its activation, or once its verification e-mail is no
// longer owed), so they keep their place in the user's record order. It
// locks them in seq order, the order claims and MarkPublished lock them in,
// so that it never deadlocks with either.
func releaseHeldEvents(from string) string {
	return `UPDATE outbox SET available_at = occurred_at WHERE seq IN (
			SELECT seq FROM outbox
			WHERE user_id IN (SELECT id FROM ` + from + `) AND available_at > occurred_at
			ORDER BY seq FOR UPDATE
		)`
}

// Backlog counts unpublished events and returns the oldest occurrence time.
func (s *Store) Backlog(ctx context.Context) (int, time.Time, error) {
	const op = "backlog"
	if err := s.usable(ctx, op); err != nil {
		return 0, time.Time{}, err
	}
	var count int
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(occurred_at) FROM outbox`).Scan(&count, &oldest); err != nil {
		return 0, time.Time{}, classify(op, err)
	}
	if oldest == nil {
		return count, time.Time{}, nil
	}
	return count, oldest.UTC(), nil
}
