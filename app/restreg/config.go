package restreg

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/restreg/restreg/core"
)

// LoadSettings builds Settings from base (normally core.DefaultSettings()),
// then the YAML file at path (skipped when path is ""), then environment
// variables of the same names read through getenv. It returns one error line
// per value that cannot be parsed; Settings.Validate checks the result.
func LoadSettings(base core.Settings, path string, getenv func(string) (string, bool)) (core.Settings, error) {
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

// settingFields lists each Settings field with its setting name.
func settingFields(s *core.Settings) map[string]reflect.Value {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	out := make(map[string]reflect.Value, t.NumField())
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("setting"); name != "" {
			out[name] = v.Field(i)
		}
	}
	return out
}

// SettingNames returns every setting name, in declaration order.
func SettingNames() []string {
	t := reflect.TypeOf(core.Settings{})
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("setting"); name != "" {
			names = append(names, name)
		}
	}
	return names
}

// IsSecretSetting reports whether a setting's value must never be printed.
func IsSecretSetting(name string) bool {
	t := reflect.TypeOf(core.Settings{})
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("setting") == name {
			return t.Field(i).Tag.Get("secret") == "true"
		}
	}
	return false
}

func applyEnv(s *core.Settings, getenv func(string) (string, bool)) []error {
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

func applyYAML(s *core.Settings, path string) []error {
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
