package core

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Settings is restreg's domain policy: the flows, periods, password rules,
// throttles, templates and signing keys the use cases follow. Each adapter
// owns its own configuration (its own Config). Each field's `setting` tag is its name in YAML files and
// the environment; `secret` marks values never printed.
type Settings struct {
	RegisterFlowEnabled                bool          `setting:"REGISTER_FLOW_ENABLED"`
	RegisterSerializerPasswordConfirm  bool          `setting:"REGISTER_SERIALIZER_PASSWORD_CONFIRM"`
	RegisterVerificationEnabled        bool          `setting:"REGISTER_VERIFICATION_ENABLED"`
	RegisterVerificationPeriod         time.Duration `setting:"REGISTER_VERIFICATION_PERIOD"`
	RegisterVerificationURL            string        `setting:"REGISTER_VERIFICATION_URL"`
	RegisterVerificationOneTimeUse     bool          `setting:"REGISTER_VERIFICATION_ONE_TIME_USE"`
	RegisterVerificationAutoLogin      bool          `setting:"REGISTER_VERIFICATION_AUTO_LOGIN"`
	RegisterVerificationEmailTemplates string        `setting:"REGISTER_VERIFICATION_EMAIL_TEMPLATES"`
	VerificationFromEmail              string        `setting:"VERIFICATION_FROM_EMAIL"`
	VerificationReplyToEmail           string        `setting:"VERIFICATION_REPLY_TO_EMAIL"`
	UserVerificationIDField            string        `setting:"USER_VERIFICATION_ID_FIELD"`
	UserLoginFields                    []string      `setting:"USER_LOGIN_FIELDS"`
	LoginRetrieveToken                 bool          `setting:"LOGIN_RETRIEVE_TOKEN"`

	// ResendVerificationEnabled serves resend-verification/ (with
	// verification on); false answers 404.
	ResendVerificationEnabled bool `setting:"RESEND_VERIFICATION_ENABLED"`
	// ResendVerificationInterval is the least time between two verification
	// e-mails to one user; resends within it are answered but not sent.
	ResendVerificationInterval time.Duration `setting:"RESEND_VERIFICATION_INTERVAL"`
	// RegisterEnumerationSafe answers a registration with a taken e-mail
	// address like a new one and tells the address's owner by e-mail instead.
	RegisterEnumerationSafe bool `setting:"REGISTER_ENUMERATION_SAFE"`
	// AccountExistsEmailTemplates is a directory whose files override the
	// built-in account_exists/ templates.
	AccountExistsEmailTemplates string `setting:"ACCOUNT_EXISTS_EMAIL_TEMPLATES"`

	// The throttle rates ("N/second|minute|hour|day" or "off"), per client IP
	// and per target of each flow.
	ThrottleRegisterIP    string `setting:"THROTTLE_REGISTER_IP"`
	ThrottleRegisterEmail string `setting:"THROTTLE_REGISTER_EMAIL"`
	ThrottleVerifyIP      string `setting:"THROTTLE_VERIFY_IP"`
	ThrottleVerifyUser    string `setting:"THROTTLE_VERIFY_USER"`
	ThrottleLoginIP       string `setting:"THROTTLE_LOGIN_IP"`
	ThrottleLoginAccount  string `setting:"THROTTLE_LOGIN_ACCOUNT"`
	ThrottleResendIP      string `setting:"THROTTLE_RESEND_IP"`
	ThrottleResendAccount string `setting:"THROTTLE_RESEND_ACCOUNT"`

	SecretKey          string   `setting:"SECRET_KEY" secret:"true"`
	SecretKeyFallbacks []string `setting:"SECRET_KEY_FALLBACKS" secret:"true"`

	UsernameCaseInsensitive bool     `setting:"USERNAME_CASE_INSENSITIVE"`
	UserEmailUnique         bool     `setting:"USER_EMAIL_UNIQUE"`
	PasswordMinLength       int      `setting:"PASSWORD_MIN_LENGTH"`
	PasswordValidators      []string `setting:"PASSWORD_VALIDATORS"`

	// The authenticated account API (account-api.md). AUTH_TOKEN_PER_LOGIN
	// issues a fresh token per login (false: DRF's one reusable token per
	// user); AUTH_TOKEN_TTL expires tokens that old (0: never);
	// CHANGE_PASSWORD_REVOKE_TOKENS logs a user's other sessions out when the
	// password changes. The USER_*_FIELDS lists are DRR's: nil means DRR's
	// default for that list.
	AuthTokenPerLogin                       bool          `setting:"AUTH_TOKEN_PER_LOGIN"`
	AuthTokenTTL                            time.Duration `setting:"AUTH_TOKEN_TTL"`
	ChangePasswordRevokeTokens              bool          `setting:"CHANGE_PASSWORD_REVOKE_TOKENS"`
	ChangePasswordSerializerPasswordConfirm bool          `setting:"CHANGE_PASSWORD_SERIALIZER_PASSWORD_CONFIRM"`
	UserHiddenFields                        []string      `setting:"USER_HIDDEN_FIELDS"`
	UserPublicFields                        []string      `setting:"USER_PUBLIC_FIELDS"`
	UserEditableFields                      []string      `setting:"USER_EDITABLE_FIELDS"`
	ThrottleChangePasswordIP                string        `setting:"THROTTLE_CHANGE_PASSWORD_IP"`
	ThrottleChangePasswordAccount           string        `setting:"THROTTLE_CHANGE_PASSWORD_ACCOUNT"`

	// Password reset (send-reset-password-link/, reset-password/). The flow
	// is served when RESET_PASSWORD_VERIFICATION_ENABLED is true and
	// RESET_PASSWORD_VERIFICATION_URL is set.
	ResetPasswordVerificationEnabled        bool          `setting:"RESET_PASSWORD_VERIFICATION_ENABLED"`
	ResetPasswordVerificationPeriod         time.Duration `setting:"RESET_PASSWORD_VERIFICATION_PERIOD"`
	ResetPasswordVerificationURL            string        `setting:"RESET_PASSWORD_VERIFICATION_URL"`
	ResetPasswordVerificationOneTimeUse     bool          `setting:"RESET_PASSWORD_VERIFICATION_ONE_TIME_USE"`
	ResetPasswordVerificationEmailTemplates string        `setting:"RESET_PASSWORD_VERIFICATION_EMAIL_TEMPLATES"`
	ResetPasswordFailWhenUserNotFound       bool          `setting:"RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND"`
	ResetPasswordSerializerPasswordConfirm  bool          `setting:"RESET_PASSWORD_SERIALIZER_PASSWORD_CONFIRM"`
	ResetPasswordRevokeTokens               bool          `setting:"RESET_PASSWORD_REVOKE_TOKENS"`
	SendResetPasswordLinkSerializerUseEmail bool          `setting:"SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL"`
	ThrottleResetPasswordIP                 string        `setting:"THROTTLE_RESET_PASSWORD_IP"`
	ThrottleResetPasswordAccount            string        `setting:"THROTTLE_RESET_PASSWORD_ACCOUNT"`

	// E-mail change (register-email/, verify-email/). The flow is served
	// when REGISTER_EMAIL_VERIFICATION_URL is set or verification is off.
	RegisterEmailVerificationEnabled        bool          `setting:"REGISTER_EMAIL_VERIFICATION_ENABLED"`
	RegisterEmailVerificationPeriod         time.Duration `setting:"REGISTER_EMAIL_VERIFICATION_PERIOD"`
	RegisterEmailVerificationURL            string        `setting:"REGISTER_EMAIL_VERIFICATION_URL"`
	RegisterEmailVerificationEmailTemplates string        `setting:"REGISTER_EMAIL_VERIFICATION_EMAIL_TEMPLATES"`
	RegisterEmailNotifyOldAddress           bool          `setting:"REGISTER_EMAIL_NOTIFY_OLD_ADDRESS"`
	EmailChangedEmailTemplates              string        `setting:"EMAIL_CHANGED_EMAIL_TEMPLATES"`
	ThrottleEmailChangeAccount              string        `setting:"THROTTLE_EMAIL_CHANGE_ACCOUNT"`

	// Verification by GET (DRR's contrib/verification_redirects): a GET on
	// a mailed link verifies and redirects here; off while
	// VERIFICATION_REDIRECT_SUCCESS_URL is empty.
	VerificationRedirectSuccessURL string `setting:"VERIFICATION_REDIRECT_SUCCESS_URL"`
	VerificationRedirectFailureURL string `setting:"VERIFICATION_REDIRECT_FAILURE_URL"`

	// OutboxPollInterval is how often the relay looks for events to publish
	// when it was not woken by a new one.
	OutboxPollInterval time.Duration `setting:"OUTBOX_POLL_INTERVAL"`
	// MailSendTimeout bounds one attempt to hand an e-mail to the mailer. An
	// e-mail a request or the courier is sending is leased for twice as long
	// before another courier may take it (after a crash, say).
	MailSendTimeout time.Duration `setting:"MAIL_SEND_TIMEOUT"`
}

// DefaultSettings returns the documented defaults. SECRET_KEY,
// REGISTER_VERIFICATION_URL and VERIFICATION_FROM_EMAIL have none.
func DefaultSettings() Settings {
	return Settings{
		RegisterFlowEnabled:                     true,
		RegisterSerializerPasswordConfirm:       true,
		RegisterVerificationEnabled:             true,
		RegisterVerificationPeriod:              7 * 24 * time.Hour,
		UserVerificationIDField:                 "id",
		UserLoginFields:                         []string{"username", "email"},
		LoginRetrieveToken:                      true,
		ResendVerificationEnabled:               true,
		ResendVerificationInterval:              60 * time.Second,
		ThrottleRegisterIP:                      "60/hour",
		ThrottleRegisterEmail:                   "5/hour",
		ThrottleVerifyIP:                        "120/minute",
		ThrottleVerifyUser:                      "20/minute",
		ThrottleLoginIP:                         "120/minute",
		ThrottleLoginAccount:                    "10/minute",
		ThrottleResendIP:                        "30/hour",
		ThrottleResendAccount:                   "5/hour",
		UsernameCaseInsensitive:                 true,
		UserEmailUnique:                         true,
		PasswordMinLength:                       8,
		PasswordValidators:                      []string{"similarity", "length", "common", "numeric"},
		AuthTokenPerLogin:                       true,
		ChangePasswordRevokeTokens:              true,
		ChangePasswordSerializerPasswordConfirm: true,
		ThrottleChangePasswordIP:                "30/hour",
		ThrottleChangePasswordAccount:           "10/hour",
		ResetPasswordVerificationEnabled:        true,
		ResetPasswordVerificationPeriod:         24 * time.Hour,
		ResetPasswordSerializerPasswordConfirm:  true,
		ResetPasswordRevokeTokens:               true,
		ThrottleResetPasswordIP:                 "30/hour",
		ThrottleResetPasswordAccount:            "5/hour",
		RegisterEmailVerificationEnabled:        true,
		RegisterEmailVerificationPeriod:         7 * 24 * time.Hour,
		RegisterEmailNotifyOldAddress:           true,
		ThrottleEmailChangeAccount:              "5/hour",
		OutboxPollInterval:                      time.Second,
		MailSendTimeout:                         60 * time.Second,
	}
}

// The rules a signing key must meet, Django's deployment check (W009):
// anyone who guesses the key can sign links for any account, and a short or
// repetitive key can be recovered offline from a single signed link.
const (
	minSecretKeyLength      = 50
	minSecretKeyUniqueChars = 5
	insecureSecretKeyPrefix = "django-insecure-"
)

// weakKeyProblems names each strength rule key breaks, as the end of a
// sentence starting with the setting's name; never the key itself.
func weakKeyProblems(key string) []string {
	var problems []string
	if utf8.RuneCountInString(key) < minSecretKeyLength {
		problems = append(problems, fmt.Sprintf("is shorter than %d characters", minSecretKeyLength))
	}
	unique := map[rune]bool{}
	for _, r := range key {
		unique[r] = true
	}
	if len(unique) < minSecretKeyUniqueChars {
		problems = append(problems, fmt.Sprintf("has fewer than %d different characters", minSecretKeyUniqueChars))
	}
	if strings.HasPrefix(key, insecureSecretKeyPrefix) {
		problems = append(problems, "starts with "+insecureSecretKeyPrefix+" (Django's marker of a development key)")
	}
	return problems
}

// namedRate is one throttle setting with its name.
type namedRate struct{ name, value string }

func (s *Settings) throttleRates() []namedRate {
	return []namedRate{
		{"THROTTLE_REGISTER_IP", s.ThrottleRegisterIP},
		{"THROTTLE_REGISTER_EMAIL", s.ThrottleRegisterEmail},
		{"THROTTLE_VERIFY_IP", s.ThrottleVerifyIP},
		{"THROTTLE_VERIFY_USER", s.ThrottleVerifyUser},
		{"THROTTLE_LOGIN_IP", s.ThrottleLoginIP},
		{"THROTTLE_LOGIN_ACCOUNT", s.ThrottleLoginAccount},
		{"THROTTLE_RESEND_IP", s.ThrottleResendIP},
		{"THROTTLE_RESEND_ACCOUNT", s.ThrottleResendAccount},
		{"THROTTLE_CHANGE_PASSWORD_IP", s.ThrottleChangePasswordIP},
		{"THROTTLE_CHANGE_PASSWORD_ACCOUNT", s.ThrottleChangePasswordAccount},
		{"THROTTLE_RESET_PASSWORD_IP", s.ThrottleResetPasswordIP},
		{"THROTTLE_RESET_PASSWORD_ACCOUNT", s.ThrottleResetPasswordAccount},
		{"THROTTLE_EMAIL_CHANGE_ACCOUNT", s.ThrottleEmailChangeAccount},
	}
}

// ResendEnabled reports whether resend-verification/ is served: it needs
// both RESEND_VERIFICATION_ENABLED and REGISTER_VERIFICATION_ENABLED.
func (s *Settings) ResendEnabled() bool {
	return s.ResendVerificationEnabled && s.RegisterVerificationEnabled
}

// ResetPasswordEnabled reports whether the password reset flow is served:
// RESET_PASSWORD_VERIFICATION_ENABLED with a RESET_PASSWORD_VERIFICATION_URL
// to put in the mailed links.
func (s *Settings) ResetPasswordEnabled() bool {
	return s.ResetPasswordVerificationEnabled && s.ResetPasswordVerificationURL != ""
}

// RegisterEmailEnabled reports whether register-email/ is served: with
// verification it needs REGISTER_EMAIL_VERIFICATION_URL; without, the
// address changes at once.
func (s *Settings) RegisterEmailEnabled() bool {
	return !s.RegisterEmailVerificationEnabled || s.RegisterEmailVerificationURL != ""
}

// ReplyTo returns the Reply-To address: VERIFICATION_REPLY_TO_EMAIL or the From address.
func (s *Settings) ReplyTo() string {
	if s.VerificationReplyToEmail != "" {
		return s.VerificationReplyToEmail
	}
	return s.VerificationFromEmail
}

// Validate returns one error per problem (joined), each a single line that
// names the setting; nil when the settings can be served.
func (s *Settings) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	oneOf := func(name, value string, allowed ...string) {
		if !slices.Contains(allowed, value) {
			add("%s must be one of %s (got %q)", name, strings.Join(allowed, ", "), value)
		}
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			add("%s must be a positive duration (got %s)", name, d)
		}
	}
	atLeast := func(name string, v, min int64) {
		if v < min {
			add("%s must be at least %d (got %d)", name, min, v)
		}
	}

	const keyAdvice = "use at least 50 random characters, e.g. from `openssl rand -base64 48` (value not shown)"
	if s.SecretKey == "" {
		add("SECRET_KEY is required")
	} else {
		for _, p := range weakKeyProblems(s.SecretKey) {
			add("SECRET_KEY %s: %s", p, keyAdvice)
		}
	}
	// A fallback still verifies links, so a weak one is as forgeable as a
	// weak SECRET_KEY.
	for i, k := range s.SecretKeyFallbacks {
		if k == "" {
			add("SECRET_KEY_FALLBACKS entry %d is empty", i+1)
			continue
		}
		for _, p := range weakKeyProblems(k) {
			add("SECRET_KEY_FALLBACKS entry %d %s: %s", i+1, p, keyAdvice)
		}
	}
	if s.RegisterVerificationEnabled {
		if s.RegisterVerificationURL == "" {
			add("REGISTER_VERIFICATION_URL is required when REGISTER_VERIFICATION_ENABLED is true")
		}
		if s.VerificationFromEmail == "" {
			add("VERIFICATION_FROM_EMAIL is required when REGISTER_VERIFICATION_ENABLED is true")
		}
	}
	if s.RegisterVerificationURL != "" {
		u, err := url.Parse(s.RegisterVerificationURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("REGISTER_VERIFICATION_URL must be an absolute http or https URL (got %q)", s.RegisterVerificationURL)
		} else if u.Fragment != "" {
			add("REGISTER_VERIFICATION_URL must not have a fragment; replace the URL builder to put parameters in one")
		}
	}
	if s.VerificationFromEmail != "" {
		if _, err := mail.ParseAddress(s.VerificationFromEmail); err != nil {
			add("VERIFICATION_FROM_EMAIL is not a valid address (got %q)", s.VerificationFromEmail)
		}
	}
	if s.VerificationReplyToEmail != "" {
		if _, err := mail.ParseAddress(s.VerificationReplyToEmail); err != nil {
			add("VERIFICATION_REPLY_TO_EMAIL is not a valid address (got %q)", s.VerificationReplyToEmail)
		}
	}
	positive("REGISTER_VERIFICATION_PERIOD", s.RegisterVerificationPeriod)
	if s.ResendVerificationInterval < 0 {
		add("RESEND_VERIFICATION_INTERVAL must not be negative (got %s)", s.ResendVerificationInterval)
	}
	if s.RegisterEnumerationSafe && !s.RegisterVerificationEnabled && s.VerificationFromEmail == "" {
		add("VERIFICATION_FROM_EMAIL is required when REGISTER_ENUMERATION_SAFE is true (the owner of a taken address is told by e-mail)")
	}
	if !s.RegisterVerificationEnabled && s.VerificationFromEmail == "" {
		if s.ResetPasswordEnabled() {
			add("VERIFICATION_FROM_EMAIL is required when RESET_PASSWORD_VERIFICATION_URL is set (reset links are sent by e-mail)")
		}
		if s.RegisterEmailEnabled() && (s.RegisterEmailVerificationEnabled || s.RegisterEmailNotifyOldAddress) {
			add("VERIFICATION_FROM_EMAIL is required while the e-mail change flow sends mail (REGISTER_EMAIL_VERIFICATION_ENABLED or REGISTER_EMAIL_NOTIFY_OLD_ADDRESS)")
		}
	}
	for _, r := range s.throttleRates() {
		if _, err := ParseRate(r.value); err != nil {
			add("%s must be N/second, N/minute, N/hour, N/day or off (got %q)", r.name, r.value)
		}
	}
	oneOf("USER_VERIFICATION_ID_FIELD", s.UserVerificationIDField, "id", "username", "email")
	if s.UserVerificationIDField == "email" && !s.UserEmailUnique {
		add("USER_VERIFICATION_ID_FIELD=email needs USER_EMAIL_UNIQUE=true (links must name one user)")
	}
	if len(s.UserLoginFields) == 0 {
		add("USER_LOGIN_FIELDS must name at least one of username, email")
	}
	for _, f := range s.UserLoginFields {
		oneOf("USER_LOGIN_FIELDS", f, "username", "email")
	}
	atLeast("PASSWORD_MIN_LENGTH", int64(s.PasswordMinLength), 1)
	for _, v := range s.PasswordValidators {
		oneOf("PASSWORD_VALIDATORS", v, "similarity", "length", "common", "numeric")
	}

	if s.AuthTokenTTL < 0 {
		add("AUTH_TOKEN_TTL must not be negative (got %s)", s.AuthTokenTTL)
	}
	userFields := []string{"id", "username", "first_name", "last_name", "email", "date_joined", "last_login", "is_active"}
	for _, l := range []struct {
		name string
		list []string
	}{{"USER_HIDDEN_FIELDS", s.UserHiddenFields}, {"USER_PUBLIC_FIELDS", s.UserPublicFields}, {"USER_EDITABLE_FIELDS", s.UserEditableFields}} {
		for _, f := range l.list {
			oneOf(l.name, f, userFields...)
		}
	}
	positive("RESET_PASSWORD_VERIFICATION_PERIOD", s.ResetPasswordVerificationPeriod)
	positive("REGISTER_EMAIL_VERIFICATION_PERIOD", s.RegisterEmailVerificationPeriod)
	for _, l := range []struct{ name, raw string }{
		{"RESET_PASSWORD_VERIFICATION_URL", s.ResetPasswordVerificationURL},
		{"REGISTER_EMAIL_VERIFICATION_URL", s.RegisterEmailVerificationURL},
		{"VERIFICATION_REDIRECT_SUCCESS_URL", s.VerificationRedirectSuccessURL},
		{"VERIFICATION_REDIRECT_FAILURE_URL", s.VerificationRedirectFailureURL},
	} {
		if l.raw == "" {
			continue
		}
		if u, err := url.Parse(l.raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s must be an absolute http or https URL (got %q)", l.name, l.raw)
		}
	}
	if s.VerificationRedirectSuccessURL != "" && s.VerificationRedirectFailureURL == "" {
		add("VERIFICATION_REDIRECT_FAILURE_URL is required when VERIFICATION_REDIRECT_SUCCESS_URL is set")
	}

	positive("OUTBOX_POLL_INTERVAL", s.OutboxPollInterval)
	positive("MAIL_SEND_TIMEOUT", s.MailSendTimeout)
	return errors.Join(errs...)
}
