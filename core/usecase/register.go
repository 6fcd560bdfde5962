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
// The client's address is counted against THROTTLE_REGISTER_IP before
// anything else (so rejected requests count too), the e-mail address against
// THROTTLE_REGISTER_EMAIL once every validation stage passed (so malformed
// requests never use up an address's allowance).
//
// With REGISTER_ENUMERATION_SAFE, an e-mail address that already has an
// account is not an error: the answer has the shape of a new registration,
// nothing is stored or recorded, and the owner of the address is told by
// e-mail instead. The password is hashed all the same, so the answer takes
// as long.
//
// Errors: *core.ValidationError (stages 1 and 2 of the contract),
// *core.DetailError (no e-mail to verify), *core.ThrottledError,
// core.ErrFlowDisabled, core.ErrOverloaded, core.ErrUnavailable.
func (r *Register) Handle(ctx context.Context, in RegisterInput) (core.PublicUser, error) {
	d := r.d
	s := &d.Settings
	if !s.RegisterFlowEnabled {
		return core.PublicUser{}, core.ErrFlowDisabled
	}
	if err := d.throttle(ctx, ruleRegisterIP, s.ThrottleRegisterIP, clientKey(ctx)); err != nil {
		return core.PublicUser{}, err
	}

	// Stage 1: field checks and uniqueness, all fields at once.
	f, err := r.checkFields(ctx, in)
	if err != nil {
		return core.PublicUser{}, err
	}

	// Stage 2: password policy and confirmation together.
	pwErrs := &core.ValidationError{ShowNonFieldErrors: true, NonFieldErrors: []string{}}
	for _, msg := range d.Policy.Validate(f.password, core.PasswordAttributes{Username: f.username, FirstName: f.firstName, LastName: f.lastName, Email: f.email}) {
		pwErrs.Add("password", msg)
	}
	if s.RegisterSerializerPasswordConfirm && f.password != f.confirm {
		pwErrs.Add("password_confirm", core.MsgPasswordsMismatch)
	}
	if len(pwErrs.Fields) > 0 {
		return core.PublicUser{}, pwErrs
	}

	// Stage 3: a user who cannot receive a link cannot be verified.
	if s.RegisterVerificationEnabled && f.email == "" {
		return core.PublicUser{}, core.Detail(core.MsgNoEmail)
	}

	normEmail := core.NormalizeEmail(f.email)
	if f.email != "" {
		if err := d.throttle(ctx, ruleRegisterEmail, s.ThrottleRegisterEmail, core.EmailKey(normEmail)); err != nil {
			return core.PublicUser{}, err
		}
	}

	hash, err := d.Hasher.Hash(ctx, f.password)
	if err != nil {
		return core.PublicUser{}, fmt.Errorf("register: hash password: %w", err)
	}
	now := d.Clock.Now().UTC()
	u := core.User{
		ID:           core.NewID(),
		Username:     core.NormalizeUsername(f.username),
		UsernameKey:  core.UsernameKey(f.username, s.UsernameCaseInsensitive),
		Email:        normEmail,
		EmailKey:     core.EmailKey(normEmail),
		FirstName:    f.firstName,
		LastName:     f.lastName,
		PasswordHash: hash,
		IsActive:     !s.RegisterVerificationEnabled,
		CreatedAt:    now,
	}
	if s.UserEmailUnique {
		u.UniqueEmailKey = u.EmailKey
	}
	if f.owner != nil {
		return r.accountExists(ctx, *f.owner, u)
	}
	if s.RegisterVerificationEnabled {
		u.VerificationSentAt = now
	}
	ev := newEvent(ctx, core.EventUserRegistered, u, now)
	if s.RegisterVerificationEnabled {
		ev.AvailableAt = now.Add(mailHold)
	}
	if err := d.Store.CreateUser(ctx, u, ev); err != nil {
		if errors.Is(err, core.ErrEmailTaken) && !errors.Is(err, core.ErrUsernameTaken) && s.RegisterEnumerationSafe {
			// Another request took the address since stage 1.
			existing, _, lerr := r.lookup(ctx, "email", core.ByEmailKey, u.EmailKey)
			if lerr != nil {
				return core.PublicUser{}, lerr
			}
			return r.accountExists(ctx, existing, u)
		}
		return core.PublicUser{}, conflictError(err)
	}

	if s.RegisterVerificationEnabled {
		// The user exists now: finish (mail or undo) even if the client leaves.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sideEffectTimeout)
		defer cancel()
		if err := d.sendVerification(sctx, u, d.Clock.Now()); err != nil {
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

// fields are the values of a registration that passed stage 1.
type fields struct {
	username, email, firstName, lastName, password, confirm string
	// owner is the account that already has the e-mail address when
	// REGISTER_ENUMERATION_SAFE hides that it is taken (the zero user when
	// several accounts share it); nil otherwise.
	owner *core.User
}

// checkFields is stage 1: every field's checks and the uniqueness checks, all
// fields at once, in DRF's order. Errors: *core.ValidationError, lookup
// failures.
func (r *Register) checkFields(ctx context.Context, in RegisterInput) (fields, error) {
	s := &r.d.Settings
	errs := &core.ValidationError{}
	username, okUsername := usernameField.parse(in.Username, errs)
	if okUsername {
		// DRF's validator order for the username: format, uniqueness, length,
		// NUL. Format and length hold for the name as sent and for the NFKC
		// form that is stored.
		validFormat := core.IsValidStoredUsername(username)
		if !validFormat {
			errs.Add("username", core.MsgInvalidUsername)
		}
		length := core.UsernameLength(username)
		if validFormat && length <= usernameField.maxLength {
			_, taken, err := r.lookup(ctx, "username", core.ByUsernameKey, core.UsernameKey(username, s.UsernameCaseInsensitive))
			if err != nil {
				return fields{}, err
			}
			if taken {
				errs.Add("username", core.MsgUsernameExists)
			}
		}
		usernameField.validate(username, length, errs)
	}
	var owner *core.User
	email, okEmail := emailField.clean(in.Email, errs)
	if email != "" {
		// DRF's EmailField runs its EmailValidator after the CharField ones,
		// whether they passed or not.
		if !core.IsValidEmail(email) {
			errs.Add("email", core.MsgInvalidEmail)
			okEmail = false
		}
		if okEmail && s.UserEmailUnique {
			existing, taken, err := r.lookup(ctx, "email", core.ByEmailKey, core.EmailKey(core.NormalizeEmail(email)))
			if err != nil {
				return fields{}, err
			}
			switch {
			case taken && s.RegisterEnumerationSafe:
				owner = &existing
			case taken:
				errs.Add("email", core.MsgEmailExists)
			}
		}
	}
	firstName, _ := firstNameField.clean(in.FirstName, errs)
	lastName, _ := lastNameField.clean(in.LastName, errs)
	password, _ := passwordField.clean(in.Password, errs)
	var confirm string
	if s.RegisterSerializerPasswordConfirm {
		confirm, _ = confirmField.clean(in.PasswordConfirm, errs)
	}
	if !errs.Empty() {
		return fields{}, errs
	}

	return fields{username: username, email: email, firstName: firstName, lastName: lastName, password: password, confirm: confirm, owner: owner}, nil
}

// accountExists answers a registration whose e-mail address owner already
// has (REGISTER_ENUMERATION_SAFE) exactly as if would-be had been created —
// a fresh id, the submitted fields — while storing and recording nothing,
// and mails the owner a notice instead of a link. Like a real registration
// it answers 503 when that e-mail cannot be sent with verification on.
func (r *Register) accountExists(ctx context.Context, owner, wouldBe core.User) (core.PublicUser, error) {
	d := r.d
	if owner.ID == "" {
		// Several accounts share the address (e-mails were not always
		// unique): there is no one owner to tell.
		d.logger().InfoContext(ctx, "registration with an address several accounts share: no notice sent")
		return wouldBe.Public(), nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sideEffectTimeout)
	defer cancel()
	err := func() error {
		msg, err := d.Composer.ComposeAccountExists(sctx, owner.Public())
		if err != nil {
			return fmt.Errorf("compose: %w", err)
		}
		return d.Mailer.Send(sctx, msg)
	}()
	if err != nil {
		if d.Settings.RegisterVerificationEnabled {
			return core.PublicUser{}, fmt.Errorf("register: send account-exists e-mail: %w", asUnavailable(err))
		}
		d.logger().WarnContext(ctx, "account-exists e-mail not sent", "user_id", owner.ID, "error", err)
	}
	return wouldBe.Public(), nil
}

// lookup returns the user with the given key and whether one is stored; an
// ambiguous e-mail (several users) counts as taken, with the zero user.
func (r *Register) lookup(ctx context.Context, what string, field core.LookupField, key string) (core.User, bool, error) {
	u, err := r.d.Store.FindUser(ctx, field, key)
	switch {
	case err == nil:
		return u, true, nil
	case errors.Is(err, core.ErrAmbiguous):
		return core.User{}, true, nil
	case errors.Is(err, core.ErrNotFound):
		return core.User{}, false, nil
	default:
		return core.User{}, false, fmt.Errorf("register: check %s: %w", what, err)
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
