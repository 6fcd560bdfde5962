package email_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/templates"
)

// Registration accepts an address, stores it and then mails it: an address
// that passes core.IsValidEmail but cannot be composed or rendered would
// create a user, fail with 503 and delete the user again, every time.

// validAddressSeeds are the corners of Django's EmailValidator grammar.
var validAddressSeeds = []string{
	"ann@example.com",
	"Ann.Lee+news@Mail.Example.ORG",
	"ann@localhost",
	"!#$%&'*+-/=?^_`{|}~@example.com",
	`"ann\ lee"@example.com`,
	`"ann@lee"@example.com`,
	`"a\"b\\c"@example.com`,
	`"\ "@example.com`,
	`""@example.com`,
	"\"a\x01b\"@example.com",
	"\"a\\\tb\"@example.com",
	"\"a\x7f\"@example.com",
	"\"a\\\x7f\"@example.com",
	"ſ@example.com",
	"İ.\u212a@example.com",
	"ann@[192.0.2.1]",
	"ann@[2001:db8::1]",
	"ann@[::ffff:192.0.2.1]",
	"ann@bücher.de",
	"ann@BÜCHER.DE",
	"ann@пример.рф",
	"ann@例え。テスト",
	"ann@ｅｘａｍｐｌｅ.com",
	"ann@ex\u00adample.com",
	"ann@ex\u200bample.com",
	"ann@x\u200dy.com",
	"ann@\u0301x.com",
	"ann@\u2603.com",
	"ann@\U0001f600.com",
	"ann@straße.de",
	"ann@İstanbul.example",
	"ann@ΟΔΟΣ.gr",
	"ann@\u05d0\u05d1.com",
	"ann@xn--bcher-kva.de",
	"ann@xn--zz.com",
	"ann@\u212aelvin.example",
	"ann@" + strings.Repeat("a.", 126) + "com",
	"ann@" + strings.Repeat("ü", 20) + ".de",
	strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".example",
}

// checkComposes fails t unless an address IsValidEmail accepts, stored as
// registration stores it, composes into both account e-mails, renders, and
// reads back with the recipient mail is delivered to.
func checkComposes(t *testing.T, c *email.Composer, addr string) {
	t.Helper()
	if !core.IsValidEmail(addr) {
		return
	}
	stored := core.NormalizeEmail(addr)
	u := core.PublicUser{ID: "1", Username: "ann", Email: stored}
	want, err := mail.ParseAddress(core.EmailForDelivery(stored))
	if err != nil {
		t.Fatalf("valid address %+q (stored %+q): its delivery address does not parse: %v", addr, stored, err)
	}
	for name, compose := range map[string]func() (core.Message, error){
		"verification":   func() (core.Message, error) { return c.ComposeVerification(context.Background(), u, link) },
		"account exists": func() (core.Message, error) { return c.ComposeAccountExists(context.Background(), u) },
	} {
		msg, err := compose()
		if err != nil {
			t.Fatalf("valid address %+q (stored %+q): compose %s e-mail: %v", addr, stored, name, err)
		}
		raw, err := email.Render(msg, time.Unix(1700000000, 0), "")
		if err != nil {
			t.Fatalf("valid address %+q (stored %+q): render %s e-mail: %v", addr, stored, name, err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("valid address %+q: rendered %s e-mail does not parse: %v\n%s", addr, name, err, raw)
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != want.Address {
			t.Fatalf("valid address %+q: To of the %s e-mail reads back as %v (%v), want %q", addr, name, to, err, want.Address)
		}
	}
}

func newAddressComposer(t testing.TB) *email.Composer {
	t.Helper()
	return newComposer(t, "", email.WithAccountExistsTemplates(templates.AccountExists, email.Dir{}))
}

// FuzzValidEmailComposes: every address IsValidEmail accepts composes. The
// seeds run with every go test; go test -fuzz explores further.
func FuzzValidEmailComposes(f *testing.F) {
	for _, s := range validAddressSeeds {
		f.Add(s)
	}
	c := newAddressComposer(f)
	f.Fuzz(func(t *testing.T, addr string) { checkComposes(t, c, addr) })
}

// The pieces addressGenerator draws from: Django's atext (with the four
// characters its case-insensitive match adds), its qtext and quoted-pair
// characters (controls included), and domain characters of many kinds.
var (
	genAtext     = []rune("!#$%&'*+-/=?^_`{|}~abcxyzABCXYZ0189\u0130\u0131\u017f\u212a")
	genQtext     = []rune("\x01\x08\x0b\x0c\x0e\x1f!#[]^~\x7fabc \\\"\u00e9")
	genLabelRune = []rune("abcxyzABC019-\u00e4\u00fc\u00df\u0130\u0131\u017f\u212a" +
		"\u0435\u0440\u0444\u4f8b\u3048\u30c6\u05d0\u0627\u0661\u0915\u093f\u0301\u0308" +
		"\uff45\uff58\u00ad\u200b\u200c\u200d\u2603\u2665\u2460\u2474\u00bd\U0001f600\U0001d400\ufdfa\u3002\uff0e\uff61")
)

// addressGenerator makes candidate addresses shaped like Django's grammar,
// valid and nearly valid, from a fixed seed.
type addressGenerator struct{ r *rand.Rand }

func (g addressGenerator) pick(rs []rune) rune { return rs[g.r.IntN(len(rs))] }

func (g addressGenerator) local() string {
	var b strings.Builder
	if g.r.IntN(4) == 0 {
		b.WriteByte('"')
		for range g.r.IntN(6) {
			if g.r.IntN(3) == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(g.pick(genQtext))
		}
		b.WriteByte('"')
		return b.String()
	}
	for i := range 1 + g.r.IntN(3) {
		if i > 0 {
			b.WriteByte('.')
		}
		for range 1 + g.r.IntN(5) {
			b.WriteRune(g.pick(genAtext))
		}
	}
	return b.String()
}

func (g addressGenerator) domain() string {
	switch g.r.IntN(10) {
	case 0:
		return "[192.0.2." + string(rune('0'+g.r.IntN(10))) + "]"
	case 1:
		return "[2001:db8::" + string("0123456789abcdef"[g.r.IntN(16)]) + "]"
	}
	var b strings.Builder
	for i := range 2 + g.r.IntN(2) {
		if i > 0 {
			b.WriteByte('.')
		}
		for range 1 + g.r.IntN(6) {
			b.WriteRune(g.pick(genLabelRune))
		}
	}
	if g.r.IntN(2) == 0 {
		b.WriteString(".com")
	}
	return b.String()
}

// A generated sweep of Django's grammar, as a normal test: thousands of
// addresses IsValidEmail accepts, each composed and rendered.
func TestGeneratedValidEmailsCompose(t *testing.T) {
	c := newAddressComposer(t)
	g := addressGenerator{r: rand.New(rand.NewPCG(1, 2))}
	valid := 0
	for range 12_000 {
		addr := g.local() + "@" + g.domain()
		if core.IsValidEmail(addr) {
			valid++
		}
		checkComposes(t, c, addr)
	}
	t.Logf("%d of 12000 generated addresses are valid; each composed and rendered", valid)
	if valid < 2000 {
		t.Fatalf("only %d generated addresses are valid: the generator misses the grammar", valid)
	}
}

// An internationalised domain goes out as its A-label, which every relay can
// route; the e-mail's text shows the address as the user typed it.
func TestInternationalDomainIsSentAsItsALabel(t *testing.T) {
	c := newComposer(t, overrideDir(t, map[string]string{"body.txt": "Sent to {{.email}}: {{.verification_url}}"}))
	u := core.PublicUser{ID: "1", Username: "zoe", Email: "zoë@exämple.com"}
	msg := compose(t, c, u)
	if len(msg.To) != 1 || msg.To[0] != "zoë@xn--exmple-cua.com" {
		t.Fatalf("To = %q, want the domain's A-label", msg.To)
	}
	if !strings.Contains(msg.Text, "Sent to zoë@exämple.com:") {
		t.Fatalf("text %q does not show the address as typed", msg.Text)
	}
}
