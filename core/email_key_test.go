package core_test

import (
	"testing"

	"github.com/restreg/restreg/core"
)

func TestEmailKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Ann.Lee@example.com", "ann.lee@example.com"},
		{"ANN@EXAMPLE.COM", "ann@example.com"},
		{"Ünal@bücher.de", "ünal@xn--bcher-kva.de"},
		{"u@exämple.com", "u@xn--exmple-cua.com"},
		{"u@XN--EXMPLE-CUA.COM", "u@xn--exmple-cua.com"},
		{"u@ｅｘａｍｐｌｅ.com", "u@example.com"},
		{"u@example\uff0ecom", "u@example.com"},   // fullwidth full stop
		{"u@例え。テスト", "u@xn--r8jz45g.xn--zckzah"},  // ideographic full stop
		{"u@ex\u00adample.com", "u@example.com"},  // soft hyphen, ignored by IDNA
		{"u@straße.de", "u@xn--strae-oqa.de"},     // not strasse.de: a different domain today
		{`"Ann"@example.com`, "ann@example.com"},  // quotes that change nothing
		{`"a\nn"@example.com`, "ann@example.com"}, // nor does a needless quoted pair
		{`"ann lee"@example.com`, `"ann lee"@example.com`},
		{`"ann\ lee"@example.com`, `"ann lee"@example.com`},
		{`"a\"b"@example.com`, `"a\"b"@example.com`},
		{"ann@[192.0.2.1]", "ann@[192.0.2.1]"},
		{"ann@[2001:DB8:0::1]", "ann@[2001:db8::1]"},
		{"ann@localhost", "ann@localhost"},
		{"ſ@example.com", "ſ@example.com"},
		{"NoAtSign", "noatsign"},
		{"", ""},
	} {
		if got := core.EmailKey(c.in); got != c.want {
			t.Errorf("EmailKey(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

// Every spelling of one mailbox gets one key, stored form or not.
func TestEmailKeyIsOneKeyPerMailbox(t *testing.T) {
	for _, group := range [][]string{
		{"u@example.com", "u@ｅｘａｍｐｌｅ.com", "U@EXAMPLE.COM", `"u"@example.com`, "u@Example.Com"},
		{"u@exämple.com", "u@xn--exmple-cua.com", "u@EXÄMPLE.COM", "u@ｅｘäｍｐｌｅ.com", "u@exa\u0308mple.com"},
	} {
		want := core.EmailKey(core.NormalizeEmail(group[0]))
		for _, addr := range group {
			if got := core.EmailKey(core.NormalizeEmail(addr)); got != want {
				t.Errorf("EmailKey(%+q) = %+q, want %+q as for %+q", addr, got, want, group[0])
			}
			if got := core.EmailKey(addr); got != want {
				t.Errorf("EmailKey(%+q) before normalising = %+q, want %+q", addr, got, want)
			}
		}
	}
	for _, pair := range [][2]string{
		{"u@example.com", "v@example.com"},
		{"u+1@example.com", "u@example.com"}, // tags are separate addresses
		{"u.v@gmail.com", "uv@gmail.com"},    // and so are dots, for uniqueness
		{"u@straße.de", "u@strasse.de"},
		{`"u v"@example.com`, "uv@example.com"},
	} {
		if core.EmailKey(pair[0]) == core.EmailKey(pair[1]) {
			t.Errorf("%+q and %+q share the key %+q", pair[0], pair[1], core.EmailKey(pair[0]))
		}
	}
}

func TestEmailThrottleKeyCountsOneInbox(t *testing.T) {
	for _, group := range [][]string{
		{"ann@example.com", "ann+1@example.com", "Ann+news@EXAMPLE.com", `"ann+x"@example.com`, "ann@ｅｘａｍｐｌｅ.com", "ann++@example.com"},
		{"ann.lee@gmail.com", "annlee@gmail.com", "a.n.n.l.e.e+x@gmail.com", "ANN.LEE@googlemail.com"},
		{"u@exämple.com", "u+tag@xn--exmple-cua.com"},
	} {
		want := core.EmailThrottleKey(group[0])
		for _, addr := range group {
			if got := core.EmailThrottleKey(core.NormalizeEmail(addr)); got != want {
				t.Errorf("EmailThrottleKey(%+q) = %+q, want %+q as for %+q", addr, got, want, group[0])
			}
		}
	}
	for _, pair := range [][2]string{
		{"ann.lee@example.com", "annlee@example.com"}, // dots matter outside Gmail
		{"ann@example.com", "bob@example.com"},
		{"+ann@example.com", "@example.com"}, // no mailbox name before the "+": nothing to strip
		{"ann@example.com", "ann@example.org"},
	} {
		if core.EmailThrottleKey(pair[0]) == core.EmailThrottleKey(pair[1]) {
			t.Errorf("%+q and %+q share the throttle key %+q", pair[0], pair[1], core.EmailThrottleKey(pair[0]))
		}
	}
	if core.EmailThrottleKey("") != "" {
		t.Error("no address has a throttle key")
	}
}

func TestEmailForDelivery(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Ann@example.com", "Ann@example.com"},
		{"Ann@bücher.de", "Ann@xn--bcher-kva.de"},
		{"Ann@例え。テスト", "Ann@xn--r8jz45g.xn--zckzah"},
		{`"ann lee"@bücher.de`, `"ann lee"@xn--bcher-kva.de`},
		{"ann@[192.0.2.1]", "ann@[192.0.2.1]"},
		{"ann@x\u200dy.com", "ann@x\u200dy.com"}, // no A-label: left for the caller to refuse
		{"NoAtSign", "NoAtSign"},
	} {
		if got := core.EmailForDelivery(c.in); got != c.want {
			t.Errorf("EmailForDelivery(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

func TestUsernameLengthCountsTheStoredForm(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"ann", 3},
		{"\ufdfa", 18},      // NFKC spells out the ligature
		{"\u1100\u1161", 2}, // NFKC composes the jamo into one syllable; DRF counts two
		{"ｆｏｏ", 3},
	} {
		if got := core.UsernameLength(c.in); got != c.want {
			t.Errorf("UsernameLength(%+q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestIsValidStoredUsername(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"ann", true},
		{"ｆｏｏ", true},
		{"x²", true},
		{"\ufdfa", false}, // a letter whose NFKC form holds spaces
		{"\u2474", false}, // "⑴" becomes "(1)"
		{"½", false},      // "1⁄2", with a fraction slash
		{"e\u0301", false},
	} {
		if got := core.IsValidStoredUsername(c.in); got != c.want {
			t.Errorf("IsValidStoredUsername(%+q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func BenchmarkEmailKey(b *testing.B) {
	for _, addr := range []string{"Ann.Lee@example.com", "zoë@exämple.com"} {
		b.Run(addr, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				core.EmailKey(addr)
			}
		})
	}
}
