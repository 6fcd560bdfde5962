package restreg_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestSettingsLayerDefaultsThenFileThenEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "restreg.yaml")
	yaml := "REGISTER_VERIFICATION_PERIOD: 90m\nUSER_LOGIN_FIELDS: [email]\nBASE_PATH: /accounts\nLISTEN_ADDR: 0.0.0.0:9000\nPASSWORD_MIN_LENGTH: 12\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := restreg.LoadSettings(core.DefaultSettings(), file, envOf(map[string]string{
		"LISTEN_ADDR":                        "127.0.0.1:9100",
		"REGISTER_VERIFICATION_ONE_TIME_USE": "true",
		"SECRET_KEY_FALLBACKS":               "old-1, old-2",
		"HASH_QUEUE_WAIT":                    "2.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.RegisterVerificationPeriod != 90*time.Minute || s.BasePath != "/accounts" || s.PasswordMinLength != 12 {
		t.Fatalf("file values not applied: %+v", s)
	}
	if strings.Join(s.UserLoginFields, ",") != "email" {
		t.Fatalf("USER_LOGIN_FIELDS = %q", s.UserLoginFields)
	}
	if s.ListenAddr != "127.0.0.1:9100" {
		t.Fatalf("environment must override the file: LISTEN_ADDR = %q", s.ListenAddr)
	}
	if !s.RegisterVerificationOneTimeUse || strings.Join(s.SecretKeyFallbacks, "|") != "old-1|old-2" || s.HashQueueWait != 2500*time.Millisecond {
		t.Fatalf("environment values not applied: %+v", s)
	}
	if !s.RegisterFlowEnabled || s.Store != "sqlite" {
		t.Fatal("defaults lost")
	}
}

func TestUnparseableValuesAreReportedOneLineEachWithoutSecrets(t *testing.T) {
	_, err := restreg.LoadSettings(core.DefaultSettings(), "", envOf(map[string]string{
		"REGISTER_VERIFICATION_PERIOD": "a week",
		"PASSWORD_MIN_LENGTH":          "eight",
		"REGISTER_FLOW_ENABLED":        "maybe",
		"MONGODB_URI":                  "mongodb://u:topsecret@h",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 problems, got %q", lines)
	}
	joined := err.Error()
	for _, want := range []string{
		`REGISTER_VERIFICATION_PERIOD must be a duration like 168h, 90m or a number of seconds (got "a week")`,
		`PASSWORD_MIN_LENGTH must be a whole number (got "eight")`,
		`REGISTER_FLOW_ENABLED must be true or false (got "maybe")`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in %q", want, joined)
		}
	}
	_, err = restreg.LoadSettings(core.DefaultSettings(), "", envOf(map[string]string{"ARGON2ID_ITERATIONS": "x", "SECRET_KEY_FALLBACKS": "a"}))
	if err == nil {
		t.Fatal("accepted")
	}
}

func TestUnknownKeysInTheFileAreProblems(t *testing.T) {
	file := filepath.Join(t.TempDir(), "restreg.yaml")
	if err := os.WriteFile(file, []byte("REGISTER_VERIFICATON_URL: https://typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := restreg.LoadSettings(core.DefaultSettings(), file, envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "unknown setting REGISTER_VERIFICATON_URL") {
		t.Fatalf("typo not reported: %v", err)
	}
}

func TestEverySettingOfTheContractHasAName(t *testing.T) {
	names := strings.Join(restreg.SettingNames(), " ")
	for _, want := range []string{
		"REGISTER_FLOW_ENABLED", "REGISTER_SERIALIZER_PASSWORD_CONFIRM", "REGISTER_VERIFICATION_ENABLED",
		"REGISTER_VERIFICATION_PERIOD", "REGISTER_VERIFICATION_URL", "REGISTER_VERIFICATION_ONE_TIME_USE",
		"REGISTER_VERIFICATION_AUTO_LOGIN", "REGISTER_VERIFICATION_EMAIL_TEMPLATES", "VERIFICATION_FROM_EMAIL",
		"VERIFICATION_REPLY_TO_EMAIL", "USER_VERIFICATION_ID_FIELD", "USER_LOGIN_FIELDS", "LOGIN_RETRIEVE_TOKEN",
		"SECRET_KEY", "SECRET_KEY_FALLBACKS", "LISTEN_ADDR", "BASE_PATH", "USERNAME_CASE_INSENSITIVE",
		"USER_EMAIL_UNIQUE", "PASSWORD_MIN_LENGTH", "PASSWORD_VALIDATORS", "PASSWORD_HASHER", "ARGON2ID_MEMORY_KIB",
		"ARGON2ID_ITERATIONS", "ARGON2ID_PARALLELISM", "PBKDF2_ITERATIONS", "HASH_CONCURRENCY", "STORE", "DATA_DIR",
		"MONGODB_URI", "MONGODB_DATABASE", "DATABASE_URL", "DATABASE_MAX_CONNS", "DATABASE_CONNECT_TIMEOUT",
		"DATABASE_STATEMENT_TIMEOUT", "MAIL_BACKEND", "MAIL_FILE_DIR", "SMTP_URL", "SENDGRID_API_KEY",
		"SENDGRID_HOST", "EVENTS_BACKEND", "EVENTS_URL", "EVENTS_TOPIC_PREFIX", "MAX_BODY_BYTES",
		"CORS_ALLOWED_ORIGINS", "CORS_ALLOW_CREDENTIALS", "LOG_LEVEL", "LOG_FORMAT",
		"RESEND_VERIFICATION_ENABLED", "RESEND_VERIFICATION_INTERVAL", "REGISTER_ENUMERATION_SAFE",
		"ACCOUNT_EXISTS_EMAIL_TEMPLATES", "RATE_LIMIT_BACKEND", "RATE_LIMIT_REDIS_URL", "RATE_LIMIT_KEY_PREFIX",
		"TRUSTED_PROXIES", "THROTTLE_REGISTER_IP", "THROTTLE_REGISTER_EMAIL", "THROTTLE_VERIFY_IP",
		"THROTTLE_VERIFY_USER", "THROTTLE_LOGIN_IP", "THROTTLE_LOGIN_ACCOUNT", "THROTTLE_RESEND_IP",
		"THROTTLE_RESEND_ACCOUNT", "SQLITE_SYNCHRONOUS", "ADMIN_LISTEN_ADDR", "DOCS_ENABLED",
	} {
		if !strings.Contains(" "+names+" ", " "+want+" ") {
			t.Errorf("setting %s missing", want)
		}
	}
	for _, secret := range []string{"SECRET_KEY", "SECRET_KEY_FALLBACKS", "SMTP_URL", "SENDGRID_API_KEY", "MONGODB_URI", "DATABASE_URL", "EVENTS_URL", "RATE_LIMIT_REDIS_URL"} {
		if !restreg.IsSecretSetting(secret) {
			t.Errorf("%s must be marked secret", secret)
		}
	}
}
