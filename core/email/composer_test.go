package email_test

import (
	"bytes"
	"context"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/templates"
)

var _ ports.EmailComposer = (*email.Composer)(nil)

const (
	from    = "Restreg <noreply@example.com>"
	replyTo = "support@example.com"
	link    = "https://app.example.com/verify-user/?user_id=42&timestamp=1700000000&signature=Zm9v-_bar"
)

var ann = core.PublicUser{ID: "42", Username: "ann", Email: "ann@example.com", FirstName: "Ann", LastName: "Lee"}

// overrideDir writes files (name → content) into a fresh directory.
func overrideDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dirOf opens dir for the composer; "" is the zero Dir.
func dirOf(dir string) email.Dir {
	if dir == "" {
		return email.Dir{}
	}
	return email.Dir{FS: os.DirFS(dir), Path: dir}
}

func newComposer(t testing.TB, dir string, opts ...email.Option) *email.Composer {
	t.Helper()
	c, err := email.NewComposer(templates.Register, dirOf(dir), from, replyTo, opts...)
	if err != nil {
		t.Fatalf("NewComposer: %v", err)
	}
	return c
}

func compose(t testing.TB, c *email.Composer, u core.PublicUser) core.Message {
	t.Helper()
	msg, err := c.ComposeVerification(context.Background(), u, link)
	if err != nil {
		t.Fatalf("ComposeVerification: %v", err)
	}
	return msg
}

func TestDefaultMessageIsDjangoRestRegistrationsByteForByte(t *testing.T) {
	msg := compose(t, newComposer(t, ""), ann)

	if want := "Please verify your account by clicking on this link:\n\n" + link + "\n\n"; msg.Text != want {
		t.Errorf("text part:\n got %q\nwant %q", msg.Text, want)
	}
	if msg.Subject != "Please verify your account" {
		t.Errorf("subject = %q", msg.Subject)
	}
	if msg.From != from || msg.ReplyTo != replyTo {
		t.Errorf("From/Reply-To = %q / %q, want %q / %q", msg.From, msg.ReplyTo, from, replyTo)
	}
	if len(msg.To) != 1 || msg.To[0] != ann.Email {
		t.Errorf("To = %q, want [%q]", msg.To, ann.Email)
	}
}

func TestReplyToDefaultsToFrom(t *testing.T) {
	c, err := email.NewComposer(templates.Register, email.Dir{}, from, "")
	if err != nil {
		t.Fatal(err)
	}
	if msg := compose(t, c, ann); msg.ReplyTo != from {
		t.Fatalf("Reply-To = %q, want the From address %q", msg.ReplyTo, from)
	}
}

func TestDefaultHTMLCarriesTheLinkAsButtonAndAsText(t *testing.T) {
	msg := compose(t, newComposer(t, ""), ann)
	escaped := strings.ReplaceAll(link, "&", "&amp;")
	if n := strings.Count(msg.HTML, `href="`+escaped+`"`); n != 2 {
		t.Errorf("HTML links to the verification URL %d times, want 2:\n%s", n, msg.HTML)
	}
	if !strings.Contains(msg.HTML, ">"+escaped+"</a>") {
		t.Errorf("HTML does not show the URL as text:\n%s", msg.HTML)
	}
}

// The built-in set shows no user fields; a custom one may, escaped.
func TestHTMLEscapesUserFields(t *testing.T) {
	u := ann
	u.FirstName = `<script>alert("x")</script>`
	dir := overrideDir(t, map[string]string{"body.html": `<p>Hi {{.user.first_name}},</p><p><a href="{{.verification_url}}">Verify</a></p>`})
	msg := compose(t, newComposer(t, dir), u)
	if strings.Contains(msg.HTML, "<script") {
		t.Fatalf("first name reached the HTML unescaped:\n%s", msg.HTML)
	}
	if !strings.Contains(msg.HTML, "Hi &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;,") {
		t.Fatalf("first name is not shown escaped:\n%s", msg.HTML)
	}
}

func TestOverrideDirReplacesOnlyTheFilesItHas(t *testing.T) {
	dir := overrideDir(t, map[string]string{"subject.txt": "Confirm your {{.user.username}} account\n"})
	msg := compose(t, newComposer(t, dir), ann)
	if msg.Subject != "Confirm your ann account" {
		t.Errorf("subject = %q, want the override's", msg.Subject)
	}
	def := compose(t, newComposer(t, ""), ann)
	if msg.Text != def.Text || msg.HTML != def.HTML {
		t.Errorf("bodies changed although the override has no body file")
	}
}

func TestOverrideTextBodyAloneGivesTextOnlyMessage(t *testing.T) {
	dir := overrideDir(t, map[string]string{"body.txt": "Hello {{.user.first_name}}, open {{.verification_url}}\n"})
	msg := compose(t, newComposer(t, dir), ann)
	if want := "Hello Ann, open " + link + "\n"; msg.Text != want {
		t.Errorf("text = %q, want %q", msg.Text, want)
	}
	if msg.HTML != "" {
		t.Errorf("the built-in HTML part was kept next to a custom text part:\n%s", msg.HTML)
	}
	if msg.Subject != "Please verify your account" {
		t.Errorf("subject = %q, want the built-in one", msg.Subject)
	}
}

func TestHTMLOnlyOverrideDerivesTextKeepingTheURL(t *testing.T) {
	dir := overrideDir(t, map[string]string{"body.html": `<html><head><title>Verify</title><style>p{color:red}</style></head>
<body><p>Welcome, {{.user.first_name}} &amp; friends!</p>
<p><a href="{{.verification_url}}">Activate   your
account</a></p><p>Or paste <a href="{{.verification_url}}">{{.verification_url}}</a></p></body></html>`})
	msg := compose(t, newComposer(t, dir), ann)
	want := "Welcome, Ann & friends!\n\nActivate your account (" + link + ")\n\nOr paste " + link + "\n"
	if msg.Text != want {
		t.Fatalf("derived text:\n got %q\nwant %q", msg.Text, want)
	}
	if !strings.Contains(msg.HTML, "Activate") {
		t.Fatalf("HTML part is not the override's:\n%s", msg.HTML)
	}
}

func TestBrokenTemplateStopsStartUpNamingFileAndLine(t *testing.T) {
	for _, tc := range []struct{ file, content, line string }{
		{"subject.txt", "Hello\n{{.user.username}\nthere", ":2:"},
		{"body.txt", "a\nb\n{{end}}\nc\n", ":3:"},
		{"body.html", "<p>\n{{range}}</p>\n<p>x</p>", ":2:"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := overrideDir(t, map[string]string{tc.file: tc.content})
			_, err := email.NewComposer(templates.Register, dirOf(dir), from, replyTo)
			if err == nil {
				t.Fatal("NewComposer accepted a template that does not parse")
			}
			if want := filepath.Join(dir, tc.file) + tc.line; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not name %q", err, want)
			}
		})
	}
}

func TestTemplateNamingAMissingKeyStopsStartUp(t *testing.T) {
	dir := overrideDir(t, map[string]string{"body.txt": "Open {{.verification_link}}\n"})
	_, err := email.NewComposer(templates.Register, dirOf(dir), from, replyTo)
	if err == nil || !strings.Contains(err.Error(), "verification_link") {
		t.Fatalf("NewComposer error = %v, want one naming the unknown key", err)
	}
}

func TestInvalidFromAddressIsAnError(t *testing.T) {
	if _, err := email.NewComposer(templates.Register, email.Dir{}, "not an address", ""); err == nil {
		t.Fatal("NewComposer accepted an invalid From address")
	}
}

func TestSubjectCannotInjectHeaders(t *testing.T) {
	dir := overrideDir(t, map[string]string{"subject.txt": "Welcome {{.user.first_name}}\n\n"})
	u := ann
	u.FirstName = "Ann\r\nBcc: victim@example.com\r\n\r\n<b>spam</b>\u0085x\u2028y\x00z"
	msg := compose(t, newComposer(t, dir), u)
	if want := "Welcome Ann Bcc: victim@example.com <b>spam</b> x y z"; msg.Subject != want {
		t.Errorf("subject = %q, want %q", msg.Subject, want)
	}

	raw, err := email.Render(msg, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if bcc := m.Header.Get("Bcc"); bcc != "" {
		t.Fatalf("a user field added a Bcc header: %q", bcc)
	}
	var dec mime.WordDecoder
	if got, _ := dec.DecodeHeader(m.Header.Get("Subject")); got != msg.Subject {
		t.Fatalf("subject read back as %q, want %q", got, msg.Subject)
	}
}

func TestContextFuncAddsKeys(t *testing.T) {
	dir := overrideDir(t, map[string]string{"subject.txt": "Welcome to {{.site_name}}, {{.user.username}}"})
	var seen []string
	c := newComposer(t, dir, email.WithContextFunc(func(_ context.Context, u core.PublicUser) map[string]any {
		seen = append(seen, u.Username)
		return map[string]any{"site_name": "Example Shop"}
	}))
	msg := compose(t, c, ann)
	if msg.Subject != "Welcome to Example Shop, ann" {
		t.Fatalf("subject = %q", msg.Subject)
	}
	if seen[len(seen)-1] != "ann" {
		t.Fatalf("context function saw user %q, want ann", seen[len(seen)-1])
	}
}

func TestRecipientWithoutValidAddressIsAnError(t *testing.T) {
	u := ann
	u.Email = "ann@example.com\r\nBcc: x@example.com"
	if _, err := newComposer(t, "").ComposeVerification(context.Background(), u, link); err == nil {
		t.Fatal("ComposeVerification accepted a recipient with a line break")
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"  Please verify  ":        "Please verify",
		"a\r\nb":                   "a b",
		"a\n\n\tb":                 "a b",
		"a\x00b\x7fc":              "a b c",
		"caf\xe9":                  "caf\uFFFD",
		"Zoë \u2029 確認":            "Zoë 確認",
		"\r\n":                     "",
		"plain ASCII, kept as is.": "plain ASCII, kept as is.",
	} {
		if got := email.OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ name, html, want string }{
		{"empty", "", ""},
		{"entities and white space", "<p>Fish   &amp;\n chips &lt;3&nbsp;</p>", "Fish & chips <3\n"},
		{"link text differs", `<a href="https://x.test/a?b=1&amp;c=2">Go</a>`, "Go (https://x.test/a?b=1&c=2)\n"},
		{"link text is the URL", `<a href='https://x.test/'>https://x.test/</a>`, "https://x.test/\n"},
		{"image link", `<a href="https://x.test/"><img src="i.png"></a>`, "https://x.test/\n"},
		{"mailto", `<a href="mailto:a@x.test">a@x.test</a>`, "a@x.test\n"},
		{"line breaks", "one<br>two<br/>three", "one\ntwo\nthree\n"},
		{"paragraphs", "<h1>Title</h1><p>one</p><p>two</p>", "Title\n\none\n\ntwo\n"},
		{"list", "<ul><li>a</li><li>b</li></ul>", "- a\n- b\n"},
		{"hidden parts", "<!DOCTYPE html><head><script>x<y</script><title>T</title></head><!-- c --><b>shown</b>", "shown\n"},
		{"less-than in text", "a < b", "a < b\n"},
		{"quoted >", `<a title="x>y" href="https://x.test/">x</a>`, "x (https://x.test/)\n"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr></table>", "a b\n"},
		{"unterminated tag", "text <a href=", "text <a href=\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := email.HTMLToText(tc.html); got != tc.want {
				t.Fatalf("HTMLToText(%q) = %q, want %q", tc.html, got, tc.want)
			}
		})
	}
}

func TestDefaultHTMLDerivesToReadableText(t *testing.T) {
	msg := compose(t, newComposer(t, ""), ann)
	text := email.HTMLToText(msg.HTML)
	if strings.Count(text, link) != 2 {
		t.Fatalf("text derived from the built-in HTML lost the link:\n%s", text)
	}
}

func FuzzComposeVerification(f *testing.F) {
	f.Add("ann", "Ann", "Lee", "ann@example.com")
	f.Add("x", "a\r\nBcc: v@example.com", "\n\n", "x@example.com")
	f.Add("zoë", "Zoë\u2028", "確認\x00", "zoe@example.com")
	f.Add("=?utf-8?q?hi?=", "=?", "?=", "\"quoted local\"@example.com")
	f.Add("<script>", "</a>", "&amp;", "a+b@example.com")
	dir := overrideDir(f, map[string]string{
		"subject.txt": "{{.user.first_name}} {{.user.last_name}} ({{.user.username}}), please verify {{.email}}",
		"body.html":   `<p>Hi {{.user.first_name}} {{.user.last_name}}</p><a href="{{.verification_url}}">{{.user.username}}</a>`,
	})
	c := newComposer(f, dir)
	f.Fuzz(func(t *testing.T, username, first, last, addr string) {
		u := core.PublicUser{ID: "1", Username: username, FirstName: first, LastName: last, Email: addr}
		msg, err := c.ComposeVerification(context.Background(), u, link)
		if err != nil {
			if _, perr := mail.ParseAddress(addr); perr == nil {
				t.Fatalf("valid address %q refused: %v", addr, err)
			}
			return
		}
		if !utf8.ValidString(msg.Subject) || msg.Subject != strings.TrimSpace(msg.Subject) {
			t.Fatalf("subject %q is not trimmed valid UTF-8", msg.Subject)
		}
		for _, r := range msg.Subject {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("subject %q holds control or line-separator rune %U", msg.Subject, r)
			}
		}
		if strings.Contains(strings.ToLower(msg.HTML), "<script") {
			t.Fatalf("user field reached the HTML unescaped: %s", msg.HTML)
		}
		if !strings.Contains(msg.Text, link) {
			t.Fatalf("derived text lost the link: %q", msg.Text)
		}

		raw, err := email.Render(msg, time.Unix(1700000000, 0), "")
		if err != nil {
			t.Fatalf("Render of a composed message: %v", err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("rendered message does not parse: %v\n%s", err, raw)
		}
		if len(m.Header) != 8 {
			t.Fatalf("rendered message has headers %v, want exactly the 8 it writes", keys(m.Header))
		}
		var dec mime.WordDecoder
		if got, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || got != msg.Subject {
			t.Fatalf("subject read back as %q (%v), want %q", got, err, msg.Subject)
		}
	})
}

func keys(h mail.Header) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	return ks
}

func BenchmarkComposeVerification(b *testing.B) {
	c := newComposer(b, "")
	for b.Loop() {
		if _, err := c.ComposeVerification(context.Background(), ann, link); err != nil {
			b.Fatal(err)
		}
	}
}
