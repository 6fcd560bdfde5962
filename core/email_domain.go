package core

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Django's EmailValidator retries a domain that fails its regular expression
// in punycode form, using Python's "idna" codec: IDNA 2003 ToASCII (RFC
// 3490) with nameprep (RFC 3491) over Unicode 3.2 data, unassigned code
// points allowed, no STD3 rules. Which internationalised domains are valid
// depends on every step (what nameprep prohibits, how long the punycode
// label gets), so the steps are reproduced here rather than approximated by
// the IDNA 2008 rules of golang.org/x/net/idna.

//go:embed data/nameprep-unicode-3.2.txt
var nameprepData string

// nameprepTables is the parsed form of nameprepData.
type nameprepTables struct {
	b2       map[rune][]rune // mapping where it differs from str.lower()
	assigned *unicode.RangeTable
	d1       *unicode.RangeTable // bidi R or AL
	d2       *unicode.RangeTable // bidi L
}

var (
	nameprepOnce sync.Once
	nameprep32   *nameprepTables
)

// loadNameprep parses the embedded tables once. The data is part of the
// binary and covered by tests, so a parse failure is a build defect.
func loadNameprep() *nameprepTables {
	nameprepOnce.Do(func() {
		t, err := parseNameprep(nameprepData)
		if err != nil {
			panic("core: embedded nameprep data is corrupt: " + err.Error())
		}
		nameprep32 = t
	})
	return nameprep32
}

func parseNameprep(data string) (*nameprepTables, error) {
	t := &nameprepTables{b2: map[rune][]rune{}}
	var section string
	ranges := map[string][]unicode.Range32{}
	for n, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			section = strings.Trim(line, "[]")
			continue
		}
		switch section {
		case "b2":
			fields := strings.Fields(line)
			cps, err := parseCodePoints(fields)
			if err != nil || len(cps) < 2 {
				return nil, fmt.Errorf("line %d: bad mapping", n+1)
			}
			t.b2[cps[0]] = cps[1:]
		case "assigned", "d1", "d2":
			lo, hi, found := strings.Cut(line, "..")
			if !found {
				hi = lo
			}
			cps, err := parseCodePoints([]string{lo, hi})
			if err != nil || cps[0] > cps[1] {
				return nil, fmt.Errorf("line %d: bad range", n+1)
			}
			ranges[section] = append(ranges[section], unicode.Range32{Lo: uint32(cps[0]), Hi: uint32(cps[1]), Stride: 1})
		default:
			return nil, fmt.Errorf("line %d: data outside a section", n+1)
		}
	}
	if len(t.b2) == 0 || len(ranges["assigned"]) == 0 || len(ranges["d1"]) == 0 || len(ranges["d2"]) == 0 {
		return nil, fmt.Errorf("missing section")
	}
	t.assigned = &unicode.RangeTable{R32: ranges["assigned"]}
	t.d1 = &unicode.RangeTable{R32: ranges["d1"]}
	t.d2 = &unicode.RangeTable{R32: ranges["d2"]}
	return t, nil
}

func parseCodePoints(hex []string) ([]rune, error) {
	out := make([]rune, len(hex))
	for i, h := range hex {
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil || v > unicode.MaxRune {
			return nil, fmt.Errorf("bad code point %q", h)
		}
		out[i] = rune(v)
	}
	return out, nil
}

// pyIDNAEncode is Python's domain.encode("idna").decode("ascii"); ok is
// false where Python raises UnicodeError.
func pyIDNAEncode(domain string) (string, bool) {
	if domain == "" {
		return "", true
	}
	if isASCII(domain) {
		labels := strings.Split(domain, ".")
		for _, l := range labels[:len(labels)-1] {
			if len(l) == 0 || len(l) > 63 {
				return "", false
			}
		}
		if len(labels[len(labels)-1]) > 63 {
			return "", false
		}
		return domain, true
	}
	labels := splitIDNADots(domain)
	trailingDot := ""
	if labels[len(labels)-1] == "" {
		trailingDot = "."
		labels = labels[:len(labels)-1]
	}
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		a, ok := idnaToASCII(l)
		if !ok {
			return "", false
		}
		out = append(out, a)
	}
	return strings.Join(out, ".") + trailingDot, true
}

// splitIDNADots splits at the four full stops IDNA 2003 treats as label
// separators (U+002E, U+3002, U+FF0E, U+FF61).
func splitIDNADots(s string) []string {
	var labels []string
	start := 0
	for i, r := range s {
		if r == '.' || r == '\u3002' || r == '\uff0e' || r == '\uff61' {
			labels = append(labels, s[start:i])
			start = i + utf8.RuneLen(r)
		}
	}
	return append(labels, s[start:])
}

// idnaToASCII is RFC 3490's ToASCII as Python's encodings.idna implements it.
func idnaToASCII(label string) (string, bool) {
	validLen := func(l string) (string, bool) { return l, len(l) > 0 && len(l) < 64 }
	if isASCII(label) {
		return validLen(label)
	}
	label, ok := nameprepLabel(label)
	if !ok {
		return "", false
	}
	if isASCII(label) {
		return validLen(label)
	}
	if strings.HasPrefix(label, "xn--") {
		return "", false
	}
	return validLen("xn--" + punycodeEncode(label))
}

// nameprepLabel is RFC 3491 nameprep as Python applies it: map (table B.1 to
// nothing, B.2 case folding), NFKC over Unicode 3.2, then refuse prohibited
// characters and mixed-direction labels.
func nameprepLabel(label string) (string, bool) {
	t := loadNameprep()
	var mapped strings.Builder
	for _, r := range label {
		if inTableB1(r) {
			continue
		}
		if m, ok := t.b2[r]; ok {
			mapped.WriteString(string(m))
			continue
		}
		mapped.WriteString(pyLower(string(r)))
	}
	s := nfkcUnicode32(t, mapped.String())

	hasRandAL, hasL := false, false
	var first, last rune
	for i, r := range s {
		if nameprepProhibited(r) {
			return "", false
		}
		if i == 0 {
			first = r
		}
		last = r
		hasRandAL = hasRandAL || unicode.Is(t.d1, r)
		hasL = hasL || unicode.Is(t.d2, r)
	}
	if hasRandAL && (hasL || !unicode.Is(t.d1, first) || !unicode.Is(t.d1, last)) {
		return "", false
	}
	return s, true
}

// nfkcUnicode32 reproduces Python's unicodedata.ucd_3_2_0.normalize("NFKC"):
// only code points assigned in Unicode 3.2 decompose (with 3.2's mappings,
// which differ from today's for five CJK compatibility ideographs), while
// reordering and composition use current data, as CPython does.
func nfkcUnicode32(t *nameprepTables, s string) string {
	var decomposed strings.Builder
	for _, r := range s {
		switch {
		case r == 0x2f868:
			decomposed.WriteRune(0x2136a)
		case r == 0x2f874:
			decomposed.WriteRune(0x5f33)
		case r == 0x2f91f:
			decomposed.WriteRune(0x43ab)
		case r == 0x2f95f:
			decomposed.WriteRune(0x7aae)
		case r == 0x2f9bf:
			decomposed.WriteRune(0x4d57)
		case unicode.Is(t.assigned, r):
			decomposed.WriteString(norm.NFKD.String(string(r)))
		default:
			decomposed.WriteRune(r)
		}
	}
	return norm.NFC.String(decomposed.String())
}

// inTableB1 reports RFC 3454 table B.1: code points mapped to nothing.
func inTableB1(r rune) bool {
	switch r {
	case 0x00ad, 0x034f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff:
		return true
	}
	return r >= 0xfe00 && r <= 0xfe0f
}

// nameprepProhibited reports RFC 3454 tables C.1.2 and C.2.2 to C.9 with
// Unicode 3.2 categories, as Python's stringprep module tests them.
func nameprepProhibited(r rune) bool {
	switch {
	case r == 0x00a0, r == 0x1680, r >= 0x2000 && r <= 0x200b, r == 0x202f, r == 0x205f, r == 0x3000: // C.1.2 (Zs in 3.2)
		return true
	case r >= 0x80 && r <= 0x9f: // C.2.2, control characters
		return true
	case r == 0x06dd, r == 0x070f, r == 0x180e, r == 0x200c, r == 0x200d, r == 0x2028, r == 0x2029,
		r >= 0x2060 && r <= 0x2063, r >= 0x206a && r <= 0x206f, r >= 0xfff9 && r <= 0xfffc, r == 0xfeff,
		r >= 0x1d173 && r <= 0x1d17a: // C.2.2, the rest
		return true
	case unicode.Is(unicode.Co, r): // C.3 private use
		return true
	case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe: // C.4 non-characters
		return true
	case r >= 0xd800 && r <= 0xdfff: // C.5 surrogates
		return true
	case r >= 0xfff9 && r <= 0xfffd: // C.6 inappropriate for plain text
		return true
	case r >= 0x2ff0 && r <= 0x2ffb: // C.7 inappropriate for canonical representation
		return true
	case r == 0x0340, r == 0x0341, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f: // C.8
		return true
	case r == 0xe0001, r >= 0xe0020 && r <= 0xe007f: // C.9 tagging characters
		return true
	}
	return false
}

// punycodeEncode is RFC 3492's encoder (Python's "punycode" codec): the
// basic code points in order, a "-" if there were any, then the deltas.
func punycodeEncode(s string) string {
	const (
		base, tMin, tMax, skew, damp = 36, 1, 26, 38, 700
		initialBias, initialN        = 72, 128
	)
	runes := []rune(s)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	basic := len(out)
	if basic > 0 {
		out = append(out, '-')
	}
	digit := func(d int) byte {
		if d < 26 {
			return byte('a' + d)
		}
		return byte('0' + d - 26)
	}
	adapt := func(delta, numPoints int, first bool) int {
		if first {
			delta /= damp
		} else {
			delta /= 2
		}
		delta += delta / numPoints
		k := 0
		for delta > ((base-tMin)*tMax)/2 {
			delta /= base - tMin
			k += base
		}
		return k + (base-tMin+1)*delta/(delta+skew)
	}
	n, delta, bias, handled := initialN, 0, initialBias, basic
	for handled < len(runes) {
		m := math.MaxInt
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		delta += (m - n) * (handled + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) != n {
				continue
			}
			q := delta
			for k := base; ; k += base {
				t := k - bias
				if t < tMin {
					t = tMin
				} else if t > tMax {
					t = tMax
				}
				if q < t {
					break
				}
				out = append(out, digit(t+(q-t)%(base-t)))
				q = (q - t) / (base - t)
			}
			out = append(out, digit(q))
			bias = adapt(delta, handled+1, handled == basic)
			delta = 0
			handled++
		}
		delta++
		n++
	}
	return string(out)
}

// isPyIPAddress is Django's validate_ipv46_address: a valid IPv4 address
// (Python's ipaddress, leading zeros refused) or a valid IPv6 address.
func isPyIPAddress(s string) bool {
	_, ok4 := pyIPv4(s)
	return ok4 || pyIPv6(s)
}

// pyIPv4 is ipaddress.IPv4Address: four dot-separated decimal octets of one
// to three ASCII digits, no leading zeros, each at most 255.
func pyIPv4(s string) (uint32, bool) {
	octets := strings.Split(s, ".")
	if len(octets) != 4 {
		return 0, false
	}
	var v uint32
	for _, o := range octets {
		if o == "" || len(o) > 3 || (len(o) > 1 && o[0] == '0') {
			return 0, false
		}
		n := 0
		for i := 0; i < len(o); i++ {
			if o[i] < '0' || o[i] > '9' {
				return 0, false
			}
			n = n*10 + int(o[i]-'0')
		}
		if n > 255 {
			return 0, false
		}
		v = v<<8 | uint32(n)
	}
	return v, true
}

// pyIPv6 is ipaddress.IPv6Address's parser, step by step, so that every
// accepted spelling ("::", "1::", "::ffff:192.0.2.1") and every refused one
// matches. Scope ids ("%eth0") cannot occur: the literal regex excludes "%".
func pyIPv6(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) < 3 {
		return false
	}
	if last := parts[len(parts)-1]; strings.Contains(last, ".") {
		v4, ok := pyIPv4(last)
		if !ok {
			return false
		}
		parts = append(parts[:len(parts)-1], strconv.FormatUint(uint64(v4>>16), 16), strconv.FormatUint(uint64(v4&0xffff), 16))
	}
	const hextets = 8
	if len(parts) > hextets+1 {
		return false
	}
	skip := -1
	for i := 1; i < len(parts)-1; i++ {
		if parts[i] == "" {
			if skip >= 0 {
				return false
			}
			skip = i
		}
	}
	var hi, lo int
	if skip >= 0 {
		hi, lo = skip, len(parts)-skip-1
		if parts[0] == "" {
			hi--
			if hi != 0 {
				return false
			}
		}
		if parts[len(parts)-1] == "" {
			lo--
			if lo != 0 {
				return false
			}
		}
		if hextets-(hi+lo) < 1 {
			return false
		}
	} else {
		if len(parts) != hextets || parts[0] == "" || parts[len(parts)-1] == "" {
			return false
		}
		hi, lo = len(parts), 0
	}
	check := func(h string) bool {
		if h == "" || len(h) > 4 {
			return false
		}
		for i := 0; i < len(h); i++ {
			c := h[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
		return true
	}
	for _, h := range parts[:hi] {
		if !check(h) {
			return false
		}
	}
	for _, h := range parts[len(parts)-lo:] {
		if !check(h) {
			return false
		}
	}
	return true
}
