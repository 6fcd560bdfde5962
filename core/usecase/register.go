package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
	"github.com/restreg/restreg/ports"
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

// RegisterConfig is the part of the settings register/ follows.
type RegisterConfig struct {
	// Enabled is REGISTER_FLOW_ENABLED.
	Enabled bool
	// Verification is REGISTER_VERIFICATION_ENABLED: new users are inactive
	// and mailed a link.
	Verification bool
	// EnumerationSafe is REGISTER_ENUMERATION_SAFE.
	EnumerationSafe bool
	// PasswordConfirm is REGISTER_SERIALIZER_PASSWORD_CONFIRM.
	PasswordConfirm bool
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE.
	UsernameCaseInsensitive bool
	// EmailUnique is USER_EMAIL_UNIQUE.
	EmailUnique bool
	// ThrottleIP and ThrottleEmail are THROTTLE_REGISTER_IP and
	// THROTTLE_REGISTER_EMAIL.
	ThrottleIP, ThrottleEmail string
	// MailSendTimeout is MAIL_SEND_TIMEOUT, the bound of the send on the
	// request path.
	MailSendTimeout time.Duration
}

// NewRegisterConfig returns the RegisterConfig of settings s.
func NewRegisterConfig(s core.Settings) RegisterConfig {
	return RegisterConfig{
		Enabled:                 s.RegisterFlowEnabled,
		Verification:            s.RegisterVerificationEnabled,
		EnumerationSafe:         s.RegisterEnumerationSafe,
		PasswordConfirm:         s.RegisterSerializerPasswordConfirm,
		UsernameCaseInsensitive: s.UsernameCaseInsensitive,
		EmailUnique:             s.UserEmailUnique,
		ThrottleIP:              s.ThrottleRegisterIP,
		ThrottleEmail:           s.ThrottleRegisterEmail,
		MailSendTimeout:         s.MailSendTimeout,
	}
}

// Register creates an account: POST register/.
type Register struct {
	cfg      RegisterConfig
	store    ports.UserStore
	mail     ports.MailQueue
	hasher   ports.PasswordHasher
	policy   *core.PasswordPolicy
	emails   Emails
	throttle *Throttle
	clock    ports.Clock
	// events wakes the relay after a user_registered event was recorded;
	// mailQueued wakes the courier after an e-mail was queued for it.
	events, mailQueued Notifier
	log                *slog.Logger
	handle             decorator.CommandHandler[RegisterInput, core.PublicUser]
}

// NewRegister returns the register use case. It stores users in store and
// records the e-mail it sent itself in mail, hashes with hasher under
// policy, sends verification e-mails with emails, counts requests with
// throttle (nil: none), and wakes events (the relay) and mailQueued (the
// courier) after recording work for them (nil: nobody to wake).
func NewRegister(cfg RegisterConfig, store ports.UserStore, mail ports.MailQueue, hasher ports.PasswordHasher,
	policy *core.PasswordPolicy, emails Emails, throttle *Throttle, clock ports.Clock,
	events, mailQueued Notifier, log *slog.Logger,
) *Register {
	if log == nil {
		log = slog.Default()
	}
	r := &Register{cfg: cfg, store: store, mail: mail, hasher: hasher, policy: policy, emails: emails,
		throttle: throttle, clock: clock, events: events, mailQueued: mailQueued, log: log}
	r.handle = decorator.ApplyDecorators("register", decorator.HandlerFunc[RegisterInput, core.PublicUser](r.register), log)
	return r
}

var (
	usernameField  = charField{name: "username", required: true, maxLength: 150}
	emailField     = charField{name: "email", allowBlank: true, maxLength: 254}
	firstNameField = charField{name: "first_name", allowBlank: true, maxLength: 150}
	lastNameField  = charField{name: "last_name", allowBlank: true, maxLength: 150}
	passwordField  = charField{name: "password", required: true}
	confirmField   = charField{name: "password_confirm", required: true}
)

// Handle registers in; see register. The decorators of package decorator
// wrap it.
func (r *Register) Handle(ctx context.Context, in RegisterInput) (core.PublicUser, error) {
	return r.handle.Handle(ctx, in)
}

// register validates in, stores the user with its user_registered event and,
// with verification on, the verification e-mail it owes (in the same atomic
// write), then sends that e-mail before answering.
//
// The e-mail is queued with the user, so no crash loses it: if the process
// dies before the send finished, the courier sends it once the request's
// lease ends. The user_registered event is held until the e-mail went out
// (or the user was activated), so a mail that fails for good, which undoes
// the registration, never announces a user who does not exist, and the
// event never follows the user's user_activated.
//
// The client's address is counted against THROTTLE_REGISTER_IP before
// anything else (so rejected requests count too), the mailbox against
// THROTTLE_REGISTER_EMAIL once every validation stage passed (so malformed
// requests never use up an address's allowance).
//
// With REGISTER_ENUMERATION_SAFE, an e-mail address that already has an
// account is not an error, and both kinds of registration do the same work
// on the request path — hash the password, one store write, no e-mail —
// and answer alike: a new address gets an inactive user owing its
// verification e-mail; a taken one gets a placeholder that holds the
// submitted username (so later requests see it taken either way), can never
// log in or be verified, and owes the address's owner a notice. The courier
// sends both e-mails after the answer.
//
// Errors: *core.ValidationError (stages 1 and 2 of the contract),
// *core.DetailError (no e-mail to verify), *core.ThrottledError,
// core.ErrFlowDisabled, core.ErrOverloaded, core.ErrUnavailable.
func (r *Register) register(ctx context.Context, in RegisterInput) (core.PublicUser, error) {
	s := &r.cfg
	if !s.Enabled {
		return core.PublicUser{}, core.ErrFlowDisabled
	}
	if err := r.throttle.count(ctx, ruleRegisterIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return core.PublicUser{}, err
	}

	// Stage 1: field checks and uniqueness, all fields at once.
	f, err := r.checkFields(ctx, in)
	if err != nil {
		return core.PublicUser{}, err
	}

	// Stage 2: password policy and confirmation together.
	pwErrs := &core.ValidationError{ShowNonFieldErrors: true, NonFieldErrors: []string{}}
	for _, msg := range r.policy.Validate(f.password, core.PasswordAttributes{Username: f.username, FirstName: f.firstName, LastName: f.lastName, Email: f.email}) {
		pwErrs.Add("password", msg)
	}
	if s.PasswordConfirm && f.password != f.confirm {
		pwErrs.Add("password_confirm", core.MsgPasswordsMismatch)
	}
	if len(pwErrs.Fields) > 0 {
		return core.PublicUser{}, pwErrs
	}

	// Stage 3: a user who cannot receive a link cannot be verified.
	if s.Verification && f.email == "" {
		return core.PublicUser{}, core.Detail(core.MsgNoEmail)
	}

	normEmail := core.NormalizeEmail(f.email)
	if err := r.throttle.countEmail(ctx, ruleRegisterEmail, s.ThrottleEmail, normEmail); err != nil {
		return core.PublicUser{}, err
	}

	hash, err := r.hasher.Hash(ctx, f.password)
	if err != nil {
		return core.PublicUser{}, fmt.Errorf("register: hash password: %w", err)
	}
	now := r.clock.Now().UTC()
	u := core.User{
		ID:               core.NewID(),
		Username:         core.NormalizeUsername(f.username),
		UsernameKey:      core.UsernameKey(f.username, s.UsernameCaseInsensitive),
		UsernameEmailKey: core.UsernameEmailKey(f.username),
		Email:            normEmail,
		EmailKey:         core.EmailKey(normEmail),
		FirstName:        f.firstName,
		LastName:         f.lastName,
		PasswordHash:     hash,
		IsActive:         !s.Verification,
		CreatedAt:        now,
	}
	if s.EmailUnique {
		u.UniqueEmailKey = u.EmailKey
	}
	if f.owner != nil {
		return r.accountExists(ctx, *f.owner, u)
	}
	ev := newEvent(ctx, core.EventUserRegistered, u, now)
	if s.Verification {
		ev.AvailableAt = now.Add(mailHold(s.MailSendTimeout))
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: now}
		if !s.EnumerationSafe {
			// This request sends it: the courier waits for the lease.
			u.Mail.DueAt = now.Add(mailLease(s.MailSendTimeout))
		}
	}
	if err := r.store.CreateUser(ctx, u, ev); err != nil {
		if errors.Is(err, core.ErrEmailTaken) && !errors.Is(err, core.ErrUsernameTaken) && s.EnumerationSafe {
			// Another request took the address since stage 1.
			existing, _, lerr := r.lookup(ctx, "email", core.ByEmailKey, u.EmailKey)
			if lerr != nil {
				return core.PublicUser{}, lerr
			}
			return r.accountExists(ctx, existing, u)
		}
		return core.PublicUser{}, conflictError(err)
	}

	switch {
	case !s.Verification:
	case s.EnumerationSafe:
		wake(r.mailQueued)
	default:
		if err := r.sendNow(ctx, u); err != nil {
			return core.PublicUser{}, err
		}
	}
	wake(r.events)
	return u.Public(), nil
}

// sendNow sends a new user's verification e-mail on the request path, so a
// mail provider that is down answers 503 with nothing registered: the user
// is removed again. It finishes even if the client leaves.
func (r *Register) sendNow(ctx context.Context, u core.User) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendBound(r.cfg.MailSendTimeout))
	defer cancel()
	at := r.clock.Now()
	if err := r.emails.SendVerification(sctx, u, at); err != nil {
		if derr := r.store.DeleteInactiveUser(sctx, u.ID); derr != nil {
			// The user and its queued e-mail stay: the courier sends it
			// once the lease ends, so the account is still usable.
			r.log.ErrorContext(ctx, "could not remove a user whose verification e-mail failed; the courier will retry the e-mail", "user_id", u.ID, "error", derr)
		}
		return fmt.Errorf("register: send verification e-mail: %w", asUnavailable(err))
	}
	if err := r.mail.CompleteMail(sctx, u.ID, core.MailVerification, u.Mail.DueAt, at.UTC()); err != nil {
		// Sent but not recorded: the courier sends it again after the
		// lease (at least once), and releases the event then.
		r.log.WarnContext(ctx, "verification e-mail sent but not recorded; it may be sent twice", "user_id", u.ID, "error", err)
	}
	return nil
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
	s := &r.cfg
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
			taken, err := r.usernameTaken(ctx, username)
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
		if okEmail && s.EmailUnique {
			existing, taken, err := r.emailTaken(ctx, email)
			if err != nil {
				return fields{}, err
			}
			switch {
			case taken && s.EnumerationSafe:
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
	if s.PasswordConfirm {
		confirm, _ = confirmField.clean(in.PasswordConfirm, errs)
	}
	if okUsername && okEmail && s.EnumerationSafe {
		r.checkOwnAddress(username, email, errs)
	}
	if !errs.Empty() {
		return fields{}, errs
	}

	return fields{username: username, email: email, firstName: firstName, lastName: lastName, password: password, confirm: confirm, owner: owner}, nil
}

// accountExists answers a registration whose e-mail address owner already
// has (REGISTER_ENUMERATION_SAFE) exactly as if would-be had been created —
// its fresh id, the submitted fields — after the same work: one store write,
// of a placeholder that holds the submitted username and owes the owner a
// notice. The placeholder has no address and an unusable password, so it
// can never log in, be verified or be mailed a link.
func (r *Register) accountExists(ctx context.Context, owner, wouldBe core.User) (core.PublicUser, error) {
	placeholder := core.User{
		ID:           wouldBe.ID,
		Username:     wouldBe.Username,
		UsernameKey:  wouldBe.UsernameKey,
		PasswordHash: core.UnusablePassword,
		CreatedAt:    wouldBe.CreatedAt,
	}
	if owner.ID != "" {
		placeholder.Mail = core.PendingMail{Kind: core.MailAccountExists, To: owner.ID, DueAt: wouldBe.CreatedAt}
	} else {
		// Several accounts share the address (e-mails were not always
		// unique): there is no one owner to tell.
		r.log.InfoContext(ctx, "registration with an address several accounts share: no notice sent")
	}
	if err := r.store.CreateUser(ctx, placeholder); err != nil {
		return core.PublicUser{}, conflictError(err)
	}
	wake(r.mailQueued)
	return wouldBe.Public(), nil
}

// MsgUsernameNotOwnEmail refuses, with REGISTER_ENUMERATION_SAFE, a username
// that is an e-mail address other than the registration's own: whether it
// is another account's address must not show.
const MsgUsernameNotOwnEmail = "Enter a valid username. An email address may only be used as the username by its owner."

// usernameTaken reports whether username is taken: by another account's
// username, or — usernames and addresses sharing one namespace — when it is
// an address, by another account's e-mail-shaped username or address. With
// REGISTER_ENUMERATION_SAFE only usernames are compared (they are public);
// checkOwnAddress keeps addresses out of the namespace clash instead.
func (r *Register) usernameTaken(ctx context.Context, username string) (bool, error) {
	s := &r.cfg
	_, taken, err := r.lookup(ctx, "username", core.ByUsernameKey, core.UsernameKey(username, s.UsernameCaseInsensitive))
	if err != nil || taken || s.EnumerationSafe {
		return taken, err
	}
	key := core.UsernameEmailKey(username)
	if key == "" {
		return false, nil
	}
	if _, taken, err = r.lookup(ctx, "username", core.ByUsernameEmailKey, key); err != nil || taken {
		return taken, err
	}
	_, taken, err = r.lookup(ctx, "username", core.ByEmailKey, key)
	return taken, err
}

// emailTaken returns the account that has the address email, as its
// address or as its e-mail-shaped username, and whether there is one.
func (r *Register) emailTaken(ctx context.Context, email string) (core.User, bool, error) {
	key := core.EmailKey(core.NormalizeEmail(email))
	existing, taken, err := r.lookup(ctx, "email", core.ByEmailKey, key)
	if err != nil || taken {
		return existing, taken, err
	}
	return r.lookup(ctx, "email", core.ByUsernameEmailKey, key)
}

// checkOwnAddress refuses an e-mail-shaped username that is not the
// registration's own address (REGISTER_ENUMERATION_SAFE): the answer then
// depends on nothing but the request.
func (r *Register) checkOwnAddress(username, email string, errs *core.ValidationError) {
	key := core.UsernameEmailKey(username)
	if key != "" && key != core.EmailKey(core.NormalizeEmail(email)) {
		errs.Add("username", MsgUsernameNotOwnEmail)
	}
}

// lookup returns the user with the given key and whether one is stored; an
// ambiguous e-mail (several users) counts as taken, with the zero user.
func (r *Register) lookup(ctx context.Context, what string, field core.LookupField, key string) (core.User, bool, error) {
	u, err := r.store.FindUser(ctx, field, key)
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
