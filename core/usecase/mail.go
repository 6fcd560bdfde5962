package usecase

import (
	"context"
	"errors"
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

// AccountEmails composes and sends the e-mails of the account flows after
// registration, which the courier takes from the account mail queue
// (ports.AccountMailQueue): reset-password links, verify-email links to a
// new address and the notice to a previous address.
type AccountEmails struct {
	// Finder resolves a reset request's login after the answer.
	Finder ResetFinder
	// ResetLinks signs reset-password links.
	ResetLinks ResetLinks
	// EmailLinks signs verify-email links.
	EmailLinks EmailLinks
	// EmailUnique is USER_EMAIL_UNIQUE: a new address another account has
	// gets the "already in use" notice instead of a link.
	EmailUnique bool
	// Composer renders the messages.
	Composer ports.EmailComposer
	// Mailer sends them.
	Mailer ports.Mailer
}

// send composes and sends m; sent is false when there was nothing to send
// any more (no account to mail, the account gone or inactive, the link
// expired while queued). Errors wrapping core.ErrUnavailable may succeed
// later.
func (e AccountEmails) send(ctx context.Context, m core.QueuedMail, now time.Time) (sent bool, err error) {
	store := e.Finder.Logins.Store
	switch m.Kind {
	case core.MailResetPassword:
		if now.Sub(m.CreatedAt) > e.ResetLinks.Period {
			return false, nil
		}
		var users []core.User
		if m.UserID != "" {
			users, err = e.byID(ctx, m.UserID)
		} else {
			users, err = e.Finder.Find(ctx, m.Login)
		}
		if err != nil {
			return false, err
		}
		for _, u := range users {
			if u.Email == "" {
				continue
			}
			link, err := e.ResetLinks.Sign(u, m.CreatedAt)
			if err != nil {
				return sent, err
			}
			msg, err := e.Composer.ComposeResetPassword(ctx, u.Public(), link)
			if err != nil {
				return sent, fmt.Errorf("compose: %w", err)
			}
			if err := e.Mailer.Send(ctx, msg); err != nil {
				return sent, err
			}
			sent = true
		}
		return sent, nil
	case core.MailRegisterEmail:
		if now.Sub(m.CreatedAt) > e.EmailLinks.Period {
			return false, nil
		}
		users, err := e.byID(ctx, m.UserID)
		if err != nil || len(users) == 0 || !users[0].IsActive {
			return false, err
		}
		u := users[0]
		used := false
		if e.EmailUnique {
			key := core.EmailKey(core.NormalizeEmail(m.Address))
			for _, field := range []core.LookupField{core.ByEmailKey, core.ByUsernameEmailKey} {
				_, ferr := store.FindUser(ctx, field, key)
				switch {
				case ferr == nil, errors.Is(ferr, core.ErrAmbiguous):
					used = true
				case !errors.Is(ferr, core.ErrNotFound):
					return false, fmt.Errorf("check the new address: %w", ferr)
				}
			}
		}
		link := ""
		if !used {
			if link, err = e.EmailLinks.Sign(u, m.Address, m.CreatedAt); err != nil {
				return false, err
			}
		}
		msg, err := e.Composer.ComposeRegisterEmail(ctx, u.Public(), m.Address, link, used)
		if err != nil {
			return false, fmt.Errorf("compose: %w", err)
		}
		return true, e.Mailer.Send(ctx, msg)
	case core.MailEmailChanged:
		users, err := e.byID(ctx, m.UserID)
		if err != nil || len(users) == 0 {
			return false, err
		}
		msg, err := e.Composer.ComposeEmailChanged(ctx, users[0].Public(), m.Address)
		if err != nil {
			return false, fmt.Errorf("compose: %w", err)
		}
		return true, e.Mailer.Send(ctx, msg)
	default:
		return false, fmt.Errorf("unknown e-mail kind %q", m.Kind)
	}
}

// byID returns the user id names, or none when there is no such user.
func (e AccountEmails) byID(ctx context.Context, id string) ([]core.User, error) {
	u, err := e.Finder.Logins.Store.FindUser(ctx, core.ByID, id)
	switch {
	case err == nil:
		return []core.User{u}, nil
	case errors.Is(err, core.ErrNotFound):
		return nil, nil
	default:
		return nil, fmt.Errorf("find user: %w", err)
	}
}
