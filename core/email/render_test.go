package email_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
)

var sent = time.Date(2026, 11, 29, 10, 11, 12, 0, time.FixedZone("CET", 3600))

func sample() core.Message {
	long := "https://app.example.com/verify-user/?user_id=" + strings.Repeat("9", 40) + "&timestamp=1700000000&signature=" + strings.Repeat("Ab-_", 20)
	return core.Message{
		From:    "Restreg <noreply@example.com>",
		ReplyTo: "support@example.com",
		To:      []string{"ann@example.com"},
		Subject: "Please verify your account",
		Text:    "Please verify your account by clicking on this link:\n\n" + long + "\n\n",
		HTML:    `<p>Hi Zoë,</p><p><a href="` + strings.ReplaceAll(long, "&", "&amp;") + `">Verify</a></p>`,
	}
}

func render(t *testing.T, msg core.Message) (*mail.Message, []byte) {
	t.Helper()
	raw, err := email.Render(msg, sent, "mail.example.com")
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	checkWireFormat(t, raw)
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("rendered message does not parse: %v\n%s", err, raw)
	}
	return m, raw
}

// checkWireFormat asserts what every SMTP hop relies on: CRLF line endings
// only, 7-bit bytes, and no line over RFC 5322's hard limit.
func checkWireFormat(t *testing.T, raw []byte) {
	t.Helper()
	for i, line := range strings.Split(string(raw), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("line %d holds 8-bit byte %#x: %q", i+1, c, line)
			}
		}
	}
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderMultipartAlternativeParsesBack(t *testing.T) {
	msg := sample()
	m, raw := render(t, msg)

	if d, err := m.Header.Date(); err != nil || !d.Equal(sent) {
		t.Errorf("Date = %v (%v), want %v", d, err, sent)
	}
	if id := m.Header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{32}@mail\.example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	fromList, err := m.Header.AddressList("From")
	if err != nil || len(fromList) != 1 || fromList[0].Name != "Restreg" || fromList[0].Address != "noreply@example.com" {
		t.Errorf("From = %v (%v)", fromList, err)
	}
	if rt, err := m.Header.AddressList("Reply-To"); err != nil || len(rt) != 1 || rt[0].Address != "support@example.com" {
		t.Errorf("Reply-To = %v (%v)", rt, err)
	}
	if to, err := m.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ann@example.com" {
		t.Errorf("To = %v (%v)", to, err)
	}
	// Unnamed addresses are written bare, named ones as "Name <addr>".
	for _, h := range []string{"\r\nFrom: \"Restreg\" <noreply@example.com>\r\n", "\r\nReply-To: support@example.com\r\n", "\r\nTo: ann@example.com\r\n"} {
		if !bytes.Contains(raw, []byte(h)) {
			t.Errorf("message lacks header line %q", h)
		}
	}
	if s := m.Header.Get("Subject"); s != msg.Subject {
		t.Errorf("Subject = %q", s)
	}
	if v := m.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q (%v)", m.Header.Get("Content-Type"), err)
	}

	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		cte := p.Header.Get("Content-Transfer-Encoding")
		body := decode(t, cte, p)
		parts = append(parts, ct)
		// ASCII text goes as it is; the HTML part holds "Zoë" and must be
		// quoted-printable to stay 7-bit.
		if want := map[int]string{1: "7bit", 2: "quoted-printable"}[len(parts)]; cte != want {
			t.Errorf("part %d Content-Transfer-Encoding = %q, want %q", len(parts), cte, want)
		}
		switch len(parts) {
		case 1:
			if ct != "text/plain; charset=utf-8" {
				t.Errorf("first part is %q, want the text part", ct)
			}
			if want := strings.ReplaceAll(msg.Text, "\n", "\r\n"); body != want {
				t.Errorf("text part:\n got %q\nwant %q", body, want)
			}
		case 2:
			if ct != "text/html; charset=utf-8" {
				t.Errorf("second part is %q, want the HTML part", ct)
			}
			if body != msg.HTML {
				t.Errorf("HTML part:\n got %q\nwant %q", body, msg.HTML)
			}
		}
	}
	if len(parts) != 2 {
		t.Fatalf("message has %d parts, want 2:\n%s", len(parts), raw)
	}
}

func TestRenderTextOnlyIsOneTextPart(t *testing.T) {
	msg := sample()
	msg.HTML = ""
	msg.ReplyTo = ""
	m, _ := render(t, msg)
	if ct := m.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
	if _, ok := m.Header["Reply-To"]; ok {
		t.Fatal("Reply-To written for a message without one")
	}
	body := decode(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
	if want := strings.ReplaceAll(msg.Text, "\n", "\r\n"); body != want {
		t.Fatalf("body:\n got %q\nwant %q", body, want)
	}
}

func TestRenderPicksTheTransferEncodingByContent(t *testing.T) {
	link := "https://app.example.com/verify-user/?user_id=1&timestamp=1700000000&signature=" + strings.Repeat("x", 120)
	for _, tc := range []struct{ name, text, cte string }{
		{"ASCII stays readable", "Open\n\n" + link + "\n\n", "7bit"},
		{"bare CR and LF become CRLF", "a\rb\nc\r\n", "7bit"},
		{"non-ASCII", "Grüße\n" + link + "\n", "quoted-printable"},
		{"control character", "bell\x07\n", "quoted-printable"},
		{"line over 998 characters", strings.Repeat("y", 999) + "\n", "quoted-printable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := sample()
			msg.HTML, msg.Text = "", tc.text
			m, raw := render(t, msg)
			cte := m.Header.Get("Content-Transfer-Encoding")
			if cte != tc.cte {
				t.Fatalf("Content-Transfer-Encoding = %q, want %q", cte, tc.cte)
			}
			want := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(tc.text, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
			if body := decode(t, cte, m.Body); body != want {
				t.Fatalf("body decodes to %q, want %q", body, want)
			}
			if tc.cte == "7bit" && !bytes.Contains(raw, []byte(link)) && strings.Contains(tc.text, link) {
				t.Fatal("the raw message does not show the link verbatim")
			}
		})
	}
}

func decode(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	switch cte {
	case "7bit":
		return readAll(t, r)
	case "quoted-printable":
		return readAll(t, quotedprintable.NewReader(r))
	}
	t.Fatalf("unexpected Content-Transfer-Encoding %q", cte)
	return ""
}

func TestRenderEncodesNonASCIIHeaders(t *testing.T) {
	msg := sample()
	msg.From = "Zoë Ångström <noreply@example.com>"
	msg.Subject = "Bitte bestätige dein Konto – 確認してください, and this subject goes on long enough to need folding ✓"
	m, raw := render(t, msg)

	var dec mime.WordDecoder
	if got, err := dec.DecodeHeader(m.Header.Get("Subject")); err != nil || got != msg.Subject {
		t.Errorf("Subject decodes to %q (%v), want %q", got, err, msg.Subject)
	}
	from, err := m.Header.AddressList("From")
	if err != nil || from[0].Name != "Zoë Ångström" {
		t.Errorf("From = %v (%v)", from, err)
	}
	for _, line := range strings.Split(string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))]), "\r\n") {
		if len(line) > 78 {
			t.Errorf("header line is %d characters long: %q", len(line), line)
		}
	}
}

func TestRenderKeepsSubjectsThatLookEncoded(t *testing.T) {
	msg := sample()
	msg.Subject = "Hello =?utf-8?q?=41?= world"
	m, _ := render(t, msg)
	var dec mime.WordDecoder
	if got, _ := dec.DecodeHeader(m.Header.Get("Subject")); got != msg.Subject {
		t.Fatalf("Subject reads back as %q, want %q", got, msg.Subject)
	}
}

func TestRenderFlattensMultiLineSubjects(t *testing.T) {
	msg := sample()
	msg.Subject = "one\r\nBcc: victim@example.com"
	m, _ := render(t, msg)
	if _, ok := m.Header["Bcc"]; ok {
		t.Fatal("subject line break started a header")
	}
	if got := m.Header.Get("Subject"); got != "one Bcc: victim@example.com" {
		t.Fatalf("Subject = %q", got)
	}
}

func TestRenderSeveralRecipients(t *testing.T) {
	msg := sample()
	msg.To = []string{"ann@example.com", "Bob Builder <bob@example.com>"}
	m, _ := render(t, msg)
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Bob Builder" || to[1].Address != "bob@example.com" {
		t.Fatalf("To = %v (%v)", to, err)
	}
}

func TestRenderMessageIDsAreUniqueAndDefaultToTheSenderDomain(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		raw, err := email.Render(sample(), sent, "")
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		id := m.Header.Get("Message-ID")
		if !strings.HasSuffix(id, "@example.com>") {
			t.Fatalf("Message-ID %q is not in the From domain", id)
		}
		if seen[id] {
			t.Fatalf("Message-ID %q repeated", id)
		}
		seen[id] = true
	}
}

func TestRenderRejectsBadAddresses(t *testing.T) {
	for name, mutate := range map[string]func(*core.Message){
		"from":          func(m *core.Message) { m.From = "nobody" },
		"reply-to":      func(m *core.Message) { m.ReplyTo = "a@b\r\nBcc: c@d" },
		"to":            func(m *core.Message) { m.To = []string{"ann@example.com", "@"} },
		"no recipients": func(m *core.Message) { m.To = nil },
	} {
		t.Run(name, func(t *testing.T) {
			msg := sample()
			mutate(&msg)
			if _, err := email.Render(msg, sent, ""); err == nil {
				t.Fatal("Render accepted the message")
			}
		})
	}
}

func BenchmarkRender(b *testing.B) {
	msg := sample()
	for b.Loop() {
		if _, err := email.Render(msg, sent, ""); err != nil {
			b.Fatal(err)
		}
	}
}
