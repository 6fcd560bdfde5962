package restreg

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/restreg/restreg/adapters/filemail"
	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/mongostore"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/pgstore"
	"github.com/restreg/restreg/adapters/prommetrics"
	"github.com/restreg/restreg/adapters/redislimit"
	"github.com/restreg/restreg/adapters/sendgridmail"
	"github.com/restreg/restreg/adapters/smtpmail"
	"github.com/restreg/restreg/adapters/sqlitestore"
	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
)

// Config is the restreg command's whole configuration, one struct the
// settings loader fills and the catalogue projects onto each module: the
// domain policy Core reads (core.Settings), the choice of adapters, and each
// adapter's own Config. Every field with a `setting` tag, at any depth, is
// the documented setting of that name; `secret` marks values never printed.
type Config struct {
	core.Settings
	// The adapters STORE, MAIL_BACKEND, EVENTS_BACKEND and
	// RATE_LIMIT_BACKEND choose.
	Store            string `setting:"STORE"`
	MailBackend      string `setting:"MAIL_BACKEND"`
	EventsBackend    string `setting:"EVENTS_BACKEND"`
	RateLimitBackend string `setting:"RATE_LIMIT_BACKEND"`
	// DataDir holds the SQLite database, the mail files unless MAIL_FILE_DIR
	// says otherwise, and the key --dev generates.
	DataDir string `setting:"DATA_DIR"`
	httpapi.ServeConfig
	Operations

	HTTP    httpapi.Config
	Hashing passhash.Config

	SQLite     sqlitestore.Config
	Postgres   pgstore.Config
	MongoDB    mongostore.Config
	FileMail   filemail.Config
	SMTP       smtpmail.Config
	SendGrid   sendgridmail.Config
	Events     watermillpub.Config
	RedisLimit redislimit.Config
}

// Operations configures what the command adds around the API: logging,
// shutdown, the docs page and the admin listener.
type Operations struct {
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

// AdminAddr returns where the admin listener (/metrics, /debug/pprof/)
// listens: ADMIN_LISTEN_ADDR, or PPROF_ADDR, its older name; "" for none.
func (o Operations) AdminAddr() string {
	if o.AdminListenAddr != "" {
		return o.AdminListenAddr
	}
	return o.PprofAddr
}

// DefaultConfig returns the documented defaults. SECRET_KEY,
// REGISTER_VERIFICATION_URL and VERIFICATION_FROM_EMAIL have none.
func DefaultConfig() Config {
	return Config{
		Settings:         core.DefaultSettings(),
		Store:            "sqlite",
		MailBackend:      "file",
		EventsBackend:    "gochannel",
		RateLimitBackend: "memory",
		DataDir:          "./data",
		ServeConfig:      httpapi.DefaultServeConfig(),
		HTTP:             httpapi.DefaultConfig(),
		Hashing:          passhash.DefaultConfig(),
		Operations:       Operations{ShutdownTimeout: 15 * time.Second, LogLevel: "info", LogFormat: "text", DocsEnabled: true},
		SQLite:           sqlitestore.DefaultConfig(),
		Postgres:         pgstore.DefaultConfig(),
		MongoDB:          mongostore.DefaultConfig(),
		SendGrid:         sendgridmail.DefaultConfig(),
		Events:           watermillpub.DefaultConfig(),
		RedisLimit:       redislimit.DefaultConfig(),
	}
}

// MailFileDir returns MAIL_FILE_DIR, defaulting to DATA_DIR/mail.
func (c Config) MailFileDir() string {
	if c.FileMail.Dir != "" {
		return c.FileMail.Dir
	}
	return strings.TrimRight(c.DataDir, "/") + "/mail"
}

// sqlite returns the SQLite store's Config, in DATA_DIR.
func (c Config) sqlite() sqlitestore.Config {
	sc := c.SQLite
	sc.DataDir = c.DataDir
	return sc
}

// fileMail returns the file mailer's Config, MAIL_FILE_DIR defaulted.
func (c Config) fileMail() filemail.Config {
	return filemail.Config{Dir: c.MailFileDir()}
}

// metrics returns the labels of the metrics: the chosen backends.
func (c Config) metrics() prommetrics.Config {
	return prommetrics.Config{MailBackend: c.MailBackend, EventsBackend: c.EventsBackend}
}

// Validate returns one error per problem (joined), each a single line that
// names the setting; nil when the configuration can be served. An adapter's
// own settings are checked when that adapter is chosen.
func (c Config) Validate() error {
	errs := []error{c.Settings.Validate()}
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	oneOf := func(name, value string, allowed ...string) bool {
		if !slices.Contains(allowed, value) {
			add("%s must be one of %s (got %q)", name, strings.Join(allowed, ", "), value)
			return false
		}
		return true
	}
	oneOf("RATE_LIMIT_BACKEND", c.RateLimitBackend, "memory", "redis", "off")
	errs = append(errs, c.HTTP.Validate(), c.Hashing.Validate())
	if c.ListenAddr == "" {
		add("LISTEN_ADDR is required")
	}
	if oneOf("STORE", c.Store, "sqlite", "mongodb", "postgres", "memory") {
		switch c.Store {
		case "sqlite":
			errs = append(errs, c.sqlite().Validate())
		case "mongodb":
			errs = append(errs, c.MongoDB.Validate())
		case "postgres":
			errs = append(errs, c.Postgres.Validate())
		}
	}
	if oneOf("MAIL_BACKEND", c.MailBackend, "file", "smtp", "sendgrid", "console") {
		switch c.MailBackend {
		case "file":
			errs = append(errs, c.fileMail().Validate())
		case "smtp":
			errs = append(errs, c.SMTP.Validate())
		case "sendgrid":
			errs = append(errs, c.SendGrid.Validate())
		}
	}
	if oneOf("EVENTS_BACKEND", c.EventsBackend, "gochannel", "nats", "amqp", "redis") && c.EventsBackend != "gochannel" && c.Events.URL == "" {
		add("EVENTS_URL is required when EVENTS_BACKEND is %s", c.EventsBackend)
	}
	if c.RateLimitBackend == "redis" {
		errs = append(errs, c.RedisLimit.Validate())
	}
	if c.ShutdownTimeout <= 0 {
		add("SHUTDOWN_TIMEOUT must be a positive duration (got %s)", c.ShutdownTimeout)
	}
	oneOf("LOG_LEVEL", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("LOG_FORMAT", c.LogFormat, "text", "json")
	if c.AdminListenAddr != "" && c.PprofAddr != "" && c.AdminListenAddr != c.PprofAddr {
		add("PPROF_ADDR is the older name of ADMIN_LISTEN_ADDR: set only ADMIN_LISTEN_ADDR")
	}
	if admin := c.AdminAddr(); admin != "" && admin == c.ListenAddr && !strings.HasSuffix(admin, ":0") {
		name := "ADMIN_LISTEN_ADDR"
		if c.AdminListenAddr == "" {
			name = "PPROF_ADDR"
		}
		add("%s must differ from LISTEN_ADDR: metrics and the profiler never share the public listener", name)
	}
	return errors.Join(errs...)
}

// LoadSettings builds a Config from base (normally DefaultConfig()), then
// the YAML file at path (skipped when path is ""), then environment
// variables of the same names read through getenv. It returns one error line
// per value that cannot be parsed; Config.Validate checks the result.
func LoadSettings(base Config, path string, getenv func(string) (string, bool)) (Config, error) {
	s := base
	var errs []error
	if path != "" {
		errs = append(errs, applyYAML(&s, path)...)
	}
	errs = append(errs, applyEnv(&s, getenv)...)
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	return s, nil
}

// setting is one tagged field of Config, found at any depth.
type setting struct {
	name   string
	secret bool
	index  []int
}

// settings lists every tagged field of Config, in declaration order,
// descending into the structs of core.Settings and each adapter's Config.
func settings() []setting {
	var out []setting
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			at := append(slices.Clone(index), i)
			if name := f.Tag.Get("setting"); name != "" {
				out = append(out, setting{name: name, secret: f.Tag.Get("secret") == "true", index: at})
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.IsExported() {
				walk(f.Type, at)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), nil)
	return out
}

// settingFields lists the fields of c each setting name sets.
func settingFields(c *Config) map[string]reflect.Value {
	v := reflect.ValueOf(c).Elem()
	out := map[string]reflect.Value{}
	for _, s := range settings() {
		out[s.name] = v.FieldByIndex(s.index)
	}
	return out
}

// SettingNames returns every setting name, in declaration order.
func SettingNames() []string {
	var names []string
	for _, s := range settings() {
		names = append(names, s.name)
	}
	return names
}

// IsSecretSetting reports whether a setting's value must never be printed.
func IsSecretSetting(name string) bool {
	for _, s := range settings() {
		if s.name == name {
			return s.secret
		}
	}
	return false
}

func applyEnv(s *Config, getenv func(string) (string, bool)) []error {
	var errs []error
	for name, field := range settingFields(s) {
		raw, ok := getenv(name)
		if !ok {
			continue
		}
		if err := setField(field, name, raw); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func applyYAML(s *Config, path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []error{fmt.Errorf("config file %s: %w", path, err)}
	}
	fields := settingFields(s)
	var errs []error
	for name, value := range doc {
		field, ok := fields[name]
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s: unknown setting %s", path, name))
			continue
		}
		var raw string
		switch x := value.(type) {
		case nil:
			raw = ""
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			raw = strings.Join(parts, ",")
		case map[string]any:
			errs = append(errs, fmt.Errorf("%s: a mapping is not a valid value", name))
			continue
		default:
			raw = fmt.Sprint(x)
		}
		if err := setField(field, name, raw); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// setField parses raw into a settings field; the value is echoed in the
// error only for settings that are not secret.
func setField(field reflect.Value, name, raw string) error {
	shown := strconv.Quote(raw)
	if IsSecretSetting(name) {
		shown = "(value not shown)"
	}
	raw = strings.TrimSpace(raw)
	switch field.Interface().(type) {
	case string:
		field.SetString(raw)
	case bool:
		b, err := parseBool(raw)
		if err != nil {
			return fmt.Errorf("%s must be true or false (got %s)", name, shown)
		}
		field.SetBool(b)
	case int, int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%s must be a whole number (got %s)", name, shown)
		}
		field.SetInt(n)
	case time.Duration:
		d, err := parseDuration(raw)
		if err != nil {
			return fmt.Errorf("%s must be a duration like 168h, 90m or a number of seconds (got %s)", name, shown)
		}
		field.SetInt(int64(d))
	case []string:
		var list []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		field.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("%s: unsupported setting type %s", name, field.Type())
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// parseDuration accepts Go syntax (168h, 90m) and plain seconds (3600, 1.5).
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}
