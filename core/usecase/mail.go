package usecase

import (
	"context"
	"fmt"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// minMailHold is the least time a registration's user_registered event is
// held back while its verification e-mail is being sent: sending it (by the
// request, or by the courier after a crash) releases it, and so does the
// user's activation; if neither happens, the hold's end does, since the
// user exists.
const minMailHold = 5 * time.Minute

// sendBound bounds one attempt to send an e-mail: MAIL_SEND_TIMEOUT, a
// minute when unset.
func sendBound(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return time.Minute
	}
	return timeout
}

// mailLease is how long an e-mail being sent is leased to its sender before
// the courier may take it over: twice one send's bound.
func mailLease(sendTimeout time.Duration) time.Duration { return 2 * sendBound(sendTimeout) }

// mailHold is how long a registration's event waits for its e-mail.
func mailHold(sendTimeout time.Duration) time.Duration {
	return max(minMailHold, 3*mailLease(sendTimeout))
}

// Emails composes and sends the e-mails the use cases owe users: the
// verification link (register/, and the courier for resends and crashes)
// and the account-exists notice (the courier, REGISTER_ENUMERATION_SAFE).
type Emails struct {
	// Links signs the verification links.
	Links Links
	// Composer renders the messages.
	Composer ports.EmailComposer
	// Mailer sends them.
	Mailer ports.Mailer
}

// SendVerification mails u a verification link signed at at.
func (e Emails) SendVerification(ctx context.Context, u core.User, at time.Time) error {
	link, err := e.Links.Sign(u, at)
	if err != nil {
		return err
	}
	msg, err := e.Composer.ComposeVerification(ctx, u.Public(), link)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	// The caller says which e-mail failed; the mailer's error is its own.
	return e.Mailer.Send(ctx, msg)
}

// SendAccountExists tells owner that someone tried to register with their
// address.
func (e Emails) SendAccountExists(ctx context.Context, owner core.User) error {
	msg, err := e.Composer.ComposeAccountExists(ctx, owner.Public())
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return e.Mailer.Send(ctx, msg)
}

func newEvent(ctx context.Context, typ core.EventType, u core.User, now time.Time) core.Event {
	return core.Event{
		ID:          core.NewID(),
		Type:        typ,
		Version:     core.EventVersion,
		OccurredAt:  now.UTC(),
		User:        u.Public(),
		Request:     core.RequestInfoFrom(ctx),
		AvailableAt: now.UTC(),
	}
}
