package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

// The account flows after registration write the user's document in one
// update each, together with the events (outbox) and the e-mails
// (mail_outbox) the change owes. Mails then move from the user's
// mail_outbox into the queued_mail collection, where couriers claim them:
// right after the change, and again before every claim for changes whose
// process died in between, so none is lost (a mail may then be queued
// twice, never dropped).
//
// A change of the e-mail-shaped login names follows CreateUser's scheme
// (namespace.go): the new names are reserved first, the user document is
// written on condition that its keys are still those read, and the names
// it no longer has are freed last; a change that fails frees what it
// reserved.

// queuedMailDoc is a core.QueuedMail as stored, in the queued_mail
// collection and in a user's mail_outbox, _id being its ID.
type queuedMailDoc struct {
	ID        string    `bson:"_id"`
	Kind      string    `bson:"kind"`
	UserID    string    `bson:"user_id"`
	Login     string    `bson:"login"`
	Address   string    `bson:"address"`
	CreatedAt time.Time `bson:"created_at"`
	DueAt     time.Time `bson:"due_at"`
	Attempts  int       `bson:"attempts"`
}

func newQueuedMailDoc(m core.QueuedMail) queuedMailDoc {
	return queuedMailDoc{ID: m.ID, Kind: string(m.Kind), UserID: m.UserID, Login: m.Login, Address: m.Address,
		CreatedAt: m.CreatedAt, DueAt: m.DueAt, Attempts: m.Attempts}
}

func (d queuedMailDoc) mail() core.QueuedMail {
	return core.QueuedMail{ID: d.ID, Kind: core.MailKind(d.Kind), UserID: d.UserID, Login: d.Login, Address: d.Address,
		CreatedAt: d.CreatedAt, DueAt: d.DueAt, Attempts: d.Attempts}
}

// lockAccount serialises this process's key changes of one user (profile,
// e-mail, import), so that two of them never free each other's
// reservations. It is apart from lockUser, which the writes inside take.
func (s *Store) lockAccount(id string) func() {
	m := &s.accountLocks[lockIndex(id, len(s.accountLocks))]
	m.Lock()
	return m.Unlock
}

// pushEvents returns the update part that appends entries to the outbox
// and mails to the mail_outbox, nil when there are none.
func pushEvents(entries []outboxEntry, mails []queuedMailDoc) bson.D {
	var push bson.D
	if len(entries) > 0 {
		push = append(push, bson.E{Key: "outbox", Value: bson.D{{Key: "$each", Value: entries}}})
	}
	if len(mails) > 0 {
		push = append(push, bson.E{Key: "mail_outbox", Value: bson.D{{Key: "$each", Value: mails}}})
	}
	if push == nil {
		return nil
	}
	return bson.D{{Key: "$push", Value: push}}
}

// RecordLogin sets the user's last_login and appends events in one update.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time, events ...core.Event) error {
	const op = "record login"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mongodb: %s: %w", op, err)
	}
	entries, err := s.entries(events)
	if err != nil {
		return fmt.Errorf("mongodb: %s: %w", op, err)
	}
	update := append(bson.D{{Key: "$set", Value: bson.D{{Key: "last_login", Value: at}}}}, pushEvents(entries, nil)...)
	unlock := s.lockUser(id)
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, update)
	unlock()
	if err != nil {
		return wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongodb: %s: %w", op, core.ErrNotFound)
	}
	return nil
}

// Logout records events in their users' documents, then removes the token
// with digest ("" removes none). Without transactions the two writes are
// apart: recording first means a failure leaves the token, and the retry
// of the logout records again, rather than a logout without its event.
func (s *Store) Logout(ctx context.Context, digest string, events ...core.Event) error {
	const op = "logout"
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mongodb: %s: %w", op, err)
	}
	for _, ev := range events {
		entries, err := s.entries([]core.Event{ev})
		if err != nil {
			return fmt.Errorf("mongodb: %s: %w", op, err)
		}
		unlock := s.lockUser(ev.User.ID)
		_, err = s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: ev.User.ID}}, pushEvents(entries, nil))
		unlock()
		if err != nil {
			return wrap(op, err)
		}
	}
	if digest == "" {
		return nil
	}
	if _, err := s.tokens.DeleteOne(ctx, bson.D{{Key: "_id", Value: digest}}); err != nil {
		return wrap(op, err)
	}
	return nil
}

// readUser returns user id without its outbox; a missing user is
// core.ErrNotFound.
func (s *Store) readUser(ctx context.Context, op, id string) (core.User, error) {
	var doc userDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(withoutOutbox)).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return core.User{}, fmt.Errorf("mongodb: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.User{}, wrap(op, err)
	}
	return doc.user(), nil
}

// keysAre matches user u's document while its login keys are still u's.
func keysAre(u core.User) bson.D {
	optional := func(v string) any {
		if v == "" {
			return bson.D{{Key: "$exists", Value: false}}
		}
		return v
	}
	return bson.D{
		{Key: "_id", Value: u.ID},
		{Key: "username_key", Value: u.UsernameKey},
		{Key: "username_email_key", Value: optional(u.UsernameEmailKey)},
		{Key: "unique_email_key", Value: optional(u.UniqueEmailKey)},
	}
}

// setKeys returns the update that sets set and the login keys of u and
// removes the fields in unset: empty keys are removed too, so that the
// sparse unique indexes leave them out.
func setKeys(u core.User, set bson.D, unset ...string) bson.D {
	var gone bson.D
	for _, f := range unset {
		gone = append(gone, bson.E{Key: f, Value: ""})
	}
	for _, f := range []struct{ name, value string }{
		{"username_email_key", u.UsernameEmailKey},
		{"unique_email_key", u.UniqueEmailKey},
	} {
		if f.value == "" {
			gone = append(gone, bson.E{Key: f.name, Value: ""})
		} else {
			set = append(set, bson.E{Key: f.name, Value: f.value})
		}
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(gone) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: gone})
	}
	return update
}

// rekey changes user id: change derives the new user from the one read,
// write applies it on condition that the keys are still those read and
// reports whether it matched. rekey reserves the new e-mail-shaped names
// first and frees the old ones after; it reads again when the user changed
// in between. It returns the user written.
func (s *Store) rekey(ctx context.Context, op, id string, change func(core.User) core.User,
	write func(ctx context.Context, old, u core.User) (bool, error),
) (core.User, error) {
	defer s.lockAccount(id)()
	ctx, cancel := context.WithTimeout(ctx, createBudget)
	defer cancel()
	var written []string
	fail := func(err error) (core.User, error) {
		// Free what this change reserved, unless the user holds it after
		// all (a concurrent change by another process).
		if cur, rerr := s.readUser(ctx, op, id); rerr == nil {
			written = slices.DeleteFunc(written, func(k string) bool { return k == cur.UsernameEmailKey || k == cur.UniqueEmailKey })
		}
		_ = s.release(ctx, op, id, written)
		return core.User{}, err
	}
	for range outboxAttempts {
		old, err := s.readUser(ctx, op, id)
		if err != nil {
			return fail(err)
		}
		u := change(old)
		had := emailNames(old.UsernameEmailKey, old.UniqueEmailKey)
		for _, c := range emailNames(u.UsernameEmailKey, u.UniqueEmailKey) {
			if slices.ContainsFunc(had, func(h nameClaim) bool { return h.key == c.key }) || slices.Contains(written, c.key) {
				continue
			}
			w, err := s.reserve(ctx, op, c.key, id, time.Time{})
			if w {
				written = append(written, c.key)
			}
			if errors.Is(err, errNameTaken) {
				return fail(fmt.Errorf("mongodb: %s: %w", op, errors.Join(c.taken, err)))
			}
			if err != nil {
				return fail(err)
			}
		}
		unlock := s.lockUser(id)
		ok, err := write(ctx, old, u)
		unlock()
		if errors.Is(err, core.ErrUsernameTaken) || errors.Is(err, core.ErrEmailTaken) {
			return fail(err) // refused: nothing was written
		}
		if err != nil {
			// The write may have been applied nonetheless, so the
			// reservations stay; unused, they are orphans.
			return core.User{}, err
		}
		if !ok {
			continue // changed since the read: look again
		}
		var freed []string
		now := emailNames(u.UsernameEmailKey, u.UniqueEmailKey)
		for _, c := range had {
			if !slices.ContainsFunc(now, func(n nameClaim) bool { return n.key == c.key }) {
				freed = append(freed, c.key)
			}
		}
		// The change is made; a name not freed now is an orphan a later
		// registration takes over.
		_ = s.release(ctx, op, id, freed)
		return u, nil
	}
	return fail(fmt.Errorf("mongodb: %s: the user kept changing, gave up after %d attempts: %w", op, outboxAttempts, core.ErrUnavailable))
}

// UpdateProfile sets the user's profile fields and appends events in one
// update, moving its e-mail-shaped username in the login namespace.
func (s *Store) UpdateProfile(ctx context.Context, id string, p core.Profile, events ...core.Event) (core.User, error) {
	const op = "update profile"
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	entries, err := s.entries(events)
	if err != nil {
		return core.User{}, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	change := func(u core.User) core.User {
		u.Username, u.UsernameKey, u.UsernameEmailKey = p.Username, p.UsernameKey, p.UsernameEmailKey
		u.FirstName, u.LastName = p.FirstName, p.LastName
		return u
	}
	return s.rekey(ctx, op, id, change, func(ctx context.Context, old, u core.User) (bool, error) {
		update := setKeys(u, bson.D{
			{Key: "username", Value: u.Username},
			{Key: "username_key", Value: u.UsernameKey},
			{Key: "first_name", Value: u.FirstName},
			{Key: "last_name", Value: u.LastName},
		})
		update = append(update, pushEvents(entries, nil)...)
		res, err := s.users.UpdateOne(ctx, keysAre(old), update)
		if err != nil {
			if isDuplicate(err) {
				return false, fmt.Errorf("mongodb: %s: %w", op, errors.Join(core.ErrUsernameTaken, err))
			}
			return false, wrap(op, err)
		}
		return res.MatchedCount == 1, nil
	})
}

// ChangePassword replaces the hash in an update conditional on the old
// one, with the events, then revokes the tokens. Without transactions the
// revocation is a second write: should it fail, the change stands and the
// error says so, and the caller's retry finds the hash changed.
func (s *Store) ChangePassword(ctx context.Context, c core.PasswordChange, events ...core.Event) (bool, error) {
	const op = "change password"
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	entries, err := s.entries(events)
	if err != nil {
		return false, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	update := append(bson.D{{Key: "$set", Value: bson.D{{Key: "password_hash", Value: c.NewHash}}}}, pushEvents(entries, nil)...)
	unlock := s.lockUser(c.UserID)
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.UserID}, {Key: "password_hash", Value: c.OldHash}}, update)
	unlock()
	if err != nil {
		return false, wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return false, s.mustExist(ctx, c.UserID, op)
	}
	if c.RevokeTokens {
		filter := bson.D{{Key: "user_id", Value: c.UserID}, {Key: "_id", Value: bson.D{{Key: "$ne", Value: c.KeepToken}}}}
		if _, err := s.tokens.DeleteMany(context.WithoutCancel(ctx), filter); err != nil {
			return true, wrap(op+": password changed, revoking the other tokens failed", err)
		}
	}
	return true, nil
}

// ChangeEmail sets the user's address, appends events and the mails in one
// update, moving its address in the login namespace, then queues the mails.
func (s *Store) ChangeEmail(ctx context.Context, c core.EmailChange, mail []core.QueuedMail, events ...core.Event) (core.User, error) {
	const op = "change e-mail"
	if err := ctx.Err(); err != nil {
		return core.User{}, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	entries, err := s.entries(events)
	if err != nil {
		return core.User{}, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	mails := make([]queuedMailDoc, len(mail))
	for i, m := range mail {
		mails[i] = newQueuedMailDoc(m)
	}
	change := func(u core.User) core.User {
		u.Email, u.EmailKey, u.UniqueEmailKey = c.Email, c.EmailKey, c.UniqueEmailKey
		return u
	}
	u, err := s.rekey(ctx, op, c.UserID, change, func(ctx context.Context, old, u core.User) (bool, error) {
		update := setKeys(u, bson.D{{Key: "email", Value: u.Email}, {Key: "email_key", Value: u.EmailKey}})
		update = append(update, pushEvents(entries, mails)...)
		res, err := s.users.UpdateOne(ctx, keysAre(old), update)
		if err != nil {
			if isDuplicate(err) {
				return false, fmt.Errorf("mongodb: %s: %w", op, errors.Join(core.ErrEmailTaken, err))
			}
			return false, wrap(op, err)
		}
		return res.MatchedCount == 1, nil
	})
	if err != nil {
		return core.User{}, err
	}
	if len(mails) > 0 {
		// The mails are safe in the user's document; moving them now
		// only spares the courier the wait for its next claim.
		_ = s.moveMail(context.WithoutCancel(ctx), u.ID)
	}
	return u, nil
}

// moveMail moves the mails in user id's mail_outbox into the queued_mail
// collection, then empties it on condition that it is still what was read.
func (s *Store) moveMail(ctx context.Context, id string) error {
	const op = "queue mail"
	var doc struct {
		MailOutbox bson.RawValue `bson:"mail_outbox"`
	}
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
		options.FindOne().SetProjection(bson.D{{Key: "mail_outbox", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return wrap(op, err)
	}
	if doc.MailOutbox.IsZero() {
		return nil
	}
	var mails []queuedMailDoc
	if err := doc.MailOutbox.Unmarshal(&mails); err != nil {
		return fmt.Errorf("mongodb: %s: decode mail_outbox: %w", op, err)
	}
	for _, m := range mails {
		if _, err := s.queuedMail().InsertOne(ctx, m); err != nil && !isDuplicate(err) {
			return wrap(op, err)
		}
	}
	unlock := s.lockUser(id)
	_, err = s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "mail_outbox", Value: doc.MailOutbox}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "mail_outbox", Value: ""}}}})
	unlock()
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// movePendingMail moves the mails of up to limit users whose change left
// them in their mail_outbox (the process died before moving them).
func (s *Store) movePendingMail(ctx context.Context, limit int) error {
	cur, err := s.users.Find(ctx, bson.D{{Key: "mail_outbox._id", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.Find().SetLimit(int64(limit)).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return wrap("queue mail", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return wrap("queue mail", err)
	}
	for _, d := range ids {
		if err := s.moveMail(ctx, d.ID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) queuedMail() *mongo.Collection { return s.db.Collection(queuedMailCollection) }

// QueueMail stores m in the queued_mail collection.
func (s *Store) QueueMail(ctx context.Context, m core.QueuedMail) error {
	if _, err := s.queuedMail().InsertOne(ctx, newQueuedMailDoc(m)); err != nil {
		return wrap("queue mail", err)
	}
	return nil
}

// ClaimQueuedMail finds the due mails, earliest first, then leases each one
// with an update conditional on the due time it was read with: of
// concurrent claimers on MongoDB only the first matches (within this
// process a lock serialises them on FerretDB too). A mail another claimer
// took in between is no longer due, so the search goes on until limit
// mails are claimed or none is left.
func (s *Store) ClaimQueuedMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]core.QueuedMail, error) {
	const op = "claim queued mail"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	if err := s.movePendingMail(ctx, limit); err != nil {
		return nil, err
	}
	leasedUntil := bson.NewDateTimeFromTime(now.Add(lease))
	var claimed []core.QueuedMail
	var tried []string
	for len(claimed) < limit {
		filter := bson.D{{Key: "due_at", Value: bson.D{{Key: "$lte", Value: now}}}}
		if len(tried) > 0 {
			filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$nin", Value: tried}}})
		}
		cur, err := s.queuedMail().Find(ctx, filter, options.Find().
			SetSort(bson.D{{Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}).
			SetLimit(int64(limit-len(claimed))))
		if err != nil {
			return nil, wrap(op, err)
		}
		var docs []queuedMailDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, wrap(op, err)
		}
		if len(docs) == 0 {
			break
		}
		for _, d := range docs {
			tried = append(tried, d.ID)
			unlock := s.lockUser(queuedMailCollection + "/" + d.ID)
			res, err := s.queuedMail().UpdateOne(ctx,
				bson.D{{Key: "_id", Value: d.ID}, {Key: "due_at", Value: bson.NewDateTimeFromTime(d.DueAt)}},
				bson.D{
					{Key: "$set", Value: bson.D{{Key: "due_at", Value: leasedUntil}}},
					{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}},
				})
			unlock()
			if err != nil {
				// The mails leased so far come back when their lease ends.
				return nil, wrap(op, err)
			}
			if res.MatchedCount == 1 {
				d.DueAt, d.Attempts = leasedUntil.Time(), d.Attempts+1
				claimed = append(claimed, d.mail())
			}
		}
	}
	return claimed, nil
}

// DeleteQueuedMail removes mail id if it is still due at dueAt.
func (s *Store) DeleteQueuedMail(ctx context.Context, id string, dueAt time.Time) error {
	unlock := s.lockUser(queuedMailCollection + "/" + id)
	_, err := s.queuedMail().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "due_at", Value: bson.NewDateTimeFromTime(dueAt)}})
	unlock()
	if err != nil {
		return wrap("delete queued mail", err)
	}
	return nil
}

// DeferQueuedMail moves mail id from dueAt to next.
func (s *Store) DeferQueuedMail(ctx context.Context, id string, dueAt, next time.Time) error {
	unlock := s.lockUser(queuedMailCollection + "/" + id)
	_, err := s.queuedMail().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "due_at", Value: bson.NewDateTimeFromTime(dueAt)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "due_at", Value: next}}}})
	unlock()
	if err != nil {
		return wrap("defer queued mail", err)
	}
	return nil
}

// ImportUser creates the user u.ID (as CreateUser does) or replaces its
// fields (its pending mail, verification time and events stay), then adds
// the tokens not stored yet.
func (s *Store) ImportUser(ctx context.Context, u core.User, tokens ...core.Token) (bool, error) {
	const op = "import user"
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("mongodb: %s: %w", op, err)
	}
	_, err := s.readUser(ctx, op, u.ID)
	created := errors.Is(err, core.ErrNotFound)
	switch {
	case created:
		if err := s.CreateUser(ctx, u); err != nil {
			return false, err
		}
	case err != nil:
		return false, err
	default:
		// The username is reported first, as CreateUser does.
		n, err := s.users.CountDocuments(ctx, bson.D{{Key: "username_key", Value: u.UsernameKey},
			{Key: "_id", Value: bson.D{{Key: "$ne", Value: u.ID}}}}, options.Count().SetLimit(1))
		if err != nil {
			return false, wrap(op, err)
		}
		if n > 0 {
			return false, fmt.Errorf("mongodb: %s: %w", op, core.ErrUsernameTaken)
		}
		change := func(old core.User) core.User {
			next := u
			next.Mail, next.VerificationSentAt = old.Mail, old.VerificationSentAt
			return next
		}
		_, err = s.rekey(ctx, op, u.ID, change, func(ctx context.Context, old, next core.User) (bool, error) {
			set := bson.D{
				{Key: "username", Value: next.Username},
				{Key: "username_key", Value: next.UsernameKey},
				{Key: "email", Value: next.Email},
				{Key: "email_key", Value: next.EmailKey},
				{Key: "first_name", Value: next.FirstName},
				{Key: "last_name", Value: next.LastName},
				{Key: "password_hash", Value: next.PasswordHash},
				{Key: "is_active", Value: next.IsActive},
				{Key: "created_at", Value: next.CreatedAt},
			}
			var unset []string
			if next.LastLogin.IsZero() {
				unset = append(unset, "last_login")
			} else {
				set = append(set, bson.E{Key: "last_login", Value: next.LastLogin})
			}
			res, err := s.users.UpdateOne(ctx, keysAre(old), setKeys(next, set, unset...))
			if err != nil {
				if isDuplicate(err) {
					return false, s.takenCause(ctx, next, err, fmt.Errorf("mongodb: %s: %w", op, errors.Join(core.ErrUsernameTaken, err)))
				}
				return false, wrap(op, err)
			}
			return res.MatchedCount == 1, nil
		})
		if err != nil {
			return false, err
		}
	}
	for _, tok := range tokens {
		doc := tokenDoc{Digest: tok.Digest, UserID: u.ID, CreatedAt: tok.CreatedAt}
		if _, err := s.tokens.InsertOne(ctx, doc); err != nil && !isDuplicate(err) {
			return false, wrap(op+": import token", err)
		}
	}
	return created, nil
}
