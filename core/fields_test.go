package core_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
)

type fieldVectors struct {
	EmailValid []struct {
		In  string `json:"in"`
		Out bool   `json:"out"`
	} `json:"email_valid"`
	DRFInteger []struct {
		In  string          `json:"in"`
		Out json.RawMessage `json:"out"`
	} `json:"drf_integer"`
	UsernameValid []struct {
		In  string `json:"in"`
		Out bool   `json:"out"`
	} `json:"username_valid"`
	NormalizeEmail []struct {
		In  string `json:"in"`
		Out string `json:"out"`
	} `json:"normalize_email"`
}

func loadFieldVectors(t *testing.T) fieldVectors {
	t.Helper()
	var v fieldVectors
	readTestdataJSON(t, "django-field-vectors.json", &v)
	if len(v.EmailValid) < 500 || len(v.DRFInteger) < 300 || len(v.UsernameValid) < 300 || len(v.NormalizeEmail) < 100 {
		t.Fatal("field vectors are incomplete")
	}
	return v
}

// stricterThanDjango lists the vectors Django accepts and IsValidEmail
// refuses on purpose, because no mail can reach the address (see
// IsValidEmail), with the reason.
var stricterThanDjango = map[string]string{
	`""@c.de`:          "empty quoted local part",
	`""@example.com`:   "empty quoted local part",
	`""@a.-bc`:         "empty quoted local part",
	"\"\x01\"@c.de":    "control character",
	"a@x\u200dy.com":   "zero-width joiner outside its IDNA 2008 context",
	"a@\u0301.com":     "label starts with a combining mark",
	"a@\U0001f100.com": "NFKC leaves an empty label",
	"~yy}.c@\u4e2d\u017f9\u0661\uff0e6271749351989884345543743-99138759054909200393224361266337294.dn4d1cfx": "bidi rule",
	"X{2+@4858911.\u00df\u0130\u0661\U0001d400\u1e9e":                                                        "bidi rule",
	"A&^9.byy@yw.\U0001d400c\u00adZ\U0002f868\u00fc\u0661":                                                   "bidi rule",
	"|_/@\u0301\u01310c\uff0e8282489312086911811192501076--4598799057137566603197226201115":                  "label starts with a combining mark",
}

func TestIsValidEmailMatchesDjango(t *testing.T) {
	valid, stricter := 0, 0
	for _, c := range loadFieldVectors(t).EmailValid {
		want := c.Out
		if reason, ok := stricterThanDjango[c.In]; ok {
			if !c.Out {
				t.Errorf("%+q is listed as refused where Django accepts it (%s), but Django refuses it too", c.In, reason)
			}
			want = false
			stricter++
		}
		if got := core.IsValidEmail(c.In); got != want {
			t.Errorf("IsValidEmail(%+q) = %v, want %v (Django says %v)", c.In, got, want, c.Out)
		}
		if want {
			valid++
		}
	}
	if valid < 50 {
		t.Errorf("only %d valid addresses among the vectors", valid)
	}
	if stricter != len(stricterThanDjango) {
		t.Errorf("%d of the %d deliberate differences are among the vectors", stricter, len(stricterThanDjango))
	}
}

func TestParseDRFIntegerMatchesDRF(t *testing.T) {
	for _, c := range loadFieldVectors(t).DRFInteger {
		n, ok := core.ParseDRFInteger(c.In)
		want := string(c.Out)
		got := "null"
		if ok {
			got = strconv.FormatInt(n, 10)
		}
		if got != want {
			t.Errorf("ParseDRFInteger(%+q) = %s, DRF gives %s", c.In, got, want)
		}
	}
}

func TestIsValidUsernameMatchesDjango(t *testing.T) {
	for _, c := range loadFieldVectors(t).UsernameValid {
		if got := core.IsValidUsername(c.In); got != c.Out {
			t.Errorf("IsValidUsername(%+q) = %v, Django says %v", c.In, got, c.Out)
		}
	}
}

func TestNormalizeEmailMatchesDjango(t *testing.T) {
	for _, c := range loadFieldVectors(t).NormalizeEmail {
		if got := core.NormalizeEmail(c.In); got != c.Out {
			t.Errorf("NormalizeEmail(%+q) = %+q, Django gives %+q", c.In, got, c.Out)
		}
	}
}

func TestIsValidEmail(t *testing.T) {
	longDomain := strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".example"
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"ann@example.com", true},
		{"Ann.Lee+news@Mail.Example.ORG", true},
		{"ann@localhost", true},
		{"ann@LOCALHOST", false}, // the allow-list is case-sensitive
		{"ann@b", false},         // no top-level label
		{"ann@b.c", false},       // top-level label of one character
		{"ann@b.co", true},
		{"ann@b.12", true}, // digits are allowed in the last label
		{"ann@b.c-", false},
		{"ann@example.com.", false},
		{"ann@example..com", false},
		{"ann..lee@example.com", false},
		{".ann@example.com", false},
		{"ann lee@example.com", false},
		{`"ann lee"@example.com`, false}, // a space is not qtext
		{`"ann\ lee"@example.com`, true}, // but may be quoted-paired
		{`"ann@lee"@example.com`, true},
		{"ann@example.com\n", false},
		{" ann@example.com", false},
		{"ann\x00@example.com", false},
		{"ann@exa\x00mple.com", false},
		{"ann@[192.0.2.1]", true},
		{"ann@[192.0.2.01]", false},
		{"ann@[2001:db8::1]", true},
		{"ann@[IPv6:2001:db8::1]", false},
		{"ann@[2001:db8::1::2]", false},
		{"ann@bücher.de", true},
		{"ann@пример.рф", true},
		{"ann@例え。テスト", true},
		{"ann@xn--bcher-kva.de", true},
		{"ann@xn--bücher.de", false},
		{"ann@" + strings.Repeat("ü", 60) + ".de", false}, // punycode label over 63 characters
		{`""@example.com`, false},                         // an empty quoted local part names no mailbox
		{"\"ann\x01\"@example.com", false},                // SMTP cannot carry control characters,
		{"\"ann\\\x7f\"@example.com", false},              // not even quoted-paired
		{"\"ann\\\tlee\"@example.com", false},
		{"ann@\u2603.com", true},                            // a symbol has an A-label (xn--n3h)
		{"ann@x\u200dy.com", false},                         // a joiner outside its context has none
		{"ann@\u0301x.com", false},                          // nor a label starting with a combining mark
		{"ann@" + strings.Repeat("a.", 126) + "com", false}, // 255 octets: longer than DNS allows
		{"ann@ex\u200bample.com", true},                     // IDNA ignores the zero-width space
		{"ann@xn--zz.com", false},                           // not punycode of anything valid
		{"ann@a\u05d0.com", false},                          // mixed-direction label
		{"ann@\ue000.com", false},                           // private use
		{"ann@⒈.com", false},                                // NFKC gives "1.", an empty label
		{"jürgen@example.com", false},                       // the local part must be ASCII
		{"ſ@example.com", true},                             // Python's IGNORECASE folds ſ to s
		{"", false},
		{"@", false},
		{"ann@", false},
		{"@example.com", false},
		{strings.Repeat("a", 320-len(longDomain)-1) + "@" + longDomain, true},
		{strings.Repeat("a", 321-len(longDomain)-1) + "@" + longDomain, false}, // over 320 characters
	} {
		if got := core.IsValidEmail(c.in); got != c.want {
			t.Errorf("IsValidEmail(%+q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestParseDRFInteger(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1700000000", 1700000000, true},
		{"1700000000.0", 1700000000, true},
		{"1700000000.", 1700000000, true},
		{"1700000000.000 \n", 1700000000, true},
		{" 42 ", 42, true},
		{"\t-42\n", -42, true},
		{"+7", 7, true},
		{"007", 7, true},
		{"1_000_000", 1000000, true},
		{"١٧٠٠", 1700, true},        // Arabic-Indic digits are decimal digits to Python
		{"１２", 12, true},            // so are fullwidth digits
		{"\u2003 5\u3000", 5, true}, // and Unicode spaces surround them
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"1.5", 0, false},
		{"1.0.0", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
		{"1__0", 0, false},
		{"_1", 0, false},
		{"1_", 0, false},
		{"- 1", 0, false},
		{"²", 0, false}, // a digit to isdigit(), but not a decimal digit
		{"\x1c5", 0, false},
		{"5\x00", 0, false},
		{"\x005", 0, false},
		{"abc", 0, false},
		{"True", 0, false},
		{"", 0, false},
		{" ", 0, false},
		{".0", 0, false},
		{strings.Repeat("0", 999) + "7", 7, true},
		{strings.Repeat("0", 1000) + "7", 0, false}, // over DRF's 1000-character limit
	} {
		n, ok := core.ParseDRFInteger(c.in)
		if ok != c.ok || n != c.want {
			t.Errorf("ParseDRFInteger(%+q) = %d, %v; want %d, %v", c.in, n, ok, c.want, c.ok)
		}
	}
}

func FuzzParseDRFInteger(f *testing.F) {
	for _, s := range []string{"0", "-1", "1700000000.0", " 12 ", "1_000", "١٢", "9223372036854775807", "1.5", "", "\x00", "1.\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := core.ParseDRFInteger(s)
		// Whatever Go's strict parser reads, Python's int() reads the same.
		if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && core.CharCount(s) <= 1000 {
			if !ok || n != v {
				t.Fatalf("ParseDRFInteger(%q) = %d, %v; want %d", s, n, ok, v)
			}
		}
		if !ok {
			if n != 0 {
				t.Fatalf("refused %q but returned %d", s, n)
			}
			return
		}
		if core.CharCount(s) > 1000 {
			t.Fatalf("accepted %d characters", core.CharCount(s))
		}
		back, ok := core.ParseDRFInteger(strconv.FormatInt(n, 10))
		if !ok || back != n {
			t.Fatalf("%q gave %d, whose decimal form gives %d, %v", s, n, back, ok)
		}
	})
}

func TestIsValidUsername(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"ann", true},
		{"Ann_Lee-1.2+3@x", true},
		{"Ångström", true},
		{"Женя", true},
		{"أحمد", true},
		{"中文", true},
		{"²", true},        // numbers of any kind (No)
		{"Ⅷ", true},        // and Nl
		{"ｆｏｏ", true},      // fullwidth letters, normalised later
		{"é", true},        // precomposed
		{"e\u0301", false}, // combining acute (Mn) is not \w in Python
		{"क\u093f", false}, // nor is a spacing vowel sign (Mc)
		{"", false},
		{"ann lee", false},
		{"ann\n", false},
		{"ann\x00", false},
		{"ann/lee", false},
		{"ann!", false},
		{"a\u200db", false}, // zero-width joiner
		{"😀", false},
		{"\xff", false}, // invalid UTF-8
	} {
		if got := core.IsValidUsername(c.in); got != c.want {
			t.Errorf("IsValidUsername(%+q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestNormalizeUsername(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ann", "ann"},
		{"Ann", "Ann"},
		{"ｆｏｏ", "foo"},
		{"ﬁne", "fine"},
		{"e\u0301", "é"},
		{"Å", "Å"}, // Angstrom sign becomes the letter
		{"x²", "x2"},
		{"", ""},
	} {
		if got := core.NormalizeUsername(c.in); got != c.want {
			t.Errorf("NormalizeUsername(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

func TestUsernameKey(t *testing.T) {
	for _, c := range []struct {
		in              string
		caseInsensitive bool
		want            string
	}{
		{"Ann", true, "ann"},
		{"Ann", false, "Ann"},
		{"ＡＮＮ", true, "ann"},
		{"ＡＮＮ", false, "ANN"},
		{"Straße", true, "strasse"},
		{"STRASSE", true, "strasse"},
		{"ΣΊΣΥΦΟΣ", true, "σίσυφοσ"},
		{"σίσυφος", true, "σίσυφοσ"},
		{"e\u0301", true, "é"},
	} {
		if got := core.UsernameKey(c.in, c.caseInsensitive); got != c.want {
			t.Errorf("UsernameKey(%+q, %v) = %+q, want %+q", c.in, c.caseInsensitive, got, c.want)
		}
	}
	if core.UsernameKey("Ann", true) != core.UsernameKey("aNN", true) {
		t.Error("case variants of a name get different keys")
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Ann.Lee@Example.COM", "Ann.Lee@example.com"},
		{"  ann@EXAMPLE.com\n", "ann@example.com"},
		{"\u2003ann@EXAMPLE.com\u3000", "ann@example.com"},
		{"\x1cann@EXAMPLE.com\x1f", "ann@example.com"}, // Python strips the information separators
		{`"A@B"@Example.COM`, `"A@B"@example.com`},     // split at the last @
		{"ann@İSTANBUL.example", "ann@i\u0307stanbul.example"},
		{"ann@ΟΔΟΣ", "ann@οδος"},       // final sigma, as Python lower-cases it
		{"ann@ΟΔΟΣ.gr", "ann@οδοσ.gr"}, // "." is case-ignorable, so this sigma is not final
		{"NoAtSign", "NoAtSign"},
		{"", ""},
	} {
		if got := core.NormalizeEmail(c.in); got != c.want {
			t.Errorf("NormalizeEmail(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

func TestCharCount(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 1},
		{"e\u0301", 2}, // Python counts code points, not graphemes
		{"😀", 1},
		{"中文", 2},
		{"a\x00b", 3},
		{"\xff\xfe", 2},
	} {
		if got := core.CharCount(c.in); got != c.want {
			t.Errorf("CharCount(%+q) = %d, want %d", c.in, got, c.want)
		}
	}
}
