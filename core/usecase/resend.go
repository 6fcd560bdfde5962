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

// resendConcurrency bounds how many resent e-mails are being composed and
// sent at once; more wait their turn in the background.
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

// Handle looks the login up and, when it names an unverified user with an
// e-mail address whose last verification e-mail is older than
// RESEND_VERIFICATION_INTERVAL, sends a new link signed now. A nil error is
// the same answer whether the user exists, is already verified, was mailed
// a moment ago, or the e-mail could not be sent (that is logged), so the
// answer tells a stranger nothing. The e-mail is composed and sent after
// the answer, so its time does not show either; Wait waits for it.
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
// (RESEND_VERIFICATION_ENABLED or REGISTER_VERIFICATION_ENABLED is false),
// core.ErrUnavailable (the store cannot be asked).
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

	u, found, err := d.findLogin(ctx, login)
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	if !found || u.IsActive || u.Email == "" {
		return nil
	}
	now := d.Clock.Now().UTC()
	marked, err := d.Store.MarkVerificationSent(ctx, u.ID, now, now.Add(-s.ResendVerificationInterval))
	if err != nil {
		d.logger().WarnContext(ctx, "verification e-mail not resent: its time could not be recorded", "user_id", u.ID, "error", err)
		return nil
	}
	if !marked {
		// Sent within RESEND_VERIFICATION_INTERVAL (or by a concurrent
		// request a moment ago): one e-mail per interval is enough.
		return nil
	}
	r.wg.Add(1)
	go r.send(context.WithoutCancel(ctx), u, now)
	return nil
}

// send mails u a link signed at at, after the answer has gone out.
func (r *ResendVerification) send(ctx context.Context, u core.User, at time.Time) {
	defer r.wg.Done()
	r.slots <- struct{}{}
	defer func() { <-r.slots }()
	ctx, cancel := context.WithTimeout(ctx, sideEffectTimeout)
	defer cancel()
	if err := r.d.sendVerification(ctx, u, at); err != nil {
		r.d.logger().ErrorContext(ctx, "verification e-mail could not be resent", "user_id", u.ID, "error", err)
	}
}

// Wait returns once every e-mail accepted by Handle so far has been handed
// to the mailer (or failed), or when ctx ends; the app calls it on shutdown
// before the mailer closes.
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
		return fmt.Errorf("resend verification: wait for e-mails: %w", ctx.Err())
	}
}
