package core_test

import (
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
)

// testSecretKey is strong enough to be accepted: 50+ characters, many
// different ones, no development prefix.
const testSecretKey = "core-settings-test-key-3f9a1c7e5b2d8046a1c3e5f7b9d0e2a4"

func validSettings() core.Settings {
	s := core.DefaultSettings()
	s.SecretKey = testSecretKey
	s.RegisterVerificationURL = "https://app.example.com/verify-user/"
	s.VerificationFromEmail = "noreply@example.com"
	return s
}

func TestDefaultsNeedOnlyTheThreeRequiredSettings(t *testing.T) {
	s := core.DefaultSettings()
	err := s.Validate()
	if err == nil {
		t.Fatal("defaults without SECRET_KEY validated")
	}
	want := []string{
		"SECRET_KEY is required",
		"REGISTER_VERIFICATION_URL is required when REGISTER_VERIFICATION_ENABLED is true",
		"VERIFICATION_FROM_EMAIL is required when REGISTER_VERIFICATION_ENABLED is true",
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("problems = %q, want %q", got, want)
	}
	v := validSettings()
	if err := v.Validate(); err != nil {
		t.Fatalf("valid settings rejected: %v", err)
	}
}

func TestVerificationOffNeedsNoURLOrSender(t *testing.T) {
	s := core.DefaultSettings()
	s.SecretKey = testSecretKey
	s.RegisterVerificationEnabled = false
	if err := s.Validate(); err != nil {
		t.Fatalf("verification off: %v", err)
	}
}

func TestEachProblemIsOneLineNamingTheSetting(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*core.Settings)
		want   string
	}{
		"relative url":        {func(s *core.Settings) { s.RegisterVerificationURL = "/verify" }, "REGISTER_VERIFICATION_URL must be an absolute http or https URL"},
		"bad from":            {func(s *core.Settings) { s.VerificationFromEmail = "not an address" }, "VERIFICATION_FROM_EMAIL is not a valid address"},
		"id field":            {func(s *core.Settings) { s.UserVerificationIDField = "phone" }, "USER_VERIFICATION_ID_FIELD must be one of id, username, email"},
		"email id not unique": {func(s *core.Settings) { s.UserVerificationIDField = "email"; s.UserEmailUnique = false }, "USER_VERIFICATION_ID_FIELD=email needs USER_EMAIL_UNIQUE=true"},
		"login fields":        {func(s *core.Settings) { s.UserLoginFields = []string{"phone"} }, "USER_LOGIN_FIELDS must be one of username, email"},
		"period":              {func(s *core.Settings) { s.RegisterVerificationPeriod = 0 }, "REGISTER_VERIFICATION_PERIOD must be a positive duration"},
	} {
		t.Run(name, func(t *testing.T) { expectOneProblem(t, tc.change, tc.want) })
	}
}

// expectOneProblem checks that settings changed by change from a valid set
// are refused with exactly one problem line, starting with want.
func expectOneProblem(t *testing.T, change func(*core.Settings), want string) {
	t.Helper()
	s := validSettings()
	change(&s)
	err := s.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Fatalf("problems = %q, want one line starting %q", lines, want)
	}
}

func TestWeakSigningKeysAreRefused(t *testing.T) {
	const (
		short    = "SECRET_KEY is shorter than 50 characters: "
		repeats  = "SECRET_KEY has fewer than 5 different characters: "
		insecure = "SECRET_KEY starts with django-insecure- (Django's marker of a development key): "
	)
	for name, tc := range map[string]struct {
		key  string
		want []string // line prefixes, in order; none: accepted
	}{
		"recovered offline":       {"letmein", []string{short}},
		"49 characters":           {testSecretKey[:49], []string{short}},
		"50 characters":           {testSecretKey[:50], nil},
		"one character repeated":  {strings.Repeat("x", 64), []string{repeats}},
		"four characters":         {strings.Repeat("abcd", 16), []string{repeats}},
		"five characters":         {strings.Repeat("abcde", 10), nil},
		"short and repetitive":    {"aaaa", []string{short, repeats}},
		"django development key":  {"django-insecure-" + testSecretKey, []string{insecure}},
		"characters, not bytes":   {strings.Repeat("äöüßé", 9), []string{short}},
		"50 non-ASCII characters": {strings.Repeat("äöüßé", 10), nil},
	} {
		t.Run(name, func(t *testing.T) {
			s := validSettings()
			s.SecretKey = tc.key
			checkKeyProblems(t, s, tc.key, tc.want)
		})
	}
}

// A fallback still verifies links, so a weak one is refused like a weak key.
func TestWeakFallbackKeysAreRefused(t *testing.T) {
	s := validSettings()
	s.SecretKeyFallbacks = []string{testSecretKey + "-old", "hunter2", "", "django-insecure-" + testSecretKey}
	checkKeyProblems(t, s, "hunter2", []string{
		"SECRET_KEY_FALLBACKS entry 2 is shorter than 50 characters: ",
		"SECRET_KEY_FALLBACKS entry 3 is empty",
		"SECRET_KEY_FALLBACKS entry 4 starts with django-insecure- ",
	})
}

// checkKeyProblems validates s and expects one problem line per prefix in
// want (in order, nothing else), and never the secret in them.
func checkKeyProblems(t *testing.T, s core.Settings, secret string, want []string) {
	t.Helper()
	err := s.Validate()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("strong key refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("weak key accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("problems = %q, want %d lines starting %q", lines, len(want), want)
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, want[i]) {
			t.Errorf("problem %d = %q, want it to start %q", i+1, line, want[i])
		}
		if strings.Contains(line, secret) {
			t.Errorf("problem %d shows the key: %q", i+1, line)
		}
	}
}

// A reset or e-mail change flow that is served sends mail, so it needs a
// sender even with registration's verification off; a flow without its URL
// is not served and needs nothing.
func TestAccountFlowsThatSendMailNeedASender(t *testing.T) {
	s := core.DefaultSettings()
	s.SecretKey = testSecretKey
	s.RegisterVerificationEnabled = false
	if err := s.Validate(); err != nil || s.ResetPasswordEnabled() || s.RegisterEmailEnabled() {
		t.Fatalf("flows without their URLs: %v, reset served %v, e-mail change served %v", err, s.ResetPasswordEnabled(), s.RegisterEmailEnabled())
	}
	s.ResetPasswordVerificationURL = "https://app.example.com/reset-password/"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "VERIFICATION_FROM_EMAIL is required when RESET_PASSWORD_VERIFICATION_URL is set") {
		t.Fatalf("reset served without a sender: %v", err)
	}
	s.ResetPasswordVerificationURL = ""
	s.RegisterEmailVerificationEnabled = false
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "REGISTER_EMAIL_NOTIFY_OLD_ADDRESS") {
		t.Fatalf("e-mail change notifying the old address without a sender: %v", err)
	}
	s.RegisterEmailNotifyOldAddress = false
	if err := s.Validate(); err != nil || !s.RegisterEmailEnabled() {
		t.Fatalf("e-mail change that sends nothing: %v, served %v", err, s.RegisterEmailEnabled())
	}
	s.ResetPasswordVerificationURL = "/reset-password/"
	s.VerificationFromEmail = "noreply@example.com"
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "RESET_PASSWORD_VERIFICATION_URL must be an absolute") {
		t.Fatalf("a relative reset URL: %v", err)
	}
}
