package restreg_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/app/restreg"
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
	s, err := restreg.LoadSettings(restreg.DefaultConfig(), file, envOf(map[string]string{
		"LISTEN_ADDR":                        "127.0.0.1:9100",
		"REGISTER_VERIFICATION_ONE_TIME_USE": "true",
		"SECRET_KEY_FALLBACKS":               "old-1, old-2",
		"HASH_QUEUE_WAIT":                    "2.5",
		"RATE_LIMIT_BACKEND":                 "off",
		"TRUSTED_PROXIES":                    "10.0.0.0/8, ::1",
		"PASSWORD_HASHER":                    "pbkdf2_sha256",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.RegisterVerificationPeriod != 90*time.Minute || s.HTTP.BasePath != "/accounts" || s.PasswordMinLength != 12 {
		t.Fatalf("file values not applied: %+v", s)
	}
	if strings.Join(s.UserLoginFields, ",") != "email" {
		t.Fatalf("USER_LOGIN_FIELDS = %q", s.UserLoginFields)
	}
	if s.ListenAddr != "127.0.0.1:9100" {
		t.Fatalf("environment must override the file: LISTEN_ADDR = %q", s.ListenAddr)
	}
	if !s.RegisterVerificationOneTimeUse || strings.Join(s.SecretKeyFallbacks, "|") != "old-1|old-2" || s.Hashing.HashQueueWait != 2500*time.Millisecond {
		t.Fatalf("environment values not applied: %+v", s)
	}
	if s.RateLimitBackend != "off" || strings.Join(s.HTTP.TrustedProxies, "|") != "10.0.0.0/8|::1" || s.Hashing.PasswordHasher != "pbkdf2_sha256" {
		t.Fatalf("adapter settings not applied: %+v", s)
	}
	if !s.RegisterFlowEnabled || s.Store != "sqlite" {
		t.Fatal("defaults lost")
	}
}

func TestUnparseableValuesAreReportedOneLineEachWithoutSecrets(t *testing.T) {
	_, err := restreg.LoadSettings(restreg.DefaultConfig(), "", envOf(map[string]string{
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
	_, err = restreg.LoadSettings(restreg.DefaultConfig(), "", envOf(map[string]string{"ARGON2ID_ITERATIONS": "x", "SECRET_KEY_FALLBACKS": "a"}))
	if err == nil {
		t.Fatal("accepted")
	}
}

func TestUnknownKeysInTheFileAreProblems(t *testing.T) {
	file := filepath.Join(t.TempDir(), "restreg.yaml")
	if err := os.WriteFile(file, []byte("REGISTER_VERIFICATON_URL: https://typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := restreg.LoadSettings(restreg.DefaultConfig(), file, envOf(nil))
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
		"PASSWORD_LEGACY_HASHERS", "HASH_QUEUE_SIZE", "HASH_QUEUE_WAIT",
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

func validConfig() restreg.Config {
	c := restreg.DefaultConfig()
	c.SecretKey = "config-test-secret-key-6b1e9d3a7c5f2048e1a3c5b7d9f0a2c4"
	c.RegisterVerificationURL = "https://app.example.com/verify-user/"
	c.VerificationFromEmail = "noreply@example.com"
	return c
}

// Each adapter checks its own settings when it is chosen, one line per
// problem naming the setting.
func TestEachAdapterProblemIsOneLineNamingTheSetting(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid configuration rejected: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*restreg.Config)
		want   string
	}{
		"store":              {func(c *restreg.Config) { c.Store = "cassandra" }, "STORE must be one of sqlite, mongodb, postgres, memory"},
		"sqlite data dir":    {func(c *restreg.Config) { c.DataDir = "" }, "DATA_DIR is required when STORE is sqlite"},
		"sqlite synchronous": {func(c *restreg.Config) { c.SQLite.Synchronous = "OFF" }, `SQLITE_SYNCHRONOUS must be FULL or NORMAL (got "OFF")`},
		"mongo uri":          {func(c *restreg.Config) { c.Store = "mongodb" }, "MONGODB_URI is required when STORE is mongodb"},
		"database url":       {func(c *restreg.Config) { c.Store = "postgres" }, "DATABASE_URL is required when STORE is postgres"},
		"database pool": {func(c *restreg.Config) {
			c.Store, c.Postgres.URL, c.Postgres.MaxConns = "postgres", "postgres://db/x", 0
		}, "DATABASE_MAX_CONNS must be at least 1"},
		"mail backend":       {func(c *restreg.Config) { c.MailBackend = "pigeon" }, "MAIL_BACKEND must be one of file, smtp, sendgrid, console"},
		"smtp url":           {func(c *restreg.Config) { c.MailBackend = "smtp" }, "SMTP_URL is required when MAIL_BACKEND is smtp"},
		"sendgrid key":       {func(c *restreg.Config) { c.MailBackend = "sendgrid" }, "SENDGRID_API_KEY is required when MAIL_BACKEND is sendgrid"},
		"events url":         {func(c *restreg.Config) { c.EventsBackend = "nats" }, "EVENTS_URL is required when EVENTS_BACKEND is nats"},
		"redis url":          {func(c *restreg.Config) { c.RateLimitBackend = "redis" }, "RATE_LIMIT_REDIS_URL is required when RATE_LIMIT_BACKEND is redis"},
		"redis scheme":       {func(c *restreg.Config) { c.RateLimitBackend, c.RedisLimit.URL = "redis", "http://u:pw@host" }, "RATE_LIMIT_REDIS_URL must look like redis://"},
		"listen address":     {func(c *restreg.Config) { c.ListenAddr = "" }, "LISTEN_ADDR is required"},
		"shutdown":           {func(c *restreg.Config) { c.ShutdownTimeout = 0 }, "SHUTDOWN_TIMEOUT must be a positive duration"},
		"log level":          {func(c *restreg.Config) { c.LogLevel = "loud" }, "LOG_LEVEL must be one of debug, info, warn, error"},
		"admin on public":    {func(c *restreg.Config) { c.AdminListenAddr = c.ListenAddr }, "ADMIN_LISTEN_ADDR must differ from LISTEN_ADDR"},
		"pprof on public":    {func(c *restreg.Config) { c.PprofAddr = c.ListenAddr }, "PPROF_ADDR must differ from LISTEN_ADDR"},
		"pprof and admin":    {func(c *restreg.Config) { c.PprofAddr, c.AdminListenAddr = "127.0.0.1:6060", "127.0.0.1:9090" }, "PPROF_ADDR is the older name of ADMIN_LISTEN_ADDR"},
		"rate limit backend": {func(c *restreg.Config) { c.RateLimitBackend = "memcached" }, `RATE_LIMIT_BACKEND must be one of memory, redis, off (got "memcached")`},
		"http rule":          {func(c *restreg.Config) { c.HTTP.BasePath = "api" }, "BASE_PATH must be a path starting with /"},
		"trusted proxies":    {func(c *restreg.Config) { c.HTTP.TrustedProxies = []string{"lb.internal"} }, `TRUSTED_PROXIES: "lb.internal" is not an IP address or CIDR range`},
		"hasher rule":        {func(c *restreg.Config) { c.Hashing.PasswordHasher = "md5" }, "PASSWORD_HASHER must be one of argon2id, pbkdf2_sha256"},
		"unchosen adapters":  {func(c *restreg.Config) { c.MongoDB.Database, c.SMTP.URL = "", "not a url" }, ""},
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("settings of adapters not chosen were checked: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Fatalf("problems = %q, want one line starting %q", lines, tc.want)
			}
		})
	}
}

func TestSecretsNeverAppearInProblems(t *testing.T) {
	for name, change := range map[string]func(*restreg.Config){
		"smtp": func(c *restreg.Config) { c.MailBackend, c.SMTP.URL = "smtp", "ftp://user:hunter2-secret@host" },
		"postgres": func(c *restreg.Config) {
			c.Store, c.Postgres.URL = "postgres", "mysql://restreg:hunter2-secret@db/restreg"
		},
		"redis": func(c *restreg.Config) {
			c.RateLimitBackend, c.RedisLimit.URL = "redis", "http://u:hunter2-secret@host"
		},
	} {
		c := validConfig()
		change(&c)
		if err := c.Validate(); err == nil || strings.Contains(err.Error(), "hunter2-secret") {
			t.Errorf("%s: problem text leaks the password or is missing: %v", name, err)
		}
	}
}

// Each adapter's settings land in that adapter's own Config, and MAIL_FILE_DIR
// defaults to DATA_DIR/mail.
func TestSettingsLandInEachAdaptersConfig(t *testing.T) {
	c, err := restreg.LoadSettings(restreg.DefaultConfig(), "", envOf(map[string]string{
		"DATA_DIR":              "/srv/restreg",
		"SQLITE_SYNCHRONOUS":    "NORMAL",
		"MONGODB_URI":           "mongodb://db/",
		"DATABASE_URL":          "postgres://db/restreg",
		"DATABASE_MAX_CONNS":    "4",
		"SMTP_URL":              "smtp://mail:25",
		"SENDGRID_API_KEY":      "SG.key",
		"EVENTS_URL":            "nats://broker:4222",
		"EVENTS_TOPIC_PREFIX":   "accounts.",
		"RATE_LIMIT_REDIS_URL":  "redis://cache:6379/0",
		"RATE_LIMIT_KEY_PREFIX": "rl:",
		"LISTEN_ADDR":           "0.0.0.0:8080",
		"ADMIN_LISTEN_ADDR":     "127.0.0.1:9090",
		"MAX_BODY_BYTES":        "4096",
		"CORS_ALLOWED_ORIGINS":  "https://app.example.com",
		"ARGON2ID_MEMORY_KIB":   "65536",
		"HASH_CONCURRENCY":      "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/restreg" || c.SQLite.Synchronous != "NORMAL" || c.MailFileDir() != "/srv/restreg/mail" {
		t.Errorf("SQLite and file mail: %+v, %+v, %q", c.DataDir, c.SQLite, c.MailFileDir())
	}
	if c.MongoDB.URI != "mongodb://db/" || c.MongoDB.Database != "restreg" || c.Postgres.URL != "postgres://db/restreg" || c.Postgres.MaxConns != 4 {
		t.Errorf("stores: %+v, %+v", c.MongoDB, c.Postgres)
	}
	if c.SMTP.URL != "smtp://mail:25" || c.SendGrid.APIKey != "SG.key" || c.SendGrid.Host != "https://api.sendgrid.com" {
		t.Errorf("mailers: %+v, %+v", c.SMTP, c.SendGrid)
	}
	if c.Events.URL != "nats://broker:4222" || c.Events.TopicPrefix != "accounts." || c.RedisLimit.URL != "redis://cache:6379/0" || c.RedisLimit.KeyPrefix != "rl:" {
		t.Errorf("events and limiter: %+v, %+v", c.Events, c.RedisLimit)
	}
	if c.HTTP.MaxBodyBytes != 4096 || strings.Join(c.HTTP.CORSAllowedOrigins, ",") != "https://app.example.com" || c.HTTP.BasePath != "/api/v1/accounts" {
		t.Errorf("HTTP API: %+v", c.HTTP)
	}
	if c.Hashing.Argon2idMemoryKiB != 65536 || c.Hashing.HashConcurrency != 3 || c.Hashing.PasswordHasher != "argon2id" {
		t.Errorf("hasher: %+v", c.Hashing)
	}
	if c.ListenAddr != "0.0.0.0:8080" || c.AdminAddr() != "127.0.0.1:9090" {
		t.Errorf("listeners: %q, %q", c.ListenAddr, c.AdminAddr())
	}
	c, err = restreg.LoadSettings(restreg.DefaultConfig(), "", envOf(map[string]string{"DATA_DIR": "/srv/restreg", "MAIL_FILE_DIR": "/var/mail/restreg"}))
	if err != nil || c.MailFileDir() != "/var/mail/restreg" {
		t.Errorf("MAIL_FILE_DIR = %q, %v; want it to win over DATA_DIR/mail", c.MailFileDir(), err)
	}
}
