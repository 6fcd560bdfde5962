package usecase

import (
	"math"
	"strconv"
	"strings"

	"github.com/restreg/restreg/core"
)

// charField describes one DRF CharField: how it treats absence, null and blanks.
type charField struct {
	name       string
	required   bool
	allowBlank bool
	maxLength  int // 0 = no limit
}

// clean applies DRF CharField semantics to v: it returns the trimmed text and
// whether the field is usable (false when an error was recorded or the field
// is absent). A non-blank value then goes through the validators every DRF
// CharField has, max_length and ProhibitNullCharacters, in that order; a
// field with validators of its own that must run first uses parse and
// validate instead.
func (f charField) clean(v core.Value, errs *core.ValidationError) (string, bool) {
	s, ok := f.parse(v, errs)
	if !ok || s == "" {
		return s, ok
	}
	return s, f.validate(s, core.CharCount(s), errs)
}

// parse is DRF's CharField up to its validators: required, null, type,
// trimming and blank. It returns the trimmed text and whether the field is
// usable.
func (f charField) parse(v core.Value, errs *core.ValidationError) (string, bool) {
	switch {
	case !v.Present:
		if f.required {
			errs.Add(f.name, core.MsgRequired)
		}
		return "", false
	case v.Null:
		errs.Add(f.name, core.MsgNull)
		return "", false
	case v.NotText:
		errs.Add(f.name, core.MsgNotString)
		return "", false
	}
	s := core.TrimSpace(v.Text)
	if s == "" {
		if !f.allowBlank {
			errs.Add(f.name, core.MsgBlank)
			return "", false
		}
		return "", true
	}
	return s, true
}

// validate runs the validators DRF gives every CharField, after any of the
// field's own: MaxLengthValidator against length (the value's length in
// characters, or what the field counts instead) and
// ProhibitNullCharactersValidator. It reports whether both passed.
func (f charField) validate(s string, length int, errs *core.ValidationError) bool {
	ok := true
	if f.maxLength > 0 && length > f.maxLength {
		errs.Add(f.name, "Ensure this field has no more than "+strconv.Itoa(f.maxLength)+" characters.")
		ok = false
	}
	if strings.ContainsRune(s, 0) {
		errs.Add(f.name, core.MsgNullCharacters)
		ok = false
	}
	return ok
}

// cleanInteger applies DRF IntegerField semantics: JSON numbers and strings
// such as "1700000000" or "1700000000.0" are accepted.
func cleanInteger(name string, v core.Value, errs *core.ValidationError) (int64, bool) {
	switch {
	case !v.Present:
		errs.Add(name, core.MsgRequired)
		return 0, false
	case v.Null:
		errs.Add(name, core.MsgNull)
		return 0, false
	case v.NotText:
		errs.Add(name, core.MsgInvalidInteger)
		return 0, false
	}
	if !v.Number && core.CharCount(v.Text) > 1000 {
		errs.Add(name, core.MsgStringTooLarge)
		return 0, false
	}
	if n, ok := core.ParseDRFInteger(v.Text); ok {
		return n, true
	}
	// A JSON number in exponent form (1.7e9) is a float to Python; it is
	// accepted when it is integral, as int(float) would be.
	if v.Number {
		if f, err := strconv.ParseFloat(v.Text, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<62 {
			return int64(f), true
		}
	}
	errs.Add(name, core.MsgInvalidInteger)
	return 0, false
}
