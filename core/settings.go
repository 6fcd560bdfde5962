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
		RegisterFlowEnabled:               true,
		RegisterSerializerPasswordConfirm: true,
		RegisterVerificationEnabled:       true,
		RegisterVerificationPeriod:        7 * 24 * time.Hour,
		UserVerificationIDField:           "id",
		UserLoginFields:                   []string{"username", "email"},
		LoginRetrieveToken:                true,
		ResendVerificationEnabled:         true,
		ResendVerificationInterval:        60 * time.Second,
		ThrottleRegisterIP:                "60/hour",
		ThrottleRegisterEmail:             "5/hour",
		ThrottleVerifyIP:                  "120/minute",
		ThrottleVerifyUser:                "20/minute",
		ThrottleLoginIP:                   "120/minute",
		ThrottleLoginAccount:              "10/minute",
		ThrottleResendIP:                  "30/hour",
		ThrottleResendAccount:             "5/hour",
		UsernameCaseInsensitive:           true,
		UserEmailUnique:                   true,
		PasswordMinLength:                 8,
		PasswordValidators:                []string{"similarity", "length", "common", "numeric"},
		OutboxPollInterval:                time.Second,
		MailSendTimeout:                   60 * time.Second,
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
	}
}

// ResendEnabled reports whether resend-verification/ is served: it needs
// both RESEND_VERIFICATION_ENABLED and REGISTER_VERIFICATION_ENABLED.
func (s *Settings) ResendEnabled() bool {
	return s.ResendVerificationEnabled && s.RegisterVerificationEnabled
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

	positive("OUTBOX_POLL_INTERVAL", s.OutboxPollInterval)
	positive("MAIL_SEND_TIMEOUT", s.MailSendTimeout)
	return errors.Join(errs...)
}
