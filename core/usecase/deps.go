package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Deps is what the account use cases are built from; the app fills it from
// the chosen adapters.
type Deps struct {
	Settings core.Settings
	Store    ports.UserStore
	Outbox   ports.Outbox
	// Mail is the queue of e-mails users owe (the store's).
	Mail     ports.MailQueue
	Hasher   ports.PasswordHasher
	Policy   *core.PasswordPolicy
	Signer   ports.Signer
	URLs     ports.VerificationURLBuilder
	Composer ports.EmailComposer
	Mailer   ports.Mailer
	Tokens   ports.TokenIssuer
	Clock    ports.Clock
	Log      *slog.Logger
	// Limiter counts requests for the THROTTLE_* limits; nil throttles
	// nothing (as RATE_LIMIT_BACKEND=off does).
	Limiter ports.RateLimiter
	// EventsRecorded is called after a change recorded events, so the relay
	// publishes them without waiting for its next poll. May be nil.
	EventsRecorded func()
	// MailQueued is called after a change queued an e-mail for the courier,
	// so it is sent without waiting for the courier's next poll. May be nil.
	MailQueued func()

	// limiterWarned is when the last "limiter unavailable" warning was
	// logged (Unix nanoseconds).
	limiterWarned atomic.Int64
}

func (d *Deps) logger() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

func (d *Deps) eventsRecorded() {
	if d.EventsRecorded != nil {
		d.EventsRecorded()
	}
}

func (d *Deps) mailQueued() {
	if d.MailQueued != nil {
		d.MailQueued()
	}
}

// minMailHold is the least time a registration's user_registered event is
// held back while its verification e-mail is being sent: sending it (by the
// request, or by the courier after a crash) releases it, and so does the
// user's activation; if neither happens, the hold's end does, since the
// user exists.
const minMailHold = 5 * time.Minute

// mailLease is how long an e-mail being sent is leased to its sender before
// the courier may take it over: twice one send's bound.
func (d *Deps) mailLease() time.Duration { return 2 * d.sendTimeout() }

// mailHold is how long a registration's event waits for its e-mail.
func (d *Deps) mailHold() time.Duration { return max(minMailHold, 3*d.mailLease()) }

// sendTimeout bounds one attempt to send an e-mail (MAIL_SEND_TIMEOUT).
func (d *Deps) sendTimeout() time.Duration {
	if d.Settings.MailSendTimeout <= 0 {
		return time.Minute
	}
	return d.Settings.MailSendTimeout
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

// verificationID is what a link's user_id holds for u (USER_VERIFICATION_ID_FIELD).
func (d *Deps) verificationID(u core.User) string {
	switch d.Settings.UserVerificationIDField {
	case "username":
		return u.Username
	case "email":
		return u.Email
	default:
		return u.ID
	}
}

// findByVerificationID finds the user a link's user_id names.
func (d *Deps) findByVerificationID(ctx context.Context, id string) (core.User, error) {
	switch d.Settings.UserVerificationIDField {
	case "username":
		return d.Store.FindUser(ctx, core.ByUsernameKey, core.UsernameKey(id, d.Settings.UsernameCaseInsensitive))
	case "email":
		return d.Store.FindUser(ctx, core.ByEmailKey, core.EmailKey(core.NormalizeEmail(id)))
	default:
		return d.Store.FindUser(ctx, core.ByID, id)
	}
}

// findLogin returns every account a login can name under USER_LOGIN_FIELDS:
// the one whose username it is, the one whose e-mail address it is (an
// address several accounts share names none of them), and the one whose
// e-mail-shaped username it is as an address. The stores keep usernames and
// unique addresses in one namespace, so these are one account or none; the
// callers still check each one's own credentials (the password, the address
// it is mailed at), so that even where addresses need not be unique no
// login can reach an account its owner did not mean.
func (d *Deps) findLogin(ctx context.Context, login string) ([]core.User, error) {
	s := &d.Settings
	var found []core.User
	add := func(field core.LookupField, key string) error {
		if key == "" {
			return nil
		}
		u, err := d.Store.FindUser(ctx, field, key)
		switch {
		case err == nil:
			for _, f := range found {
				if f.ID == u.ID {
					return nil
				}
			}
			found = append(found, u)
			return nil
		case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
			return nil
		default:
			return fmt.Errorf("find user by %s: %w", field, err)
		}
	}
	for _, field := range s.UserLoginFields {
		var err error
		switch field {
		case "username":
			err = add(core.ByUsernameKey, core.UsernameKey(login, s.UsernameCaseInsensitive))
		case "email":
			key := core.EmailKey(core.NormalizeEmail(login))
			if err = add(core.ByEmailKey, key); err == nil {
				err = add(core.ByUsernameEmailKey, key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return found, nil
}

// sendVerification mails u a link signed at at.
func (d *Deps) sendVerification(ctx context.Context, u core.User, at time.Time) error {
	link, err := d.SignVerification(u, at)
	if err != nil {
		return err
	}
	msg, err := d.Composer.ComposeVerification(ctx, u.Public(), link)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return d.Mailer.Send(ctx, msg)
}

// SignVerification returns the verification link for u at time at: the
// signed parameters of spec/signing.md appended to REGISTER_VERIFICATION_URL.
func (d *Deps) SignVerification(u core.User, at time.Time) (string, error) {
	userID := d.verificationID(u)
	ts := strconv.FormatInt(at.Unix(), 10)
	data := map[string]string{"user_id": userID, "timestamp": ts}
	sig := d.Signer.Sign(data, core.RegisterSalt(d.Settings.RegisterVerificationOneTimeUse, u.IsActive))
	link, err := d.URLs.BuildVerificationURL(userID, ts, sig)
	if err != nil {
		return "", fmt.Errorf("build verification url: %w", err)
	}
	return link, nil
}
