package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Courier defaults. Failed sends back off from a few seconds to half an
// hour; after courierMaxAttempts (about a day of trying) an e-mail is given
// up and logged, since the user can ask for a new one.
const (
	courierConcurrency = 8
	courierMinBackoff  = 5 * time.Second
	courierMaxBackoff  = 30 * time.Minute
	courierMaxAttempts = 60
)

// Courier sends the e-mails users owe from the store's mail queue: the ones
// queued to be sent after the answer (resend-verification/,
// REGISTER_ENUMERATION_SAFE) and the ones a request was sending when the
// process died (their lease ran out). It retries an e-mail the mailer could
// not take with backoff, and marks it done only once the mailer took it, so
// an e-mail is sent at least once whatever crashes.
type Courier struct {
	cfg    CourierConfig
	queue  ports.MailQueue
	store  ports.UserStore
	emails Emails
	clock  ports.Clock
	// events wakes the relay after an e-mail's outcome released a held
	// event.
	events Notifier
	log    *slog.Logger
	wake   chan struct{}
	// pass admits one claiming pass at a time, so Run and Flush never work
	// the same batch concurrently.
	pass chan struct{}
	// account is the account mail queue and what sends its e-mails; nil
	// when the courier was built without WithAccountMail.
	account *accountMail
}

// accountMail is the courier's part of the account flows after
// registration.
type accountMail struct {
	queue  ports.AccountMailQueue
	emails AccountEmails
}

// CourierOption adds work to a Courier.
type CourierOption func(*Courier)

// WithAccountMail makes the courier also drain queue, the account mail
// queue (reset-password links, verify-email links, notices to previous
// addresses), sending with emails. Links are composed when a mail is sent:
// signed with the user's current password hash (one-time reset links) and
// stamped with the time the mail was queued.
func WithAccountMail(queue ports.AccountMailQueue, emails AccountEmails) CourierOption {
	return func(c *Courier) { c.account = &accountMail{queue: queue, emails: emails} }
}

// CourierConfig is the part of the settings the courier follows.
type CourierConfig struct {
	// PollInterval is how often the queue is looked at without a Wake
	// (OUTBOX_POLL_INTERVAL); a second when unset.
	PollInterval time.Duration
	// MailSendTimeout is MAIL_SEND_TIMEOUT, the bound of one send; an
	// e-mail is leased to its sender for twice that.
	MailSendTimeout time.Duration
}

// NewCourierConfig returns the CourierConfig of settings s.
func NewCourierConfig(s core.Settings) CourierConfig {
	return CourierConfig{PollInterval: s.OutboxPollInterval, MailSendTimeout: s.MailSendTimeout}
}

// NewCourier returns a courier that claims due e-mails from queue every
// cfg.PollInterval (and whenever Wake is called), finds the owners that
// account-exists notices go to in store, sends with emails, wakes events
// (the relay) after recording an outcome (nil: nobody to wake) and logs on
// log.
func NewCourier(cfg CourierConfig, queue ports.MailQueue, store ports.UserStore, emails Emails, clock ports.Clock,
	events Notifier, log *slog.Logger, opts ...CourierOption,
) *Courier {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Courier{cfg: cfg, queue: queue, store: store, emails: emails, clock: clock, events: events, log: log,
		wake: make(chan struct{}, 1), pass: make(chan struct{}, 1)}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Wake makes a running courier look for e-mails at once; use cases call it
// after queueing one. It never blocks.
func (c *Courier) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run sends due e-mails until ctx ends, then returns nil. A store that fails
// is logged and tried again at the next poll.
func (c *Courier) Run(ctx context.Context) error {
	timer := time.NewTimer(c.cfg.PollInterval)
	defer timer.Stop()
	for {
		if err := c.drain(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("mail courier: reading the queue failed, will retry", slog.String("error", err.Error()))
		}
		if ctx.Err() != nil {
			return nil
		}
		timer.Reset(c.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// Flush makes one pass that sends every e-mail due now, for a graceful
// shutdown; e-mails it could not send stay queued for the next start.
func (c *Courier) Flush(ctx context.Context) error {
	if err := c.drain(ctx); err != nil {
		return fmt.Errorf("mail courier: flush: %w", err)
	}
	return nil
}

// drain claims and sends batches until nothing is due.
func (c *Courier) drain(ctx context.Context) error {
	select {
	case c.pass <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.pass }()
	if err := c.drainUsers(ctx); err != nil {
		return err
	}
	return c.drainAccountMail(ctx)
}

// drainUsers claims and sends the e-mails user records owe until nothing
// is due.
func (c *Courier) drainUsers(ctx context.Context) error {
	for {
		users, err := c.queue.ClaimMail(ctx, c.clock.Now().UTC(), mailLease(c.cfg.MailSendTimeout), courierConcurrency)
		if err != nil {
			return fmt.Errorf("claim e-mails: %w", err)
		}
		if len(users) == 0 {
			return nil
		}
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Go(func() { c.deliver(ctx, u) })
		}
		wg.Wait()
		if stopping(ctx) || len(users) < courierConcurrency {
			return nil
		}
	}
}

// stopping reports whether ctx has ended: a pass then stops claiming (what
// it claimed was sent; the rest waits for the next start).
func stopping(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// deliver sends the e-mail u owes and records the outcome.
func (c *Courier) deliver(ctx context.Context, u core.User) {
	mail := u.Mail
	// The send finishes (and its outcome is recorded) even if Run is
	// stopping: the lease covers it, a half-recorded send would repeat.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendBound(c.cfg.MailSendTimeout))
	defer cancel()
	log := c.log.With(slog.String("user_id", u.ID), slog.String("mail", string(mail.Kind)), slog.Int("attempt", mail.Attempts))
	sentAt := c.clock.Now().UTC()
	sent, err := c.send(sctx, u, sentAt)
	switch {
	case err == nil:
		if !sent {
			sentAt = time.Time{}
		}
		if err := c.queue.CompleteMail(sctx, u.ID, mail.Kind, mail.DueAt, sentAt); err != nil && !errors.Is(err, core.ErrNotFound) {
			log.Warn("mail courier: e-mail sent but not recorded; it may be sent twice", slog.String("error", err.Error()))
		}
		if sent {
			log.Debug("mail courier: e-mail sent")
		}
		wake(c.events)
	case !errors.Is(err, core.ErrUnavailable) || mail.Attempts >= courierMaxAttempts:
		log.Error("mail courier: e-mail given up", slog.String("error", err.Error()))
		if err := c.queue.CompleteMail(sctx, u.ID, mail.Kind, mail.DueAt, time.Time{}); err != nil && !errors.Is(err, core.ErrNotFound) {
			log.Warn("mail courier: could not record a given-up e-mail", slog.String("error", err.Error()))
		}
		wake(c.events)
	default:
		next := c.clock.Now().UTC().Add(courierBackoff(mail.Attempts))
		log.Warn("mail courier: e-mail not sent, will retry", slog.Time("retry_at", next), slog.String("error", err.Error()))
		if err := c.queue.DeferMail(sctx, u.ID, mail.Kind, mail.DueAt, next); err != nil && !errors.Is(err, core.ErrNotFound) {
			log.Warn("mail courier: could not defer an e-mail; it is retried when its lease ends", slog.String("error", err.Error()))
		}
	}
}

// send composes and sends the e-mail u owes; sent is false when there was
// nothing to send any more (the user was verified meanwhile, or the owner
// to notify is gone). Errors wrapping core.ErrUnavailable may succeed later.
func (c *Courier) send(ctx context.Context, u core.User, at time.Time) (sent bool, err error) {
	switch u.Mail.Kind {
	case core.MailVerification:
		if u.IsActive || u.Email == "" {
			return false, nil
		}
		return true, c.emails.SendVerification(ctx, u, at)
	case core.MailAccountExists:
		owner, err := c.store.FindUser(ctx, core.ByID, u.Mail.To)
		switch {
		case errors.Is(err, core.ErrNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("find the address's owner: %w", err)
		}
		return true, c.emails.SendAccountExists(ctx, owner)
	default:
		return false, fmt.Errorf("unknown e-mail kind %q", u.Mail.Kind)
	}
}

// drainAccountMail claims and sends the account mail queue's e-mails until
// nothing is due.
func (c *Courier) drainAccountMail(ctx context.Context) error {
	if c.account == nil {
		return nil
	}
	for {
		mails, err := c.account.queue.ClaimQueuedMail(ctx, c.clock.Now().UTC(), mailLease(c.cfg.MailSendTimeout), courierConcurrency)
		if err != nil {
			return fmt.Errorf("claim account e-mails: %w", err)
		}
		if len(mails) == 0 {
			return nil
		}
		var wg sync.WaitGroup
		for _, m := range mails {
			wg.Go(func() { c.deliverQueued(ctx, m) })
		}
		wg.Wait()
		if stopping(ctx) || len(mails) < courierConcurrency {
			return nil
		}
	}
}

// deliverQueued sends one e-mail of the account mail queue and records the
// outcome: removed once sent (or given up, or nothing left to send),
// deferred with backoff after a failure a retry may cure.
func (c *Courier) deliverQueued(ctx context.Context, m core.QueuedMail) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendBound(c.cfg.MailSendTimeout))
	defer cancel()
	// The log names the mail and its account, never the login a reset
	// request typed (it may be anyone's address) nor a link.
	log := c.log.With(slog.String("mail_id", m.ID), slog.String("user_id", m.UserID), slog.String("mail", string(m.Kind)), slog.Int("attempt", m.Attempts))
	sent, err := c.account.emails.send(sctx, m, c.clock.Now().UTC())
	switch {
	case err == nil:
		if sent {
			log.Debug("mail courier: e-mail sent")
		}
		if err := c.account.queue.DeleteQueuedMail(sctx, m.ID, m.DueAt); err != nil {
			log.Warn("mail courier: e-mail sent but not recorded; it may be sent twice", slog.String("error", err.Error()))
		}
	case !errors.Is(err, core.ErrUnavailable) || m.Attempts >= courierMaxAttempts:
		log.Error("mail courier: e-mail given up", slog.String("error", err.Error()))
		if err := c.account.queue.DeleteQueuedMail(sctx, m.ID, m.DueAt); err != nil {
			log.Warn("mail courier: could not record a given-up e-mail", slog.String("error", err.Error()))
		}
	default:
		next := c.clock.Now().UTC().Add(courierBackoff(m.Attempts))
		log.Warn("mail courier: e-mail not sent, will retry", slog.Time("retry_at", next), slog.String("error", err.Error()))
		if err := c.account.queue.DeferQueuedMail(sctx, m.ID, m.DueAt, next); err != nil {
			log.Warn("mail courier: could not defer an e-mail; it is retried when its lease ends", slog.String("error", err.Error()))
		}
	}
}

// courierBackoff is the wait before the attempt after attempt (1-based).
func courierBackoff(attempt int) time.Duration {
	wait := courierMinBackoff
	for i := 1; i < attempt && wait < courierMaxBackoff; i++ {
		wait *= 2
	}
	return min(wait, courierMaxBackoff)
}
