package usecase

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/restreg/restreg/core"
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

// ResendVerification mails a fresh verification link to a user who lost or
// let expire the first one: POST resend-verification/.
type ResendVerification struct {
	d     *Deps
	wg    sync.WaitGroup
	slots chan struct{}
}

// NewResendVerification returns the resend-verification use case.
func NewResendVerification(d *Deps) *ResendVerification {
	return &ResendVerification{d: d, slots: make(chan struct{}, resendConcurrency)}
}

var resendLoginField = charField{name: "login", required: true}

// Handle answers at once and, after the answer, looks the login up and, for
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
func (r *ResendVerification) Handle(ctx context.Context, in ResendInput) error {
	d := r.d
	s := &d.Settings
	if !s.ResendEnabled() {
		return core.ErrFlowDisabled
	}
	if err := d.throttle(ctx, ruleResendIP, s.ThrottleResendIP, clientKey(ctx)); err != nil {
		return err
	}
	errs := &core.ValidationError{}
	login, _ := resendLoginField.clean(in.Login, errs)
	if !errs.Empty() {
		return errs
	}
	if err := d.throttle(ctx, ruleResendAccount, s.ThrottleResendAccount, accountKey(login)); err != nil {
		return err
	}
	r.wg.Add(1)
	go r.queue(context.WithoutCancel(ctx), login, d.Clock.Now().UTC())
	return nil
}

// queue does a resend request's work after its answer went out.
func (r *ResendVerification) queue(ctx context.Context, login string, now time.Time) {
	defer r.wg.Done()
	r.slots <- struct{}{}
	defer func() { <-r.slots }()
	d := r.d
	ctx, cancel := context.WithTimeout(ctx, d.sendTimeout())
	defer cancel()
	users, err := d.findLogin(ctx, login)
	if err != nil {
		d.logger().WarnContext(ctx, "verification e-mail not resent: the login could not be looked up", "error", err)
		return
	}
	queued := false
	for _, u := range users {
		if u.IsActive || u.Email == "" {
			continue
		}
		ok, err := d.Store.QueueVerificationMail(ctx, u.ID, now, now.Add(-d.Settings.ResendVerificationInterval))
		if err != nil {
			d.logger().WarnContext(ctx, "verification e-mail not resent: it could not be queued", "user_id", u.ID, "error", err)
			continue
		}
		// Not queued: sent within RESEND_VERIFICATION_INTERVAL, or one is
		// owed already (and will go out); one e-mail is enough.
		queued = queued || ok
	}
	if queued {
		d.mailQueued()
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
