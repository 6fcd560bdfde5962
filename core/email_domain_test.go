package core

import (
	"strings"
	"testing"
	"unicode"
)

// The expected outputs are Python's ("…".encode("punycode") and
// .encode("idna")); the first four are also RFC 3492's sample strings.
func TestPunycodeEncode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"},
		{"他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"},
		{"3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"},
		{"安室奈美恵-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"},
		{"bücher", "bcher-kva"},
		{"münchen", "mnchen-3ya"},
		{"😀", "e28h"},
		{strings.Repeat("ü", 60), "tda" + strings.Repeat("a", 59)},
	} {
		if got := punycodeEncode(c.in); got != c.want {
			t.Errorf("punycodeEncode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPyIDNAEncode(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"bücher.de", "xn--bcher-kva.de", true},
		{"BÜCHER.DE", "xn--bcher-kva.DE", true}, // ASCII labels are kept as they are
		{"例え。テスト", "xn--r8jz45g.xn--zckzah", true},
		{"straße.de", "strasse.de", true},
		{"ＡＢ.com", "ab.com", true},
		{"münchen.", "xn--mnchen-3ya.", true},
		{"x\u00ady.ü", "xy.xn--tda", true},
		{"ex.COM", "ex.COM", true},
		{"xn--bücher.de", "", false},                                 // label starts with the ACE prefix
		{"a..ü", "", false},                                          // empty label
		{"\u00ad.ü", "", false},                                      // label mapped to nothing
		{strings.Repeat("ü", 59) + ".de", "", false},                 // punycode label too long
		{"\u05d0a\u05d1.com", "", false},                             // right-to-left and left-to-right mixed
		{"x\u2061y.de", "", false},                                   // prohibited invisible operator
		{"x" + string(rune(0x2f868)) + ".de", "xn--x-t55t.de", true}, // Unicode 3.2 maps it to U+2136A; today it is U+36FC (xn--x-c1w)
	} {
		got, ok := pyIDNAEncode(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("pyIDNAEncode(%+q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestNameprepTables(t *testing.T) {
	tb := loadNameprep()
	if string(tb.b2[0xdf]) != "ss" || string(tb.b2[0x2103]) != "°c" {
		t.Errorf("B.2 maps ß to %q and ℃ to %q", string(tb.b2[0xdf]), string(tb.b2[0x2103]))
	}
	for _, c := range []struct {
		table *unicode.RangeTable
		name  string
		r     rune
		in    bool
	}{
		{tb.assigned, "assigned", 'A', true},
		{tb.assigned, "assigned", 0x0860, false}, // Syriac supplement, Unicode 10
		{tb.assigned, "assigned", 0x1f600, false},
		{tb.d1, "R/AL", 0x05d0, true},
		{tb.d1, "R/AL", 0x0627, true},
		{tb.d1, "R/AL", 'a', false},
		{tb.d2, "L", 'a', true},
		{tb.d2, "L", '1', false},
	} {
		if got := unicode.Is(c.table, c.r); got != c.in {
			t.Errorf("%U in %s = %v, want %v", c.r, c.name, got, c.in)
		}
	}
}

func TestParseNameprepRejectsCorruptData(t *testing.T) {
	for _, data := range []string{
		"",
		"00DF 0073 0073\n",
		"[b2]\n00DF\n[assigned]\n0000..FFFF\n[d1]\n05D0\n[d2]\n0041\n",
		"[b2]\n00DF 0073 0073\n[assigned]\nZZZZ\n[d1]\n05D0\n[d2]\n0041\n",
		"[b2]\n00DF 0073 0073\n[assigned]\n0010..0001\n[d1]\n05D0\n[d2]\n0041\n",
		"[b2]\n00DF 0073 0073\n[assigned]\n0000..FFFF\n[d1]\n05D0\n",
	} {
		if _, err := parseNameprep(data); err == nil {
			t.Errorf("parseNameprep(%q) accepted corrupt data", data)
		}
	}
}

// One representative of each RFC 3454 table nameprep consults, inside a
// label "x?y.de"; Python refuses all but the last two.
func TestNameprepProhibitedCharacters(t *testing.T) {
	for _, c := range []struct {
		r    rune
		want string // "" when Python raises UnicodeError
	}{
		{0x0085, ""},              // C.2.2 control character
		{0x06dd, ""},              // C.2.2
		{0x180e, ""},              // C.2.2
		{0x2061, ""},              // C.2.2 invisible operator
		{0x1d173, ""},             // C.2.2 musical symbol
		{0xe000, ""},              // C.3 private use
		{0x10fffd, ""},            // C.3 private use
		{0xfdd0, ""},              // C.4 non-character
		{0x1fffe, ""},             // C.4 non-character
		{0xfff9, ""},              // C.6
		{0x2ff0, ""},              // C.7
		{0x200e, ""},              // C.8
		{0xe0001, ""},             // C.9
		{0x3000, "x y.de"},        // NFKC turns the ideographic space into an ASCII one (C.1.1 is not checked)
		{0x0340, "xn--xy-5tb.de"}, // C.8 lists U+0340, but NFKC has made it U+0300 by then
	} {
		got, ok := pyIDNAEncode("x" + string(c.r) + "y.de")
		if ok != (c.want != "") || got != c.want {
			t.Errorf("pyIDNAEncode(x %U y.de) = %q, %v; want %q", c.r, got, ok, c.want)
		}
	}
}
