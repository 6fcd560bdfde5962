package usecase

import (
	"context"
	"errors"
	"fmt"

	"github.com/restreg/restreg/core"
)

// RegisterInput is a registration request as the client sent it.
type RegisterInput struct {
	Username        core.Value
	Email           core.Value
	FirstName       core.Value
	LastName        core.Value
	Password        core.Value
	PasswordConfirm core.Value
}

// Register creates an account: POST register/.
type Register struct {
	d *Deps
}

// NewRegister returns the register use case.
func NewRegister(d *Deps) *Register { return &Register{d: d} }

var (
	usernameField  = charField{name: "username", required: true, maxLength: 150}
	emailField     = charField{name: "email", allowBlank: true, maxLength: 254}
	firstNameField = charField{name: "first_name", allowBlank: true, maxLength: 150}
	lastNameField  = charField{name: "last_name", allowBlank: true, maxLength: 150}
	passwordField  = charField{name: "password", required: true}
	confirmField   = charField{name: "password_confirm", required: true}
)

// Handle validates in, stores the user with its user_registered event and,
// with verification on, mails the signed link before answering.
//
// Errors: *core.ValidationError (stages 1 and 2 of the contract),
// *core.DetailError (no e-mail to verify), core.ErrFlowDisabled,
// core.ErrOverloaded, core.ErrUnavailable.
func (r *Register) Handle(ctx context.Context, in RegisterInput) (core.PublicUser, error) {
	d := r.d
	s := &d.Settings
	if !s.RegisterFlowEnabled {
		return core.PublicUser{}, core.ErrFlowDisabled
	}

	// Stage 1: field checks and uniqueness, all fields at once.
	errs := &core.ValidationError{}
	username, okUsername := usernameField.clean(in.Username, errs)
	if okUsername {
		// DRF's validator order for the username: format, uniqueness, length, NUL.
		validFormat := core.IsValidUsername(username)
		if !validFormat {
			errs.Add("username", core.MsgInvalidUsername)
		}
		if validFormat && core.CharCount(username) <= usernameField.maxLength {
			taken, err := r.exists(ctx, "username", core.ByUsernameKey, core.UsernameKey(username, s.UsernameCaseInsensitive))
			if err != nil {
				return core.PublicUser{}, err
			}
			if taken {
				errs.Add("username", core.MsgUsernameExists)
			}
		}
		usernameField.lengthAndNulls(username, errs)
	}
	email, okEmail := emailField.clean(in.Email, errs)
	if okEmail && email != "" {
		okEmail = emailField.lengthAndNulls(email, errs)
		if !core.IsValidEmail(email) {
			errs.Add("email", core.MsgInvalidEmail)
			okEmail = false
		}
		if okEmail && s.UserEmailUnique {
			taken, err := r.exists(ctx, "email", core.ByEmailKey, core.EmailKey(core.NormalizeEmail(email)))
			if err != nil {
				return core.PublicUser{}, err
			}
			if taken {
				errs.Add("email", core.MsgEmailExists)
			}
		}
	}
	firstName, okFirst := firstNameField.clean(in.FirstName, errs)
	if okFirst && firstName != "" {
		firstNameField.lengthAndNulls(firstName, errs)
	}
	lastName, okLast := lastNameField.clean(in.LastName, errs)
	if okLast && lastName != "" {
		lastNameField.lengthAndNulls(lastName, errs)
	}
	password, _ := passwordField.clean(in.Password, errs)
	var confirm string
	if s.RegisterSerializerPasswordConfirm {
		confirm, _ = confirmField.clean(in.PasswordConfirm, errs)
	}
	if !errs.Empty() {
		return core.PublicUser{}, errs
	}

	// Stage 2: password policy and confirmation together.
	pwErrs := &core.ValidationError{ShowNonFieldErrors: true, NonFieldErrors: []string{}}
	for _, msg := range d.Policy.Validate(password, core.PasswordAttributes{Username: username, FirstName: firstName, LastName: lastName, Email: email}) {
		pwErrs.Add("password", msg)
	}
	if s.RegisterSerializerPasswordConfirm && password != confirm {
		pwErrs.Add("password_confirm", core.MsgPasswordsMismatch)
	}
	if len(pwErrs.Fields) > 0 {
		return core.PublicUser{}, pwErrs
	}

	// Stage 3: a user who cannot receive a link cannot be verified.
	if s.RegisterVerificationEnabled && email == "" {
		return core.PublicUser{}, core.Detail(core.MsgNoEmail)
	}

	hash, err := d.Hasher.Hash(ctx, password)
	if err != nil {
		return core.PublicUser{}, fmt.Errorf("register: hash password: %w", err)
	}
	now := d.Clock.Now().UTC()
	normEmail := core.NormalizeEmail(email)
	u := core.User{
		ID:           core.NewID(),
		Username:     core.NormalizeUsername(username),
		UsernameKey:  core.UsernameKey(username, s.UsernameCaseInsensitive),
		Email:        normEmail,
		EmailKey:     core.EmailKey(normEmail),
		FirstName:    firstName,
		LastName:     lastName,
		PasswordHash: hash,
		IsActive:     !s.RegisterVerificationEnabled,
		CreatedAt:    now,
	}
	if s.UserEmailUnique {
		u.UniqueEmailKey = u.EmailKey
	}
	ev := newEvent(ctx, core.EventUserRegistered, u, now)
	if s.RegisterVerificationEnabled {
		ev.AvailableAt = now.Add(mailHold)
	}
	if err := d.Store.CreateUser(ctx, u, ev); err != nil {
		return core.PublicUser{}, conflictError(err)
	}

	if s.RegisterVerificationEnabled {
		// The user exists now: finish (mail or undo) even if the client leaves.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sideEffectTimeout)
		defer cancel()
		if err := r.sendVerification(sctx, u); err != nil {
			if derr := d.Store.DeleteInactiveUser(sctx, u.ID); derr != nil {
				d.logger().ErrorContext(ctx, "could not remove a user whose verification e-mail failed", "user_id", u.ID, "error", derr)
			}
			return core.PublicUser{}, fmt.Errorf("register: send verification e-mail: %w", asUnavailable(err))
		}
		if err := d.Outbox.ReleaseEvents(sctx, u.ID, d.Clock.Now().UTC()); err != nil {
			d.logger().WarnContext(ctx, "user_registered event stays held until its hold ends", "user_id", u.ID, "error", err)
		}
	}
	d.eventsRecorded()
	return u.Public(), nil
}

func (r *Register) sendVerification(ctx context.Context, u core.User) error {
	d := r.d
	link, err := d.SignVerification(u, d.Clock.Now())
	if err != nil {
		return err
	}
	msg, err := d.Composer.ComposeVerification(ctx, u.Public(), link)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return d.Mailer.Send(ctx, msg)
}

// exists reports whether a user with the given key is stored; an ambiguous
// e-mail (several users) counts as taken.
func (r *Register) exists(ctx context.Context, what string, field core.LookupField, key string) (bool, error) {
	_, err := r.d.Store.FindUser(ctx, field, key)
	switch {
	case err == nil, errors.Is(err, core.ErrAmbiguous):
		return true, nil
	case errors.Is(err, core.ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("register: check %s: %w", what, err)
	}
}

// conflictError turns a uniqueness conflict found at insert time (two
// requests racing) into the same answer the stage-1 check gives.
func conflictError(err error) error {
	switch {
	case errors.Is(err, core.ErrUsernameTaken):
		return &core.ValidationError{Fields: map[string][]string{"username": {core.MsgUsernameExists}}}
	case errors.Is(err, core.ErrEmailTaken):
		return &core.ValidationError{Fields: map[string][]string{"email": {core.MsgEmailExists}}}
	default:
		return fmt.Errorf("register: store user: %w", err)
	}
}

// asUnavailable marks any mail failure as a dependency outage: the contract
// answers 503 whatever the provider said.
func asUnavailable(err error) error {
	if errors.Is(err, core.ErrUnavailable) {
		return err
	}
	return errors.Join(core.ErrUnavailable, err)
}
