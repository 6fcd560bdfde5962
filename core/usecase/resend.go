package usecase

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
	"github.com/restreg/restreg/ports"
)

// MsgResendAnswer is the one answer of resend-verification/, whatever
// happened, so that it reveals nothing about which accounts exist.
const MsgResendAnswer = "If the account exists and is not verified, a new verification e-mail has been sent."

// resendConcurrency bounds how many resend requests are being looked up and
// queued at once; more wait their turn in the background.
const resendConcurrency = 16

// ResendInput is a resend-verification request as the client sent it.
type ResendInput struct {
	// Login is a username or e-mail address (USER_LOGIN_FIELDS).
	Login core.Value
}

// ResendConfig is the part of the settings resend-verification/ follows
// (USER_LOGIN_FIELDS is the Logins').
type ResendConfig struct {
	// Enabled is RESEND_VERIFICATION_ENABLED together with
	// REGISTER_VERIFICATION_ENABLED.
	Enabled bool
	// Interval is RESEND_VERIFICATION_INTERVAL, the least time between two
	// verification e-mails to one user.
	Interval time.Duration
	// ThrottleIP and ThrottleAccount are THROTTLE_RESEND_IP and
	// THROTTLE_RESEND_ACCOUNT.
	ThrottleIP, ThrottleAccount string
	// MailSendTimeout is MAIL_SEND_TIMEOUT, which also bounds the work
	// behind one answer.
	MailSendTimeout time.Duration
}

// NewResendConfig returns the ResendConfig of settings s.
func NewResendConfig(s core.Settings) ResendConfig {
	return ResendConfig{
		Enabled:         s.ResendEnabled(),
		Interval:        s.ResendVerificationInterval,
		ThrottleIP:      s.ThrottleResendIP,
		ThrottleAccount: s.ThrottleResendAccount,
		MailSendTimeout: s.MailSendTimeout,
	}
}

// ResendVerification mails a fresh verification link to a user who lost or
// let expire the first one: POST resend-verification/.
type ResendVerification struct {
	cfg      ResendConfig
	logins   Logins
	store    ports.UserStore
	throttle *Throttle
	clock    ports.Clock
	// mailQueued wakes the courier after an e-mail was queued for it.
	mailQueued Notifier
	log        *slog.Logger
	handle     decorator.ActionHandler[ResendInput]
	wg         sync.WaitGroup
	slots      chan struct{}
}

// NewResendVerification returns the resend-verification use case. It finds
// the accounts a login names with logins, queues their e-mails in store,
// counts requests with throttle (nil: none), wakes mailQueued (the courier)
// after queueing (nil: nobody to wake) and logs on log.
func NewResendVerification(cfg ResendConfig, logins Logins, store ports.UserStore, throttle *Throttle,
	clock ports.Clock, mailQueued Notifier, log *slog.Logger,
) *ResendVerification {
	if log == nil {
		log = slog.Default()
	}
	r := &ResendVerification{cfg: cfg, logins: logins, store: store, throttle: throttle, clock: clock,
		mailQueued: mailQueued, log: log, slots: make(chan struct{}, resendConcurrency)}
	r.handle = decorator.ApplyActionDecorators("resend_verification", decorator.ActionFunc[ResendInput](r.resend), log)
	return r
}

var resendLoginField = charField{name: "login", required: true}

// Handle accepts in; see resend. Its only answer is its error, which tells
// the client nothing. The decorators of package decorator wrap it.
func (r *ResendVerification) Handle(ctx context.Context, in ResendInput) error {
	return r.handle.Handle(ctx, in)
}

// resend answers at once and, after the answer, looks the login up and, for
// each unverified account it names whose last verification e-mail is older
// than RESEND_VERIFICATION_INTERVAL, queues a new one for the courier (a
// link signed when it is sent, to the account's own address). A nil error is
// the same answer, after the same work, whether the user exists, is already
// verified, was mailed a moment ago, or the e-mail cannot be sent, so the
// answer tells a stranger nothing; Wait waits for the work behind it.
//
// With REGISTER_VERIFICATION_ONE_TIME_USE the earlier links keep working
// until one of them is used: every link of an unverified user is signed
// under the same salt, and all of them stop working once the user is
// verified.
//
// The client's address is counted against THROTTLE_RESEND_IP before anything
// else, the login against THROTTLE_RESEND_ACCOUNT once it is valid.
//
// Errors: *core.ValidationError, *core.ThrottledError, core.ErrFlowDisabled
// (RESEND_VERIFICATION_ENABLED or REGISTER_VERIFICATION_ENABLED is false).
func (r *ResendVerification) resend(ctx context.Context, in ResendInput) error {
	s := &r.cfg
	if !s.Enabled {
		return core.ErrFlowDisabled
	}
	if err := r.throttle.count(ctx, ruleResendIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return err
	}
	errs := &core.ValidationError{}
	login, _ := resendLoginField.clean(in.Login, errs)
	if !errs.Empty() {
		return errs
	}
	if err := r.throttle.count(ctx, ruleResendAccount, s.ThrottleAccount, accountKey(login)); err != nil {
		return err
	}
	r.wg.Add(1)
	go r.queue(context.WithoutCancel(ctx), login, r.clock.Now().UTC())
	return nil
}

// queue does a resend request's work after its answer went out.
func (r *ResendVerification) queue(ctx context.Context, login string, now time.Time) {
	defer r.wg.Done()
	r.slots <- struct{}{}
	defer func() { <-r.slots }()
	ctx, cancel := context.WithTimeout(ctx, sendBound(r.cfg.MailSendTimeout))
	defer cancel()
	users, err := r.logins.Find(ctx, login)
	if err != nil {
		r.log.WarnContext(ctx, "verification e-mail not resent: the login could not be looked up", "error", err)
		return
	}
	queued := false
	for _, u := range users {
		if u.IsActive || u.Email == "" {
			continue
		}
		ok, err := r.store.QueueVerificationMail(ctx, u.ID, now, now.Add(-r.cfg.Interval))
		if err != nil {
			r.log.WarnContext(ctx, "verification e-mail not resent: it could not be queued", "user_id", u.ID, "error", err)
			continue
		}
		// Not queued: sent within RESEND_VERIFICATION_INTERVAL, or one is
		// owed already (and will go out); one e-mail is enough.
		queued = queued || ok
	}
	if queued {
		wake(r.mailQueued)
	}
}

// Wait returns once every request accepted by Handle so far has done its
// work (or failed), or when ctx ends; the app calls it on shutdown before
// the store closes.
func (r *ResendVerification) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("resend verification: wait for queued requests: %w", ctx.Err())
	}
}
