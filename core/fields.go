package core

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The request fields of the register and verify flows are judged exactly as
// Django and Django REST framework judge them, so that a frontend written
// for a Django backend sees the same answers. Python's string semantics
// differ from Go's in places (what is whitespace, a digit, a word
// character, a lower-case letter); the helpers below spell out Python's.

// pyIsSpace reports whether Python's str.isspace (and the \s of its re
// module) counts r as whitespace. Python adds the ASCII information
// separators U+001C–U+001F to Unicode's White_Space.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip() without arguments.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pyIsWord reports whether r matches \w of Python 3's re module for str
// patterns: characters for which str.isalnum() is true, plus "_". For
// Python that is exactly the Unicode categories L* and N* (Nd, Nl, No);
// combining marks (Mn, Mc) are not word characters.
func pyIsWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pyIsDigit reports whether Python's str.isdigit() is true for r: Unicode
// Numeric_Type Decimal (category Nd) or Digit, the latter being the
// superscript, subscript, circled and similar digits of pyDigitNotNd.
func pyIsDigit(r rune) bool {
	return unicode.Is(unicode.Nd, r) || unicode.Is(pyDigitNotNd, r)
}

// pyDigitNotNd lists the code points with Unicode Numeric_Type=Digit, which
// Python's str.isdigit() accepts besides category Nd (Unicode 14/15).
var pyDigitNotNd = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x00b2, Hi: 0x00b3, Stride: 1},
		{Lo: 0x00b9, Hi: 0x00b9, Stride: 1},
		{Lo: 0x1369, Hi: 0x1371, Stride: 1},
		{Lo: 0x19da, Hi: 0x19da, Stride: 1},
		{Lo: 0x2070, Hi: 0x2070, Stride: 1},
		{Lo: 0x2074, Hi: 0x2079, Stride: 1},
		{Lo: 0x2080, Hi: 0x2089, Stride: 1},
		{Lo: 0x2460, Hi: 0x2468, Stride: 1},
		{Lo: 0x2474, Hi: 0x247c, Stride: 1},
		{Lo: 0x2488, Hi: 0x2490, Stride: 1},
		{Lo: 0x24ea, Hi: 0x24ea, Stride: 1},
		{Lo: 0x24f5, Hi: 0x24fd, Stride: 1},
		{Lo: 0x24ff, Hi: 0x24ff, Stride: 1},
		{Lo: 0x2776, Hi: 0x277e, Stride: 1},
		{Lo: 0x2780, Hi: 0x2788, Stride: 1},
		{Lo: 0x278a, Hi: 0x2792, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0x10a40, Hi: 0x10a43, Stride: 1},
		{Lo: 0x10e60, Hi: 0x10e68, Stride: 1},
		{Lo: 0x11052, Hi: 0x1105a, Stride: 1},
		{Lo: 0x1f100, Hi: 0x1f10a, Stride: 1},
	},
}

// pyDecimalValue returns the value of a category-Nd digit, as Python's int()
// reads it. Unicode encodes every decimal digit set as ten consecutive code
// points 0–9, and adjacent sets (the mathematical digits) line up, so the
// value is the distance from the start of the run modulo ten.
func pyDecimalValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	start := r
	for unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10, true
}

// Casers are stateful and not safe for concurrent use, so each goroutine
// borrows its own.
var foldCasers = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// pyLower is Python's str.lower(): the Unicode lower-case mapping of each
// character, U+0130 "İ" becoming "i̇" (two code points), and capital sigma
// becoming final "ς" at the end of a word by Python's own rule (which
// golang.org/x/text/cases applies differently).
func pyLower(s string) string {
	if isASCII(s) {
		return asciiLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3a3:
			if pyFinalSigma(s, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// pyFinalSigma reports whether the capital sigma at byte i of s is in
// Python's Final_Sigma context: a cased letter before it and none after it,
// looking past case-ignorable characters on both sides.
func pyFinalSigma(s string, i int) bool {
	j := i
	for {
		if j == 0 {
			return false
		}
		r, size := utf8.DecodeLastRuneInString(s[:j])
		j -= size
		if pyCaseIgnorable(r) {
			continue
		}
		if !pyCased(r) {
			return false
		}
		break
	}
	for _, r := range s[i+utf8.RuneLen(0x3a3):] {
		if pyCaseIgnorable(r) {
			continue
		}
		return !pyCased(r)
	}
	return true
}

// pyCased is Unicode's Cased property: Lowercase, Uppercase or Lt.
func pyCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// pyCaseIgnorable is Unicode's Case_Ignorable property: categories Mn, Me,
// Cf, Lm and Sk, and the word-break classes MidLetter, MidNumLet and
// Single_Quote.
func pyCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// CharCount returns the length of s in code points, the unit Python (and so
// DRF's max_length) counts in. Each byte of an invalid UTF-8 sequence counts
// as one character.
func CharCount(s string) int { return utf8.RuneCountInString(s) }

// NormalizeUsername returns the form a username is stored and displayed in:
// Unicode NFKC, as Django's AbstractBaseUser.normalize_username does, so
// look-alike spellings ("ｆｏｏ", "ﬁ") become one name.
func NormalizeUsername(s string) string { return norm.NFKC.String(s) }

// UsernameLength is the length a username's max_length is checked against:
// the longer of the name as sent (what DRF counts) and its stored NFKC form.
// NFKC can make a name 18 times longer (U+FDFA becomes an 18-character
// phrase), and the limit is there for what is stored.
func UsernameLength(s string) int {
	return max(CharCount(s), CharCount(NormalizeUsername(s)))
}

// IsValidStoredUsername reports whether a username passes IsValidUsername
// both as sent (Django's rule) and in the NFKC form that is stored: NFKC
// can turn a letter or number into characters the rule refuses ("⑴" into
// "(1)", U+FDFA into words with spaces), and what is stored must be a name
// the rule accepts.
func IsValidStoredUsername(s string) bool {
	return IsValidUsername(s) && IsValidUsername(NormalizeUsername(s))
}

// UsernameKey returns the unique lookup key of a username: its NFKC form,
// case-folded when usernames are case-insensitive ("Straße" and "STRASSE"
// are then the same user).
func UsernameKey(username string, caseInsensitive bool) string {
	n := norm.NFKC.String(username)
	if !caseInsensitive {
		return n
	}
	c := foldCasers.Get().(*cases.Caser)
	defer foldCasers.Put(c)
	return c.String(n)
}

// IsValidUsername reports whether s passes Django's UnicodeUsernameValidator,
// the regular expression ^[\w.@+-]+\Z with Python 3's Unicode \w: letters
// and numbers of any script, "_", ".", "@", "+" and "-", nothing else.
//
// Like Django, the check runs on the username as sent, before NFKC: a
// letter followed by a combining mark (e + U+0301) is rejected because
// Python's \w does not match combining marks, while the precomposed "é" is
// accepted. Characters assigned after Unicode 14 follow Go's tables.
func IsValidUsername(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !pyIsWord(r) && r != '.' && r != '@' && r != '+' && r != '-' {
			return false
		}
	}
	return true
}

// NormalizeEmail returns an address as it is stored: surrounding whitespace
// trimmed (as DRF's CharField does), then Django's
// BaseUserManager.normalize_email: the part after the last "@" lower-cased,
// the local part kept as typed.
func NormalizeEmail(s string) string {
	s = pyStrip(s)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	return s[:at+1] + pyLower(s[at+1:])
}

// maxEmailLength is the limit Django's EmailValidator enforces before any
// regular expression runs (RFC 3696 section 3).
const maxEmailLength = 320

// The character classes below are Django's, compiled with re.IGNORECASE
// under Python's Unicode rules: case-insensitive matching lets [A-Z] also
// match U+0130 "İ", U+0131 "ı", U+017F "ſ" and U+212A (Kelvin sign), whose
// case mappings lead to ASCII letters, so they are listed explicitly.
const (
	emailFoldExtras = `\x{130}\x{131}\x{17f}\x{212a}`
	emailAtomChars  = `!#-'*+\-/-9=?A-Z^-~` + emailFoldExtras
	emailQTextChars = `\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f` + emailFoldExtras
	emailQPairChars = `\x01-\x09\x0b\x0c\x0e-\x7f` + emailFoldExtras
	emailLabelChars = `0-9A-Za-z` + emailFoldExtras
	// Python's [A-f0-9:.] spans A–Z, "[\]^_`" and a–f; ignoring case adds a–z.
	emailLiteralChars = `.0-:A-z` + emailFoldExtras
)

var (
	// Django's user_regex: a dot-atom or a quoted string.
	emailUserRe = regexp.MustCompile(`^(?:[` + emailAtomChars + `]+(?:\.[` + emailAtomChars + `]+)*` +
		`|"(?:[` + emailQTextChars + `]|\\[` + emailQPairChars + `])*")\z`)
	// Django's domain_regex: labels of up to 63 characters, and a last
	// label of 2 to 63 characters that does not end in "-" (Python's
	// (?<!-) look-behind, written without one).
	emailDomainRe = regexp.MustCompile(`^(?:[` + emailLabelChars + `](?:[` + emailLabelChars + `-]{0,61}[` + emailLabelChars + `])?\.)+` +
		`[` + emailLabelChars + `-]{1,62}[` + emailLabelChars + `]\z`)
	// Django's literal_regex: an address literal such as [192.0.2.1].
	emailLiteralRe = regexp.MustCompile(`^\[([` + emailLiteralChars + `]+)\]\z`)
)

// IsValidEmail reports whether s passes Django 3.2's EmailValidator (default
// allow-list "localhost"): at most 320 characters; a local
// part that is a dot-atom or a quoted string; a domain of at least two
// labels with a top-level label of two or more letters, digits or hyphens,
// or an [IPv4] / [IPv6] literal, or exactly "localhost". A domain that fails
// is retried in its punycode form (Python's IDNA 2003 codec), so "bücher.de"
// is valid. No trimming is done: spaces and newlines make s invalid.
//
// Three kinds of address Django accepts are refused, because no mail can
// reach them, so an account registered with one could never be verified:
// an ASCII control character anywhere (Django's quoted strings allow them;
// SMTP's do not, not even escaped), an empty quoted local part (`""@x.com`),
// and a domain that has no IDNA 2008 / UTS #46 A-label (symbols IDNA 2003
// allowed, empty labels after mapping, over 253 octets), which is also what
// EmailKey needs to give the address its canonical key.
func IsValidEmail(s string) bool {
	if s == "" || CharCount(s) > maxEmailLength || strings.ContainsFunc(s, isASCIIControl) {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	user, domain := s[:at], s[at+1:]
	if user == `""` || !emailUserRe.MatchString(user) {
		return false
	}
	if domain != "localhost" && !validEmailDomain(domain) {
		ace, ok := pyIDNAEncode(domain)
		if !ok || !validEmailDomain(ace) {
			return false
		}
	}
	_, routable := canonicalDomain(domain)
	return routable
}

// isASCIIControl reports C0 controls and DEL, which SMTP cannot carry.
func isASCIIControl(r rune) bool { return r < 0x20 || r == 0x7f }

// validEmailDomain is Django's EmailValidator.validate_domain_part.
func validEmailDomain(domain string) bool {
	if emailDomainRe.MatchString(domain) {
		return true
	}
	m := emailLiteralRe.FindStringSubmatch(domain)
	return m != nil && isPyIPAddress(m[1])
}

// drfIntegerMaxLength is DRF IntegerField's MAX_STRING_LENGTH.
const drfIntegerMaxLength = 1000

// ParseDRFInteger parses s as DRF's IntegerField does: strings longer than
// 1000 characters are refused; a trailing "." followed only by zeros and
// whitespace is dropped (so "1700000000.0" is 1700000000, "1.5" is refused);
// the rest is read by Python's int(): surrounding whitespace, an optional
// sign, decimal digits of any script and single underscores between digits.
// Values outside int64 are refused.
func ParseDRFInteger(s string) (int64, bool) {
	if CharCount(s) > drfIntegerMaxLength {
		return 0, false
	}
	// DRF's re.sub(r'\.0*\s*$', '', s): only the last "." can start a match,
	// because what may follow it holds no ".".
	if dot := strings.LastIndexByte(s, '.'); dot >= 0 {
		if strings.TrimFunc(strings.TrimLeft(s[dot+1:], "0"), pyIsSpace) == "" {
			s = s[:dot]
		}
	}
	return pyInt(s)
}

// pyInt is Python's int(s) for a str in base 10, limited to int64.
func pyInt(s string) (int64, bool) {
	// int() strips ASCII whitespace and any non-ASCII str.isspace()
	// character, but not the separators U+001C–U+001F that strip() removes.
	s = strings.TrimFunc(s, func(r rune) bool {
		return r == ' ' || (r >= '\t' && r <= '\r') || (r >= utf8.RuneSelf && pyIsSpace(r))
	})
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	// Accumulate as a negative number so that math.MinInt64 fits.
	var n int64
	const minInt64 = -1 << 63
	prevUnderscore, digits := false, 0
	for _, r := range s {
		if r == '_' {
			if digits == 0 || prevUnderscore {
				return 0, false
			}
			prevUnderscore = true
			continue
		}
		d, ok := pyDecimalValue(r)
		if !ok {
			return 0, false
		}
		prevUnderscore = false
		digits++
		if n < minInt64/10 || (n == minInt64/10 && int64(d) > -(minInt64%10)) {
			return 0, false
		}
		n = n*10 - int64(d)
	}
	if prevUnderscore {
		return 0, false
	}
	if neg {
		return n, true
	}
	if n == minInt64 {
		return 0, false
	}
	return -n, true
}

// TrimSpace trims what Python's str.strip() trims (which includes U+001C to
// U+001F), as DRF's CharField does with every text field.
func TrimSpace(s string) string { return pyStrip(s) }
