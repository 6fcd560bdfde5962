package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
	"github.com/restreg/restreg/ports"
)

// Messages of the authenticated account API (django-rest-registration's).
const (
	MsgLogoutSuccessful     = "Logout successful"
	MsgPasswordChanged      = "Password changed successfully"
	MsgOldPasswordIncorrect = "Old password is not correct"
	MsgInvalidBoolean       = "Must be a valid boolean."
	ruleChangePasswordIP    = "change_password:ip"
	ruleChangePasswordAcct  = "change_password:account"
)

// The user fields of Django's default user model, in the model's order
// (which is the order DRR's profile serializer shows them in when
// USER_PUBLIC_FIELDS does not say otherwise).
var userFieldOrder = []string{"id", "last_login", "username", "first_name", "last_name", "email", "is_active", "date_joined"}

// editableUserFields are the only fields profile/ ever writes: the id is
// the primary key, the address changes through register-email/, and
// last_login, is_active and date_joined are the server's to set.
var editableUserFields = []string{"username", "first_name", "last_name"}

// ProfileFields is which user fields profile/ shows and which it writes
// (DRR's USER_HIDDEN_FIELDS, USER_PUBLIC_FIELDS, USER_EDITABLE_FIELDS).
type ProfileFields struct {
	// Public are the fields shown, in the order shown (the model's).
	Public []string
	// Editable are the fields written, a subset of Public.
	Editable []string
}

// defaultHiddenFields is DRR's USER_HIDDEN_FIELDS for Django's default user.
var defaultHiddenFields = []string{"last_login", "is_active", "date_joined"}

// NewProfileFields applies DRR's rules to the settings. The public fields
// are, in the model's order, those of USER_PUBLIC_FIELDS plus the e-mail
// address when it is set, and otherwise every field but USER_HIDDEN_FIELDS
// (default: last_login, is_active, date_joined). The editable ones are the
// public ones but the id, the address and last_login, narrowed by
// USER_EDITABLE_FIELDS; of those, only username, first_name and last_name
// are ever written (DRR would write is_active and date_joined too when they
// are shown). A field both editable and hidden is neither shown nor
// written.
func NewProfileFields(s core.Settings) ProfileFields {
	hidden := s.UserHiddenFields
	if hidden == nil {
		hidden = defaultHiddenFields
	}
	var f ProfileFields
	for _, name := range userFieldOrder {
		if s.UserPublicFields != nil {
			if slices.Contains(s.UserPublicFields, name) || name == "email" {
				f.Public = append(f.Public, name)
			}
		} else if !slices.Contains(hidden, name) {
			f.Public = append(f.Public, name)
		}
	}
	for _, name := range f.Public {
		if !slices.Contains(editableUserFields, name) {
			continue
		}
		if s.UserEditableFields == nil || slices.Contains(s.UserEditableFields, name) {
			f.Editable = append(f.Editable, name)
		}
	}
	return f
}

// ProfileResult is a profile/ answer: the user as stored now and the fields
// to show of it.
type ProfileResult struct {
	// User is the user after the request.
	User core.User
	// Fields are the public fields, in the order to show them.
	Fields []string
}

// ProfileInput is a profile update as the client sent it.
type ProfileInput struct {
	// Principal is who asks (the authenticated request's).
	Principal Principal
	// Partial is PATCH: absent fields keep their values. POST and PUT need
	// every required field (the username, when it is editable).
	Partial bool
	// Fields are the request's fields; those not editable are ignored.
	Fields map[string]core.Value
}

// ProfileConfig is the part of the settings profile/ follows.
type ProfileConfig struct {
	// Fields are the shown and written fields.
	Fields ProfileFields
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE.
	UsernameCaseInsensitive bool
	// EnumerationSafe is REGISTER_ENUMERATION_SAFE: an e-mail-shaped
	// username must be the user's own address, as at registration.
	EnumerationSafe bool
}

// NewProfileConfig returns the ProfileConfig of settings s.
func NewProfileConfig(s core.Settings) ProfileConfig {
	return ProfileConfig{Fields: NewProfileFields(s), UsernameCaseInsensitive: s.UsernameCaseInsensitive, EnumerationSafe: s.RegisterEnumerationSafe}
}

// Profile shows and changes the authenticated user's profile: GET, POST,
// PUT and PATCH profile/.
type Profile struct {
	cfg      ProfileConfig
	users    ports.UserStore
	accounts ports.AccountStore
	clock    ports.Clock
	events   Notifier
	handle   decorator.CommandHandler[ProfileInput, ProfileResult]
}

// NewProfile returns the profile use case: it checks usernames against
// users, writes profiles with accounts, stamps events with clock, wakes
// events (the relay; nil: nobody) and logs its failures on log.
func NewProfile(cfg ProfileConfig, users ports.UserStore, accounts ports.AccountStore, clock ports.Clock, events Notifier, log *slog.Logger) *Profile {
	p := &Profile{cfg: cfg, users: users, accounts: accounts, clock: clock, events: events}
	p.handle = decorator.ApplyDecorators("update_profile", decorator.HandlerFunc[ProfileInput, ProfileResult](p.update), log)
	return p
}

// Show returns the principal's profile as GET profile/ shows it.
func (p *Profile) Show(_ context.Context, who Principal) (ProfileResult, error) {
	return ProfileResult{User: who.User, Fields: p.cfg.Fields.Public}, nil
}

// Handle updates the profile; see update. The decorators of package
// decorator wrap it.
func (p *Profile) Handle(ctx context.Context, in ProfileInput) (ProfileResult, error) {
	return p.handle.Handle(ctx, in)
}

// update validates the editable fields like DRF's ModelSerializer does for
// Django's user (username: required unless partial, Django's username rule,
// unique; names: optional, blank allowed; all at most 150 characters, all
// trimmed), ignores every other key, and stores the change with a
// user_profile_updated event. A request that changes nothing writes nothing
// and records no event.
//
// Errors: *core.ValidationError, core.ErrNotFound (the user is gone),
// core.ErrUnavailable.
func (p *Profile) update(ctx context.Context, in ProfileInput) (ProfileResult, error) {
	u := in.Principal.User
	prof := core.Profile{Username: u.Username, UsernameKey: u.UsernameKey, UsernameEmailKey: u.UsernameEmailKey,
		FirstName: u.FirstName, LastName: u.LastName}
	errs := &core.ValidationError{}
	for _, name := range p.cfg.Fields.Editable {
		v := in.Fields[name]
		switch name {
		case "username":
			field := usernameField
			if in.Partial {
				field.required = false
			}
			username, ok, err := p.checkUsername(ctx, field, v, u, errs)
			if err != nil {
				return ProfileResult{}, err
			}
			if ok {
				prof.Username = core.NormalizeUsername(username)
				prof.UsernameKey = core.UsernameKey(username, p.cfg.UsernameCaseInsensitive)
				prof.UsernameEmailKey = core.UsernameEmailKey(username)
			}
		case "first_name":
			if s, ok := firstNameField.clean(v, errs); ok {
				prof.FirstName = s
			}
		case "last_name":
			if s, ok := lastNameField.clean(v, errs); ok {
				prof.LastName = s
			}
		}
	}
	if !errs.Empty() {
		return ProfileResult{}, errs
	}
	if prof.Username == u.Username && prof.UsernameKey == u.UsernameKey && prof.FirstName == u.FirstName && prof.LastName == u.LastName {
		return ProfileResult{User: u, Fields: p.cfg.Fields.Public}, nil
	}
	changed := u
	changed.Username, changed.UsernameKey, changed.UsernameEmailKey = prof.Username, prof.UsernameKey, prof.UsernameEmailKey
	changed.FirstName, changed.LastName = prof.FirstName, prof.LastName
	now := p.clock.Now()
	stored, err := p.accounts.UpdateProfile(ctx, u.ID, prof, newEvent(ctx, core.EventUserProfileUpdated, changed, now))
	switch {
	case errors.Is(err, core.ErrUsernameTaken):
		// Another request took the name since the check.
		return ProfileResult{}, &core.ValidationError{Fields: map[string][]string{"username": {core.MsgUsernameExists}}}
	case err != nil:
		return ProfileResult{}, fmt.Errorf("update profile: %w", err)
	}
	wake(p.events)
	return ProfileResult{User: stored, Fields: p.cfg.Fields.Public}, nil
}

// checkUsername is register's username check for a user renaming itself:
// DRF's validator order (format, uniqueness, length, NUL), the login
// namespace shared with e-mail addresses, and the user's own current name
// and address never counting as taken. It reports the name and whether the
// field is usable.
func (p *Profile) checkUsername(ctx context.Context, field charField, v core.Value, self core.User, errs *core.ValidationError) (string, bool, error) {
	username, ok := field.parse(v, errs)
	if !ok {
		return "", false, nil
	}
	before := len(errs.Fields["username"])
	validFormat := core.IsValidStoredUsername(username)
	if !validFormat {
		errs.Add("username", core.MsgInvalidUsername)
	}
	length := core.UsernameLength(username)
	if validFormat && length <= field.maxLength {
		taken, err := p.usernameTaken(ctx, username, self.ID)
		if err != nil {
			return "", false, err
		}
		if taken {
			errs.Add("username", core.MsgUsernameExists)
		}
	}
	field.validate(username, length, errs)
	if p.cfg.EnumerationSafe {
		if key := core.UsernameEmailKey(username); key != "" && key != self.EmailKey {
			errs.Add("username", MsgUsernameNotOwnEmail)
		}
	}
	return username, len(errs.Fields["username"]) == before, nil
}

// usernameTaken reports whether another user than self holds username, as
// its username or — usernames and addresses sharing one namespace — as its
// e-mail-shaped username or its address.
func (p *Profile) usernameTaken(ctx context.Context, username, self string) (bool, error) {
	lookup := func(field core.LookupField, key string) (bool, error) {
		u, err := p.users.FindUser(ctx, field, key)
		switch {
		case err == nil:
			return u.ID != self, nil
		case errors.Is(err, core.ErrAmbiguous):
			return true, nil
		case errors.Is(err, core.ErrNotFound):
			return false, nil
		default:
			return false, fmt.Errorf("update profile: check username: %w", err)
		}
	}
	if taken, err := lookup(core.ByUsernameKey, core.UsernameKey(username, p.cfg.UsernameCaseInsensitive)); err != nil || taken {
		return taken, err
	}
	key := core.UsernameEmailKey(username)
	if key == "" || p.cfg.EnumerationSafe {
		return false, nil
	}
	if taken, err := lookup(core.ByUsernameEmailKey, key); err != nil || taken {
		return taken, err
	}
	return lookup(core.ByEmailKey, key)
}

// LogoutInput is a logout request.
type LogoutInput struct {
	// Principal is who logs out.
	Principal Principal
	// RevokeToken is revoke_token: the request's token stops working.
	RevokeToken core.Value
}

// Logout ends a session: POST logout/.
type Logout struct {
	accounts ports.AccountStore
	clock    ports.Clock
	events   Notifier
	handle   decorator.CommandHandler[LogoutInput, struct{}]
}

// NewLogout returns the logout use case: it removes tokens and records
// user_logged_out with accounts, wakes events (the relay; nil: nobody) and
// logs its failures on log.
func NewLogout(accounts ports.AccountStore, clock ports.Clock, events Notifier, log *slog.Logger) *Logout {
	l := &Logout{accounts: accounts, clock: clock, events: events}
	l.handle = decorator.ApplyDecorators("logout", decorator.HandlerFunc[LogoutInput, struct{}](l.logout), log)
	return l
}

// Handle logs out; see logout.
func (l *Logout) Handle(ctx context.Context, in LogoutInput) error {
	_, err := l.handle.Handle(ctx, in)
	return err
}

// logout records user_logged_out and, with revoke_token (DRF's
// BooleanField, default false), removes the request's token in the same
// write; without it the token keeps working, as in DRR.
// Errors: *core.ValidationError, core.ErrUnavailable.
func (l *Logout) logout(ctx context.Context, in LogoutInput) (struct{}, error) {
	errs := &core.ValidationError{}
	revoke := cleanBoolean("revoke_token", in.RevokeToken, false, errs)
	if !errs.Empty() {
		return struct{}{}, errs
	}
	digest := ""
	if revoke {
		digest = in.Principal.Token.Digest
	}
	if err := l.accounts.Logout(ctx, digest, newEvent(ctx, core.EventUserLoggedOut, in.Principal.User, l.clock.Now())); err != nil {
		return struct{}{}, fmt.Errorf("logout: %w", err)
	}
	wake(l.events)
	return struct{}{}, nil
}

// DRF's BooleanField TRUE_VALUES and FALSE_VALUES that are strings (its
// numbers are 1 and 0, its booleans true and false).
var (
	boolTrueStrings  = []string{"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"}
	boolFalseStrings = []string{"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0"}
)

// cleanBoolean applies DRF's BooleanField (not nullable) to v: an absent
// field takes def, JSON booleans and the numbers 1 and 0 count, and so do
// DRF's words ("true", "yes", "on", "1", … and their opposites), compared
// exactly as typed (no trimming).
func cleanBoolean(name string, v core.Value, def bool, errs *core.ValidationError) bool {
	switch {
	case !v.Present:
		return def
	case v.Null:
		errs.Add(name, core.MsgNull)
		return false
	case v.Bool:
		return v.Text == "true"
	case v.NotText:
		errs.Add(name, MsgInvalidBoolean)
		return false
	case v.Number:
		if f, err := strconv.ParseFloat(v.Text, 64); err == nil && (f == 0 || f == 1) {
			return f == 1
		}
	case slices.Contains(boolTrueStrings, v.Text):
		return true
	case slices.Contains(boolFalseStrings, v.Text):
		return false
	}
	errs.Add(name, MsgInvalidBoolean)
	return false
}

// ChangePasswordInput is a change-password request.
type ChangePasswordInput struct {
	// Principal is who changes its password.
	Principal       Principal
	OldPassword     core.Value
	Password        core.Value
	PasswordConfirm core.Value
}

// ChangePasswordConfig is the part of the settings change-password/ follows.
type ChangePasswordConfig struct {
	// PasswordConfirm is CHANGE_PASSWORD_SERIALIZER_PASSWORD_CONFIRM.
	PasswordConfirm bool
	// RevokeTokens is CHANGE_PASSWORD_REVOKE_TOKENS: the user's other
	// tokens stop working.
	RevokeTokens bool
	// ThrottleIP and ThrottleAccount are THROTTLE_CHANGE_PASSWORD_IP and
	// THROTTLE_CHANGE_PASSWORD_ACCOUNT.
	ThrottleIP, ThrottleAccount string
}

// NewChangePasswordConfig returns the ChangePasswordConfig of settings s.
func NewChangePasswordConfig(s core.Settings) ChangePasswordConfig {
	return ChangePasswordConfig{
		PasswordConfirm: s.ChangePasswordSerializerPasswordConfirm,
		RevokeTokens:    s.ChangePasswordRevokeTokens,
		ThrottleIP:      s.ThrottleChangePasswordIP,
		ThrottleAccount: s.ThrottleChangePasswordAccount,
	}
}

// ChangePassword replaces the authenticated user's password: POST
// change-password/.
type ChangePassword struct {
	cfg      ChangePasswordConfig
	accounts ports.AccountStore
	hasher   ports.PasswordHasher
	policy   *core.PasswordPolicy
	throttle *Throttle
	clock    ports.Clock
	events   Notifier
	handle   decorator.CommandHandler[ChangePasswordInput, struct{}]
}

// NewChangePassword returns the change-password use case: it checks and
// makes hashes with hasher under policy, stores them with accounts, counts
// requests with throttle (nil: none), wakes events (the relay; nil: nobody)
// and logs its failures on log.
func NewChangePassword(cfg ChangePasswordConfig, accounts ports.AccountStore, hasher ports.PasswordHasher,
	policy *core.PasswordPolicy, throttle *Throttle, clock ports.Clock, events Notifier, log *slog.Logger,
) *ChangePassword {
	c := &ChangePassword{cfg: cfg, accounts: accounts, hasher: hasher, policy: policy, throttle: throttle, clock: clock, events: events}
	c.handle = decorator.ApplyDecorators("change_password", decorator.HandlerFunc[ChangePasswordInput, struct{}](c.change), log)
	return c
}

var (
	oldPasswordField = charField{name: "old_password", required: true}
)

// Handle changes the password; see change.
func (c *ChangePassword) Handle(ctx context.Context, in ChangePasswordInput) error {
	_, err := c.handle.Handle(ctx, in)
	return err
}

// change follows DRR's ChangePasswordSerializer. Stage 1, all fields at
// once: required and blank checks, and old_password must be the current
// password ("Old password is not correct", no final period). Stage 2: the
// password policy with the user's attributes; only when it passes, the
// confirmation ({"password_confirm": ["Passwords don't match"]}, without
// non_field_errors). The new hash is stored only while the hash the old
// password was checked against is still the user's (a concurrent change
// wins, and this one answers as a wrong old password); with
// CHANGE_PASSWORD_REVOKE_TOKENS the user's other tokens go in the same
// write, the request's own token stays.
//
// Counted against THROTTLE_CHANGE_PASSWORD_IP per client and
// THROTTLE_CHANGE_PASSWORD_ACCOUNT per user before anything else, so
// guessing the old password from a stolen token is slow.
//
// Errors: *core.ValidationError, *core.ThrottledError, core.ErrOverloaded,
// core.ErrUnavailable.
func (c *ChangePassword) change(ctx context.Context, in ChangePasswordInput) (struct{}, error) {
	s := &c.cfg
	u := in.Principal.User
	if err := c.throttle.count(ctx, ruleChangePasswordIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return struct{}{}, err
	}
	if err := c.throttle.count(ctx, ruleChangePasswordAcct, s.ThrottleAccount, "user:"+u.ID); err != nil {
		return struct{}{}, err
	}
	errs := &core.ValidationError{}
	oldPassword, okOld := oldPasswordField.clean(in.OldPassword, errs)
	if okOld {
		ok, err := c.checkPassword(ctx, oldPassword, u.PasswordHash)
		if err != nil {
			return struct{}{}, err
		}
		if !ok {
			errs.Add("old_password", MsgOldPasswordIncorrect)
		}
	}
	password, _ := passwordField.clean(in.Password, errs)
	var confirm string
	if s.PasswordConfirm {
		confirm, _ = confirmField.clean(in.PasswordConfirm, errs)
	}
	if !errs.Empty() {
		return struct{}{}, errs
	}

	if msgs := c.policy.Validate(password, core.PasswordAttributes{Username: u.Username, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email}); len(msgs) > 0 {
		return struct{}{}, &core.ValidationError{Fields: map[string][]string{"password": msgs}}
	}
	if s.PasswordConfirm && password != confirm {
		return struct{}{}, &core.ValidationError{Fields: map[string][]string{"password_confirm": {core.MsgPasswordsMismatch}}}
	}

	hash, err := c.hasher.Hash(ctx, password)
	if err != nil {
		return struct{}{}, fmt.Errorf("change password: hash: %w", err)
	}
	change := core.PasswordChange{UserID: u.ID, OldHash: u.PasswordHash, NewHash: hash, RevokeTokens: s.RevokeTokens, KeepToken: in.Principal.Token.Digest}
	applied, err := c.accounts.ChangePassword(ctx, change, newEvent(ctx, core.EventUserPasswordChanged, u, c.clock.Now()))
	switch {
	case err != nil:
		return struct{}{}, fmt.Errorf("change password: %w", err)
	case !applied:
		// The password changed since it was checked: the old password
		// given is no longer the current one.
		return struct{}{}, &core.ValidationError{Fields: map[string][]string{"old_password": {MsgOldPasswordIncorrect}}}
	}
	wake(c.events)
	return struct{}{}, nil
}

// checkPassword checks the old password; one longer than any password can
// be is wrong without hashing it.
func (c *ChangePassword) checkPassword(ctx context.Context, password, hash string) (bool, error) {
	if core.CharCount(password) > 4096 {
		return false, nil
	}
	ok, _, err := c.hasher.Check(ctx, password, hash)
	if err != nil {
		return false, fmt.Errorf("change password: check old password: %w", err)
	}
	return ok, nil
}
