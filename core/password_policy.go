package core

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Names of the password validators, as PASSWORD_VALIDATORS lists them.
const (
	PasswordSimilarity = "similarity"
	PasswordLength     = "length"
	PasswordCommon     = "common"
	PasswordNumeric    = "numeric"
)

// MaxPasswordLength is the longest password, in characters, that is
// validated and hashed; longer ones are refused outright so that no request
// can make the server hash megabytes.
const MaxPasswordLength = 4096

// Messages of Django's password validators, word for word.
const (
	MsgPasswordTooCommon       = "This password is too common."
	MsgPasswordEntirelyNumeric = "This password is entirely numeric."
)

// passwordMaxSimilarity is Django's default
// UserAttributeSimilarityValidator.max_similarity.
const passwordMaxSimilarity = 0.7

// PasswordAttributes are the user's own words a password must not resemble.
type PasswordAttributes struct {
	Username, FirstName, LastName, Email string
}

// PasswordPolicy runs Django 3.2's default password validators
// (UserAttributeSimilarityValidator, MinimumLengthValidator,
// CommonPasswordValidator, NumericPasswordValidator) with Django's messages.
// It is safe for concurrent use.
type PasswordPolicy struct {
	validators []string
	minLength  int
	common     map[string]struct{}
}

// NewPasswordPolicy returns a policy that runs validators (names from
// PASSWORD_VALIDATORS) in the given order, the length validator requiring
// minLength characters. An unknown name or a negative length is an error.
func NewPasswordPolicy(validators []string, minLength int) (*PasswordPolicy, error) {
	if minLength < 0 {
		return nil, fmt.Errorf("password policy: minimum length must not be negative (got %d)", minLength)
	}
	p := &PasswordPolicy{validators: append([]string(nil), validators...), minLength: minLength}
	for _, v := range validators {
		switch v {
		case PasswordSimilarity, PasswordLength, PasswordNumeric:
		case PasswordCommon:
			common, err := commonPasswords()
			if err != nil {
				return nil, err
			}
			p.common = common
		default:
			return nil, fmt.Errorf("password policy: unknown validator %q (known: %s, %s, %s, %s)",
				v, PasswordSimilarity, PasswordLength, PasswordCommon, PasswordNumeric)
		}
	}
	return p, nil
}

// Validate returns the reasons password is refused for the user described
// by attrs, one message per failing validator in validator order, or nil
// when it is acceptable. A password longer than MaxPasswordLength gets
// MsgPasswordTooLong alone.
func (p *PasswordPolicy) Validate(password string, attrs PasswordAttributes) []string {
	if utf8.RuneCountInString(password) > MaxPasswordLength {
		return []string{MsgPasswordTooLong}
	}
	var msgs []string
	var lower string
	lowered := false
	lowerPassword := func() string {
		if !lowered {
			lower, lowered = pyLower(password), true
		}
		return lower
	}
	for _, v := range p.validators {
		switch v {
		case PasswordSimilarity:
			if name, similar := similarAttribute(lowerPassword(), attrs); similar {
				msgs = append(msgs, "The password is too similar to the "+name+".")
			}
		case PasswordLength:
			if CharCount(password) < p.minLength {
				msgs = append(msgs, tooShortMessage(p.minLength))
			}
		case PasswordCommon:
			if _, found := p.common[pyStrip(lowerPassword())]; found {
				msgs = append(msgs, MsgPasswordTooCommon)
			}
		case PasswordNumeric:
			if isPyDigits(password) {
				msgs = append(msgs, MsgPasswordEntirelyNumeric)
			}
		}
	}
	return msgs
}

// tooShortMessage is MinimumLengthValidator's message, with Django's English
// plural rule.
func tooShortMessage(min int) string {
	unit := "characters"
	if min == 1 {
		unit = "character"
	}
	return "This password is too short. It must contain at least " + strconv.Itoa(min) + " " + unit + "."
}

// isPyDigits is Python's str.isdigit(): true for a non-empty string of
// digits, superscript and circled digits included.
func isPyDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !pyIsDigit(r) {
			return false
		}
	}
	return true
}

// similarAttribute is UserAttributeSimilarityValidator.validate: for each
// non-empty attribute in turn, the whole value and its parts split on runs of
// non-word characters are compared with the password; the first attribute
// with a part whose quick ratio reaches 0.7 is reported by its verbose name.
func similarAttribute(lowerPassword string, a PasswordAttributes) (string, bool) {
	pw := []rune(lowerPassword)
	for _, attr := range [...]struct{ value, name string }{
		{a.Username, "username"},
		{a.FirstName, "first name"},
		{a.LastName, "last name"},
		{a.Email, "email address"},
	} {
		if attr.value == "" {
			continue
		}
		for _, part := range append(splitNonWord(attr.value), attr.value) {
			if quickRatioReaches(pw, []rune(pyLower(part)), passwordMaxSimilarity) {
				return attr.name, true
			}
		}
	}
	return "", false
}

// splitNonWord is Python's re.split(r'\W+', s): empty strings appear where s
// starts or ends with a separator.
func splitNonWord(s string) []string {
	var parts []string
	start, inSep := 0, false
	for i, r := range s {
		word := pyIsWord(r)
		switch {
		case !word && !inSep:
			parts = append(parts, s[start:i])
			inSep = true
		case word && inSep:
			start = i
			inSep = false
		}
	}
	if inSep {
		return append(parts, "")
	}
	return append(parts, s[start:])
}

// quickRatioReaches reports whether difflib.SequenceMatcher(a=a,
// b=b).quick_ratio() >= limit: twice the size of the multiset intersection
// over the total length (1.0 for two empty strings), computed with the same
// float64 operations as Python.
func quickRatioReaches(a, b []rune, limit float64) bool {
	total := len(a) + len(b)
	if total == 0 {
		return 1.0 >= limit
	}
	// The ratio cannot exceed 2*min(len)/total; skipping hopeless pairs
	// keeps long passwords cheap and never changes the answer.
	if 2.0*float64(min(len(a), len(b)))/float64(total) < limit {
		return false
	}
	avail := make(map[rune]int, len(b))
	for _, r := range b {
		avail[r]++
	}
	matches := 0
	for _, r := range a {
		if avail[r] > 0 {
			matches++
		}
		avail[r]--
	}
	return 2.0*float64(matches)/float64(total) >= limit
}

// The list Django's CommonPasswordValidator uses (Django 3.2, 19,726
// lower-case passwords, one a line). See NOTICE.
//
//go:embed data/common-passwords.txt.gz
var commonPasswordsGz []byte

var (
	commonOnce sync.Once
	commonSet  map[string]struct{}
	commonErr  error
)

// commonPasswords decompresses the embedded list on first use; each line is
// stripped as Django strips it.
func commonPasswords() (map[string]struct{}, error) {
	commonOnce.Do(func() {
		zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
		if err != nil {
			commonErr = fmt.Errorf("password policy: read common-password list: %w", err)
			return
		}
		set := make(map[string]struct{}, 20000)
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			set[pyStrip(sc.Text())] = struct{}{}
		}
		if err := sc.Err(); err != nil {
			commonErr = fmt.Errorf("password policy: read common-password list: %w", err)
			return
		}
		commonSet = set
	})
	return commonSet, commonErr
}
