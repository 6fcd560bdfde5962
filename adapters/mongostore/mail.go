package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

// mailDoc is the e-mail a user owes, kept in the user's document so that it
// is written together with the change that owes it.
type mailDoc struct {
	Kind string `bson:"kind"`
	// To is absent when the e-mail goes to the user itself.
	To       string    `bson:"to,omitempty"`
	DueAt    time.Time `bson:"due_at"`
	Attempts int       `bson:"attempts"`
}

// newMailDoc returns the stored form of m, nil when nothing is owed so that
// the field stays absent.
func newMailDoc(m core.PendingMail) *mailDoc {
	if !m.Owed() {
		return nil
	}
	return &mailDoc{Kind: string(m.Kind), To: m.To, DueAt: m.DueAt, Attempts: m.Attempts}
}

func (m *mailDoc) pending() core.PendingMail {
	if m == nil {
		return core.PendingMail{}
	}
	return core.PendingMail{Kind: core.MailKind(m.Kind), To: m.To, DueAt: m.DueAt, Attempts: m.Attempts}
}

// mailIs matches the user id whose pending mail is of kind and due at dueAt
// (compared at the millisecond precision BSON keeps).
func mailIs(id string, kind core.MailKind, dueAt time.Time) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "mail.kind", Value: string(kind)},
		{Key: "mail.due_at", Value: bson.NewDateTimeFromTime(dueAt)},
	}
}

// ClaimMail finds the due mails, earliest first, then leases each one with
// an update conditional on the due time it was read with: of concurrent
// claimers on MongoDB only the first matches, and within this process the
// user lock serialises them on FerretDB too. A mail another claimer took in
// between is no longer due, so the next round of the search finds others,
// until limit mails are claimed or none is left.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.User, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mongodb: claim mail: %w", err)
	}
	leasedUntil := bson.NewDateTimeFromTime(now.Add(lease))
	var claimed []core.User
	// tried keeps a mail that is due again at once (a zero lease) from
	// being found forever.
	var tried []string
	for len(claimed) < limit {
		docs, err := s.dueMail(ctx, now, tried, limit-len(claimed))
		if err != nil {
			return nil, err
		}
		if len(docs) == 0 {
			break
		}
		for _, d := range docs {
			tried = append(tried, d.ID)
			u, ok, err := s.leaseMail(ctx, d, leasedUntil)
			if err != nil {
				// The mails leased so far come back when their lease ends.
				return nil, err
			}
			if ok {
				claimed = append(claimed, u)
			}
		}
	}
	return claimed, nil
}

// dueMail returns up to limit users, other than skip, whose mail is due at
// now, the earliest due first.
func (s *Store) dueMail(ctx context.Context, now time.Time, skip []string, limit int) ([]userDoc, error) {
	filter := bson.D{{Key: "mail.due_at", Value: bson.D{{Key: "$lte", Value: now}}}}
	if len(skip) > 0 {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$nin", Value: skip}}})
	}
	cur, err := s.users.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "mail.due_at", Value: 1}, {Key: "_id", Value: 1}}).
		SetLimit(int64(limit)).
		SetProjection(withoutOutbox))
	if err != nil {
		return nil, wrap("claim mail", err)
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, wrap("claim mail", err)
	}
	return docs, nil
}

// leaseMail moves d's mail, as read, to leasedUntil and counts the attempt,
// reporting false when it changed since it was read.
func (s *Store) leaseMail(ctx context.Context, d userDoc, leasedUntil bson.DateTime) (core.User, bool, error) {
	if d.Mail == nil {
		return core.User{}, false, nil
	}
	defer s.lockUser(d.ID)()
	res, err := s.users.UpdateOne(ctx, mailIs(d.ID, core.MailKind(d.Mail.Kind), d.Mail.DueAt), bson.D{
		{Key: "$set", Value: bson.D{{Key: "mail.due_at", Value: leasedUntil}}},
		{Key: "$inc", Value: bson.D{{Key: "mail.attempts", Value: 1}}},
	})
	if err != nil {
		return core.User{}, false, wrap("claim mail", err)
	}
	if res.MatchedCount == 0 {
		return core.User{}, false, nil
	}
	u := d.user()
	u.Mail.DueAt = leasedUntil.Time()
	u.Mail.Attempts++
	return u, true, nil
}

// CompleteMail clears the user's pending mail of kind due at dueAt, stamps
// the verification time and releases the user's held events, all in one
// update conditional on the mail (and, when events are released, on the
// outbox as read).
func (s *Store) CompleteMail(ctx context.Context, id string, kind core.MailKind, dueAt, sentAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mongodb: complete mail: %w", err)
	}
	due := bson.NewDateTimeFromTime(dueAt)
	defer s.lockUser(id)()
	for range outboxAttempts {
		var doc struct {
			Mail   *mailDoc      `bson:"mail"`
			Outbox bson.RawValue `bson:"outbox"`
		}
		err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "mail", Value: 1}, {Key: "outbox", Value: 1}})).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return fmt.Errorf("mongodb: complete mail: %w", core.ErrNotFound)
		}
		if err != nil {
			return wrap("complete mail", err)
		}
		if doc.Mail == nil || doc.Mail.Kind != string(kind) || bson.NewDateTimeFromTime(doc.Mail.DueAt) != due {
			return nil // ended already, or a newer claim or mail is pending
		}
		filter := mailIs(id, kind, dueAt)
		var set bson.D
		if kind == core.MailVerification && !sentAt.IsZero() {
			set = append(set, bson.E{Key: "verification_sent_at", Value: sentAt})
		}
		released, held, err := releaseHeld(doc.Outbox)
		if err != nil {
			return fmt.Errorf("mongodb: complete mail: %w", err)
		}
		if held {
			filter = append(filter, bson.E{Key: "outbox", Value: doc.Outbox})
			set = append(set, bson.E{Key: "outbox", Value: released})
		}
		update := bson.D{{Key: "$unset", Value: bson.D{{Key: "mail", Value: ""}}}}
		if len(set) > 0 {
			update = append(update, bson.E{Key: "$set", Value: set})
		}
		res, err := s.users.UpdateOne(ctx, filter, update)
		if err != nil {
			return wrap("complete mail", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
		// The mail or the outbox changed since the read: look again.
	}
	return fmt.Errorf("mongodb: complete mail: the outbox of the user kept changing, gave up after %d attempts", outboxAttempts)
}

// DeferMail moves the due time of the user's pending mail of kind due at
// dueAt to next; a mail that changed meanwhile is left alone.
func (s *Store) DeferMail(ctx context.Context, id string, kind core.MailKind, dueAt, next time.Time) error {
	unlock := s.lockUser(id)
	res, err := s.users.UpdateOne(ctx, mailIs(id, kind, dueAt),
		bson.D{{Key: "$set", Value: bson.D{{Key: "mail.due_at", Value: next}}}})
	unlock()
	if err != nil {
		return wrap("defer mail", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	return s.mustExist(ctx, id, "defer mail")
}
