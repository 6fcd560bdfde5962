package prommetrics

import (
	"context"
	"errors"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// DecorateMailer returns a ports.Mailer that sends through next and counts
// sent messages and failures (transient when the error wraps
// core.ErrUnavailable) under the mail backend's name.
func (m *Metrics) DecorateMailer(next ports.Mailer) ports.Mailer {
	return &mailer{next: next, m: m}
}

type mailer struct {
	next ports.Mailer
	m    *Metrics
}

// Send delivers msg through the decorated mailer and counts the outcome.
func (d *mailer) Send(ctx context.Context, msg core.Message) error {
	err := d.next.Send(ctx, msg)
	switch {
	case err == nil:
		d.m.mailSent.WithLabelValues(d.m.mailBackend).Inc()
	case errors.Is(err, core.ErrUnavailable):
		d.m.mailFailures.WithLabelValues(d.m.mailBackend, "transient").Inc()
	default:
		d.m.mailFailures.WithLabelValues(d.m.mailBackend, "permanent").Inc()
	}
	return err
}

// DecorateEventPublisher returns a ports.EventPublisher that publishes
// through next and counts acknowledged events and failed attempts under the
// events backend's name.
func (m *Metrics) DecorateEventPublisher(next ports.EventPublisher) ports.EventPublisher {
	return &publisher{next: next, m: m}
}

type publisher struct {
	next ports.EventPublisher
	m    *Metrics
}

// Publish hands events to the decorated publisher and counts the outcome.
func (d *publisher) Publish(ctx context.Context, events ...core.Event) error {
	err := d.next.Publish(ctx, events...)
	if err != nil {
		d.m.publishFailures.WithLabelValues(d.m.eventsBackend).Inc()
		return err
	}
	d.m.eventsPublished.WithLabelValues(d.m.eventsBackend).Add(float64(len(events)))
	return nil
}

// DecoratePasswordHasher returns a ports.PasswordHasher that times every
// Hash and Check of next, including the wait for a hashing slot, by
// outcome (ok, overloaded, canceled, error).
func (m *Metrics) DecoratePasswordHasher(next ports.PasswordHasher) ports.PasswordHasher {
	return &hasher{next: next, m: m}
}

type hasher struct {
	next ports.PasswordHasher
	m    *Metrics
}

// Hash hashes through the decorated hasher and times it.
func (d *hasher) Hash(ctx context.Context, password string) (string, error) {
	start := time.Now()
	encoded, err := d.next.Hash(ctx, password)
	d.observe("hash", start, err)
	return encoded, err
}

// Check checks through the decorated hasher and times it.
func (d *hasher) Check(ctx context.Context, password, encoded string) (bool, bool, error) {
	start := time.Now()
	ok, rehash, err := d.next.Check(ctx, password, encoded)
	d.observe("check", start, err)
	return ok, rehash, err
}

func (d *hasher) observe(op string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = errorKind(err)
		if outcome == "other" || outcome == "unavailable" {
			outcome = "error"
		}
	}
	d.m.hashDuration.WithLabelValues(op, outcome).Observe(time.Since(start).Seconds())
}

// DecorateUserStore returns a ports.UserStore that uses next and counts
// failed operations by name and kind, users created (registrations),
// registrations undone, and users activated (verifications). Answers that
// are part of the contract (name taken, not found, ambiguous) are not
// failures.
func (m *Metrics) DecorateUserStore(next ports.UserStore) ports.UserStore {
	return &userStore{next: next, m: m}
}

type userStore struct {
	next ports.UserStore
	m    *Metrics
}

// count records err for operation op unless it is a contract answer, and
// returns err unchanged.
func (d *userStore) count(op string, err error) error {
	if err == nil || errors.Is(err, core.ErrUsernameTaken) || errors.Is(err, core.ErrEmailTaken) ||
		errors.Is(err, core.ErrNotFound) || errors.Is(err, core.ErrAmbiguous) {
		return err
	}
	d.m.storeErrors.WithLabelValues(op, errorKind(err)).Inc()
	return err
}

// CreateUser stores u and counts a registration when it succeeds.
func (d *userStore) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	err := d.next.CreateUser(ctx, u, events...)
	// A placeholder that only holds a username for an address that has an
	// account (REGISTER_ENUMERATION_SAFE) is not a registration.
	if err == nil && u.Mail.Kind != core.MailAccountExists {
		d.m.registrations.Inc()
	}
	return d.count("create_user", err)
}

// DeleteInactiveUser removes an unverified user and counts the undone
// registration.
func (d *userStore) DeleteInactiveUser(ctx context.Context, id string) error {
	err := d.next.DeleteInactiveUser(ctx, id)
	if err == nil {
		d.m.registrationsUndo.Inc()
	}
	return d.count("delete_inactive_user", err)
}

// ActivateUser activates a user and counts a verification when this call
// did it.
func (d *userStore) ActivateUser(ctx context.Context, id string, events ...core.Event) (bool, error) {
	activated, err := d.next.ActivateUser(ctx, id, events...)
	if err == nil && activated {
		d.m.verifications.Inc()
	}
	return activated, d.count("activate_user", err)
}

// FindUser looks a user up through the decorated store.
func (d *userStore) FindUser(ctx context.Context, field core.LookupField, key string) (core.User, error) {
	u, err := d.next.FindUser(ctx, field, key)
	return u, d.count("find_user", err)
}

// SetPasswordHash replaces a hash through the decorated store.
func (d *userStore) SetPasswordHash(ctx context.Context, id, hash string) error {
	return d.count("set_password_hash", d.next.SetPasswordHash(ctx, id, hash))
}

// QueueVerificationMail queues a verification e-mail through the decorated
// store.
func (d *userStore) QueueVerificationMail(ctx context.Context, id string, at, notBefore time.Time) (bool, error) {
	queued, err := d.next.QueueVerificationMail(ctx, id, at, notBefore)
	return queued, d.count("queue_verification_mail", err)
}

// Ping checks the decorated store.
func (d *userStore) Ping(ctx context.Context) error {
	return d.count("ping", d.next.Ping(ctx))
}
