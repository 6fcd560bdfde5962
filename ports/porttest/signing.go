package porttest

import (
	"context"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// urlSafe is what a signature may contain so that it survives a query string,
// a fragment and a copy from a mail client without escaping.
var urlSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Signer is the contract of ports.Signer: signatures are deterministic,
// URL-safe, and bound to every signed field and to the salt.
func Signer(t *testing.T, s ports.Signer) {
	t.Helper()
	data := map[string]string{"user_id": "42", "timestamp": "1700000000"}
	sig := s.Sign(data, "register")
	t.Run("signatures are deterministic and URL-safe", func(t *testing.T) {
		if again := s.Sign(map[string]string{"timestamp": "1700000000", "user_id": "42"}, "register"); again != sig {
			t.Fatalf("signing the same data twice gave %q and %q", sig, again)
		}
		if !urlSafe.MatchString(sig) {
			t.Fatalf("signature %q needs escaping in a URL", sig)
		}
	})
	t.Run("a signature verifies its own data", func(t *testing.T) {
		if !s.Verify(data, "register", sig) {
			t.Fatal("a fresh signature does not verify")
		}
		unicode := map[string]string{"user_id": "ünï-" + strings.Repeat("ß", 200), "timestamp": "1"}
		if !s.Verify(unicode, "register:False", s.Sign(unicode, "register:False")) {
			t.Fatal("a signature over non-ASCII data does not verify")
		}
	})
	t.Run("any change is rejected", func(t *testing.T) {
		for name, tc := range map[string]struct {
			data map[string]string
			salt string
			sig  string
		}{
			"other user id":   {map[string]string{"user_id": "43", "timestamp": "1700000000"}, "register", sig},
			"other timestamp": {map[string]string{"user_id": "42", "timestamp": "1700000001"}, "register", sig},
			"extra field":     {map[string]string{"user_id": "42", "timestamp": "1700000000", "x": ""}, "register", sig},
			"missing field":   {map[string]string{"user_id": "42"}, "register", sig},
			"other salt":      {data, "register:True", sig},
			"empty signature": {data, "register", ""},
			"truncated":       {data, "register", sig[:len(sig)-1]},
			"extended":        {data, "register", sig + "A"},
			"one char off":    {data, "register", flipLast(sig)},
		} {
			if s.Verify(tc.data, tc.salt, tc.sig) {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

func flipLast(sig string) string {
	if sig == "" {
		return "A"
	}
	last := sig[len(sig)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return sig[:len(sig)-1] + string(repl)
}

// TokenIssuer is the contract of ports.TokenIssuer: every token is new,
// unguessable, and resolves to the user it was issued for. owner looks a
// token up the way the application would.
func TokenIssuer(t *testing.T, issuer ports.TokenIssuer, owner func(ctx context.Context, token string) (string, error)) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for i := range 20 {
		user := "user-" + string(rune('a'+i%3))
		token, err := issuer.IssueToken(ctx, user)
		if err != nil {
			t.Fatalf("issue: %v", err)
		}
		if len(token) < 32 {
			t.Fatalf("token %q is too short to be unguessable", token)
		}
		if seen[token] {
			t.Fatalf("token %q issued twice", token)
		}
		seen[token] = true
		got, err := owner(ctx, token)
		if err != nil || got != user {
			t.Fatalf("token resolves to %q (%v), want %q", got, err, user)
		}
	}
	if _, err := owner(ctx, "not-a-token-that-was-issued-0000000000"); err == nil {
		t.Fatal("a token that was never issued resolved to a user")
	}
}

// EmailComposer is the contract of ports.EmailComposer for the verification
// e-mail: it goes to the user (the domain may be sent as its A-label), has a one-line subject, and carries the link
// unchanged in the text part (and, escaped, in the HTML part); user data is
// escaped in HTML.
func EmailComposer(t *testing.T, c ports.EmailComposer) {
	t.Helper()
	const link = "https://frontend-host/verify-user/?user_id=42&timestamp=1700000000&signature=abc_DEF-123"
	for name, u := range map[string]core.PublicUser{
		"plain":   {ID: "42", Username: "ann", Email: "ann@example.com", FirstName: "Ann", LastName: "Lee"},
		"unicode": {ID: "43", Username: "Zoë", Email: "zoë@exämple.com", FirstName: "Zoë", LastName: "Ñúñez"},
		"hostile": {ID: "44", Username: "x", Email: "x@example.com", FirstName: "<script>alert(1)</script>", LastName: "Evil\r\nBcc: victim@example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			msg, err := c.ComposeVerification(context.Background(), u, link)
			if err != nil {
				t.Fatalf("compose: %v", err)
			}
			// An internationalised domain may go out as its A-label.
			if len(msg.To) != 1 || (msg.To[0] != u.Email && msg.To[0] != core.EmailForDelivery(u.Email)) {
				t.Errorf("To = %q, want [%q] or [%q]", msg.To, u.Email, core.EmailForDelivery(u.Email))
			}
			if msg.Subject == "" || strings.ContainsAny(msg.Subject, "\r\n") {
				t.Errorf("subject %q must be one non-empty line", msg.Subject)
			}
			if msg.From == "" {
				t.Error("no From address")
			}
			if !strings.Contains(msg.Text, link) {
				t.Errorf("text part lacks the link: %q", msg.Text)
			}
			if msg.HTML != "" {
				if !strings.Contains(msg.HTML, html.EscapeString(link)) && !strings.Contains(msg.HTML, link) {
					t.Errorf("HTML part lacks the link")
				}
				if strings.Contains(msg.HTML, "<script>") {
					t.Errorf("user data reached the HTML part unescaped")
				}
			}
		})
	}
}

// AccountEmailComposer is the contract of ports.EmailComposer for the
// e-mails of the account flows after registration: each goes to the address
// it is about (the user's for a reset link, the new one for a verify-email
// link, the old one for the change notice), has a one-line subject, carries
// its link unchanged in the text part and no link where it has none, and
// never shows an address unescaped in HTML.
func AccountEmailComposer(t *testing.T, c ports.EmailComposer) {
	t.Helper()
	ctx := context.Background()
	u := core.PublicUser{ID: "42", Username: "ann", Email: "ann@example.com", FirstName: "<script>alert(1)</script>"}
	const (
		reset   = "https://frontend-host/reset-password/?user_id=42&timestamp=1700000000&signature=abc_DEF-123"
		verify  = "https://frontend-host/verify-email/?user_id=42&email=new%40example.org&timestamp=1700000000&signature=abc"
		hostile = "o'brien<b>@example.org"
	)
	check := func(name string, msg core.Message, err error, to, link string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: compose: %v", name, err)
		}
		if len(msg.To) != 1 || msg.To[0] != to {
			t.Errorf("%s: To = %q, want [%q]", name, msg.To, to)
		}
		if msg.Subject == "" || strings.ContainsAny(msg.Subject, "\r\n") || msg.From == "" {
			t.Errorf("%s: subject %q / From %q", name, msg.Subject, msg.From)
		}
		switch {
		case link != "" && !strings.Contains(msg.Text, link):
			t.Errorf("%s: text part lacks the link: %q", name, msg.Text)
		case link == "" && strings.Contains(msg.Text+msg.HTML, "signature="):
			t.Errorf("%s: carries a link it must not: %q", name, msg.Text)
		}
		if strings.Contains(msg.HTML, "<script>") || strings.Contains(msg.HTML, "<b>@") {
			t.Errorf("%s: user data reached the HTML part unescaped", name)
		}
	}
	msg, err := c.ComposeResetPassword(ctx, u, reset)
	check("reset password", msg, err, u.Email, reset)
	msg, err = c.ComposeRegisterEmail(ctx, u, "new@example.org", verify, false)
	check("verify-email link", msg, err, "new@example.org", verify)
	msg, err = c.ComposeRegisterEmail(ctx, u, "taken@example.org", "", true)
	check("address in use", msg, err, "taken@example.org", "")
	msg, err = c.ComposeEmailChanged(ctx, u, "old@example.com")
	check("address changed", msg, err, "old@example.com", "")
	if msg.Text != "" && !strings.Contains(msg.Text, "old@example.com") {
		t.Errorf("the change notice does not name the old address: %q", msg.Text)
	}
	u.Email = hostile
	msg, err = c.ComposeEmailChanged(ctx, u, "old@example.com")
	check("address changed, hostile new address", msg, err, "old@example.com", "")
}
