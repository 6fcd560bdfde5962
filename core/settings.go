package core

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Settings is every knob restreg has. Each field's `setting` tag is its name
// in YAML files and the environment; `secret` marks values never printed.
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

	// RateLimitBackend is where request counts live: memory, redis or off.
	RateLimitBackend string `setting:"RATE_LIMIT_BACKEND"`
	// RateLimitRedisURL is the Redis server of RATE_LIMIT_BACKEND=redis.
	RateLimitRedisURL string `setting:"RATE_LIMIT_REDIS_URL" secret:"true"`
	// RateLimitKeyPrefix starts every Redis key, so deployments can share one
	// Redis server.
	RateLimitKeyPrefix string `setting:"RATE_LIMIT_KEY_PREFIX"`
	// TrustedProxies are the addresses (IPs and CIDR ranges) whose
	// X-Forwarded-For header is believed.
	TrustedProxies []string `setting:"TRUSTED_PROXIES"`
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
	ListenAddr         string   `setting:"LISTEN_ADDR"`
	BasePath           string   `setting:"BASE_PATH"`

	UsernameCaseInsensitive bool     `setting:"USERNAME_CASE_INSENSITIVE"`
	UserEmailUnique         bool     `setting:"USER_EMAIL_UNIQUE"`
	PasswordMinLength       int      `setting:"PASSWORD_MIN_LENGTH"`
	PasswordValidators      []string `setting:"PASSWORD_VALIDATORS"`
	PasswordHasher          string   `setting:"PASSWORD_HASHER"`
	PasswordLegacyHashers   bool     `setting:"PASSWORD_LEGACY_HASHERS"` // also verify Django's md5, sha1, unsalted and crypt hashes
	Argon2idMemoryKiB       int      `setting:"ARGON2ID_MEMORY_KIB"`
	Argon2idIterations      int      `setting:"ARGON2ID_ITERATIONS"`
	Argon2idParallelism     int      `setting:"ARGON2ID_PARALLELISM"`
	PBKDF2Iterations        int      `setting:"PBKDF2_ITERATIONS"`
	HashConcurrency         int      `setting:"HASH_CONCURRENCY"`
	// HashQueueSize bounds how many hash requests may wait for a slot; more
	// are refused with 503 at once instead of holding memory.
	HashQueueSize int `setting:"HASH_QUEUE_SIZE"`
	// HashQueueWait bounds how long one request waits for a slot before 503.
	HashQueueWait time.Duration `setting:"HASH_QUEUE_WAIT"`

	Store           string `setting:"STORE"`
	DataDir         string `setting:"DATA_DIR"`
	MongoDBURI      string `setting:"MONGODB_URI" secret:"true"`
	MongoDBDatabase string `setting:"MONGODB_DATABASE"`
	// DatabaseURL is the PostgreSQL server of STORE=postgres (postgres://…).
	DatabaseURL string `setting:"DATABASE_URL" secret:"true"`
	// DatabaseMaxConns bounds the PostgreSQL connection pool of one instance.
	DatabaseMaxConns int `setting:"DATABASE_MAX_CONNS"`
	// DatabaseConnectTimeout bounds one attempt to connect to PostgreSQL.
	DatabaseConnectTimeout time.Duration `setting:"DATABASE_CONNECT_TIMEOUT"`
	// DatabaseStatementTimeout makes PostgreSQL cancel a statement that runs
	// or waits for a lock longer, so a stuck database answers 503 in time.
	DatabaseStatementTimeout time.Duration `setting:"DATABASE_STATEMENT_TIMEOUT"`
	// SQLiteSynchronous is SQLite's synchronous pragma for STORE=sqlite:
	// FULL makes every commit durable before it is answered; NORMAL may lose
	// the last commits to a power cut.
	SQLiteSynchronous string `setting:"SQLITE_SYNCHRONOUS"`

	MailBackend    string `setting:"MAIL_BACKEND"`
	MailFileDir    string `setting:"MAIL_FILE_DIR"`
	SMTPURL        string `setting:"SMTP_URL" secret:"true"`
	SendGridAPIKey string `setting:"SENDGRID_API_KEY" secret:"true"`
	SendGridHost   string `setting:"SENDGRID_HOST"`

	EventsBackend     string `setting:"EVENTS_BACKEND"`
	EventsURL         string `setting:"EVENTS_URL" secret:"true"`
	EventsTopicPrefix string `setting:"EVENTS_TOPIC_PREFIX"`
	// OutboxPollInterval is how often the relay looks for events to publish
	// when it was not woken by a new one.
	OutboxPollInterval time.Duration `setting:"OUTBOX_POLL_INTERVAL"`
	// MailSendTimeout bounds one attempt to hand an e-mail to the mailer. An
	// e-mail a request or the courier is sending is leased for twice as long
	// before another courier may take it (after a crash, say).
	MailSendTimeout time.Duration `setting:"MAIL_SEND_TIMEOUT"`

	MaxBodyBytes         int64    `setting:"MAX_BODY_BYTES"`
	CORSAllowedOrigins   []string `setting:"CORS_ALLOWED_ORIGINS"`
	CORSAllowCredentials bool     `setting:"CORS_ALLOW_CREDENTIALS"`
	// ShutdownTimeout bounds how long in-flight requests and the relay get to
	// finish on SIGTERM.
	ShutdownTimeout time.Duration `setting:"SHUTDOWN_TIMEOUT"`
	LogLevel        string        `setting:"LOG_LEVEL"`
	LogFormat       string        `setting:"LOG_FORMAT"`
	// PprofAddr is the older name of AdminListenAddr, still honoured.
	PprofAddr string `setting:"PPROF_ADDR"`
	// AdminListenAddr, when set, serves /metrics and Go's profiler
	// (/debug/pprof/) on a second listener, never on the public one; bind it
	// to a private address. Empty: neither is served.
	AdminListenAddr string `setting:"ADMIN_LISTEN_ADDR"`
	// DocsEnabled serves the API reference page at /docs/; false answers 404
	// (the OpenAPI documents stay served).
	DocsEnabled bool `setting:"DOCS_ENABLED"`
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
		RateLimitBackend:                  "memory",
		RateLimitKeyPrefix:                "restreg:ratelimit:",
		ThrottleRegisterIP:                "60/hour",
		ThrottleRegisterEmail:             "5/hour",
		ThrottleVerifyIP:                  "120/minute",
		ThrottleVerifyUser:                "20/minute",
		ThrottleLoginIP:                   "120/minute",
		ThrottleLoginAccount:              "10/minute",
		ThrottleResendIP:                  "30/hour",
		ThrottleResendAccount:             "5/hour",
		ListenAddr:                        "127.0.0.1:8000",
		BasePath:                          "/api/v1/accounts",
		UsernameCaseInsensitive:           true,
		UserEmailUnique:                   true,
		PasswordMinLength:                 8,
		PasswordValidators:                []string{"similarity", "length", "common", "numeric"},
		PasswordHasher:                    "argon2id",
		PasswordLegacyHashers:             false,
		Argon2idMemoryKiB:                 19456,
		Argon2idIterations:                2,
		Argon2idParallelism:               1,
		PBKDF2Iterations:                  1000000,
		HashConcurrency:                   runtime.NumCPU(),
		HashQueueSize:                     256,
		HashQueueWait:                     10 * time.Second,
		Store:                             "sqlite",
		DataDir:                           "./data",
		SQLiteSynchronous:                 "FULL",
		MongoDBDatabase:                   "restreg",
		DatabaseMaxConns:                  16,
		DatabaseConnectTimeout:            5 * time.Second,
		DatabaseStatementTimeout:          10 * time.Second,
		MailBackend:                       "file",
		SendGridHost:                      "https://api.sendgrid.com",
		EventsBackend:                     "gochannel",
		EventsTopicPrefix:                 "restreg.",
		OutboxPollInterval:                time.Second,
		MailSendTimeout:                   60 * time.Second,
		MaxBodyBytes:                      65536,
		ShutdownTimeout:                   15 * time.Second,
		LogLevel:                          "info",
		LogFormat:                         "text",
		DocsEnabled:                       true,
	}
}

// AdminAddr returns where the admin listener (/metrics, /debug/pprof/)
// listens: ADMIN_LISTEN_ADDR, or PPROF_ADDR, its older name; "" for none.
func (s *Settings) AdminAddr() string {
	if s.AdminListenAddr != "" {
		return s.AdminListenAddr
	}
	return s.PprofAddr
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

// EffectiveMailFileDir returns MAIL_FILE_DIR, defaulting to DATA_DIR/mail.
func (s *Settings) EffectiveMailFileDir() string {
	if s.MailFileDir != "" {
		return s.MailFileDir
	}
	return strings.TrimRight(s.DataDir, "/") + "/mail"
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
	oneOf("RATE_LIMIT_BACKEND", s.RateLimitBackend, "memory", "redis", "off")
	if s.RateLimitBackend == "redis" {
		if s.RateLimitRedisURL == "" {
			add("RATE_LIMIT_REDIS_URL is required when RATE_LIMIT_BACKEND is redis")
		} else if u, err := url.Parse(s.RateLimitRedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			add("RATE_LIMIT_REDIS_URL must look like redis://host:6379/0 or rediss://… (value not shown)")
		}
	}
	if _, err := ParsePrefixes(s.TrustedProxies); err != nil {
		add("TRUSTED_PROXIES: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
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
	if !strings.HasPrefix(s.BasePath, "/") || strings.ContainsAny(s.BasePath, " ?#") {
		add("BASE_PATH must be a path starting with / (got %q)", s.BasePath)
	}
	if s.ListenAddr == "" {
		add("LISTEN_ADDR is required")
	}
	atLeast("PASSWORD_MIN_LENGTH", int64(s.PasswordMinLength), 1)
	for _, v := range s.PasswordValidators {
		oneOf("PASSWORD_VALIDATORS", v, "similarity", "length", "common", "numeric")
	}
	oneOf("PASSWORD_HASHER", s.PasswordHasher, "argon2id", "pbkdf2_sha256")
	atLeast("ARGON2ID_MEMORY_KIB", int64(s.Argon2idMemoryKiB), 8)
	atLeast("ARGON2ID_ITERATIONS", int64(s.Argon2idIterations), 1)
	atLeast("ARGON2ID_PARALLELISM", int64(s.Argon2idParallelism), 1)
	if s.Argon2idParallelism > 255 {
		add("ARGON2ID_PARALLELISM must be at most 255 (got %d)", s.Argon2idParallelism)
	}
	atLeast("PBKDF2_ITERATIONS", int64(s.PBKDF2Iterations), 1)
	atLeast("HASH_CONCURRENCY", int64(s.HashConcurrency), 1)
	atLeast("HASH_QUEUE_SIZE", int64(s.HashQueueSize), 0)
	positive("HASH_QUEUE_WAIT", s.HashQueueWait)

	oneOf("STORE", s.Store, "sqlite", "mongodb", "postgres", "memory")
	if s.Store == "sqlite" && s.DataDir == "" {
		add("DATA_DIR is required when STORE is sqlite")
	}
	if v := strings.ToUpper(s.SQLiteSynchronous); v != "FULL" && v != "NORMAL" {
		add("SQLITE_SYNCHRONOUS must be FULL or NORMAL (got %q)", s.SQLiteSynchronous)
	}
	if s.Store == "mongodb" && s.MongoDBURI == "" {
		add("MONGODB_URI is required when STORE is mongodb")
	}
	if s.Store == "mongodb" && s.MongoDBDatabase == "" {
		add("MONGODB_DATABASE must not be empty")
	}
	if s.Store == "postgres" {
		if s.DatabaseURL == "" {
			add("DATABASE_URL is required when STORE is postgres")
		} else if u, err := url.Parse(s.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			add("DATABASE_URL must look like postgres://user:pass@host:5432/dbname (value not shown)")
		}
		atLeast("DATABASE_MAX_CONNS", int64(s.DatabaseMaxConns), 1)
		positive("DATABASE_CONNECT_TIMEOUT", s.DatabaseConnectTimeout)
		positive("DATABASE_STATEMENT_TIMEOUT", s.DatabaseStatementTimeout)
	}
	oneOf("MAIL_BACKEND", s.MailBackend, "file", "smtp", "sendgrid", "console")
	if s.MailBackend == "smtp" {
		if s.SMTPURL == "" {
			add("SMTP_URL is required when MAIL_BACKEND is smtp")
		} else if u, err := url.Parse(s.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			add("SMTP_URL must look like smtp://user:pass@host:port or smtps://… (value not shown)")
		}
	}
	if s.MailBackend == "sendgrid" && s.SendGridAPIKey == "" {
		add("SENDGRID_API_KEY is required when MAIL_BACKEND is sendgrid")
	}
	if s.MailBackend == "sendgrid" {
		if u, err := url.Parse(s.SendGridHost); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("SENDGRID_HOST must be an http or https URL (got %q)", s.SendGridHost)
		}
	}
	if s.MailBackend == "file" && s.EffectiveMailFileDir() == "" {
		add("MAIL_FILE_DIR is required when MAIL_BACKEND is file")
	}
	oneOf("EVENTS_BACKEND", s.EventsBackend, "gochannel", "nats", "amqp", "redis")
	if s.EventsBackend != "gochannel" && s.EventsURL == "" {
		add("EVENTS_URL is required when EVENTS_BACKEND is %s", s.EventsBackend)
	}
	positive("OUTBOX_POLL_INTERVAL", s.OutboxPollInterval)
	positive("MAIL_SEND_TIMEOUT", s.MailSendTimeout)
	atLeast("MAX_BODY_BYTES", s.MaxBodyBytes, 1024)
	for _, o := range s.CORSAllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			add("CORS_ALLOWED_ORIGINS entry %q must be an origin like https://app.example.com", o)
		}
	}
	positive("SHUTDOWN_TIMEOUT", s.ShutdownTimeout)
	oneOf("LOG_LEVEL", s.LogLevel, "debug", "info", "warn", "error")
	oneOf("LOG_FORMAT", s.LogFormat, "text", "json")
	if s.AdminListenAddr != "" && s.PprofAddr != "" && s.AdminListenAddr != s.PprofAddr {
		add("PPROF_ADDR is the older name of ADMIN_LISTEN_ADDR: set only ADMIN_LISTEN_ADDR")
	}
	if admin := s.AdminAddr(); admin != "" && admin == s.ListenAddr && !strings.HasSuffix(admin, ":0") {
		name := "ADMIN_LISTEN_ADDR"
		if s.AdminListenAddr == "" {
			name = "PPROF_ADDR"
		}
		add("%s must differ from LISTEN_ADDR: metrics and the profiler never share the public listener", name)
	}
	return errors.Join(errs...)
}
