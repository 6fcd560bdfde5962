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

// mailHold is how long a registration's user_registered event is held back
// while its verification e-mail is being sent. If the process dies before
// the outcome is known, the event is still published once the hold ends.
const mailHold = 5 * time.Minute

// sideEffectTimeout bounds the work a request finishes after its state
// changed (sending mail, undoing), even if the client went away.
const sideEffectTimeout = 60 * time.Second

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

// findLogin finds the user a login names, trying each of USER_LOGIN_FIELDS
// in order; found is false when none matches (an e-mail several users share
// matches none).
func (d *Deps) findLogin(ctx context.Context, login string) (u core.User, found bool, err error) {
	s := &d.Settings
	for _, field := range s.UserLoginFields {
		switch field {
		case "username":
			u, err = d.Store.FindUser(ctx, core.ByUsernameKey, core.UsernameKey(login, s.UsernameCaseInsensitive))
		case "email":
			u, err = d.Store.FindUser(ctx, core.ByEmailKey, core.EmailKey(core.NormalizeEmail(login)))
		default:
			continue
		}
		switch {
		case err == nil:
			return u, true, nil
		case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
			continue
		default:
			return core.User{}, false, fmt.Errorf("find user: %w", err)
		}
	}
	return core.User{}, false, nil
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
