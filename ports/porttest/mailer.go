package porttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest/eml"
)

// ReceivedMail is one message as it arrived at the far side of a mailer
// (a file, a mail server, an HTTP API), decoded.
type ReceivedMail struct {
	// From, ReplyTo and To are addresses as written in the message
	// ("Name <addr>" or "addr"); ReplyTo is "" when absent.
	From    string
	ReplyTo string
	To      []string
	// Subject is decoded (RFC 2047 encoded-words resolved).
	Subject string
	// Text and HTML are the decoded bodies; HTML is "" for text-only mail.
	// Line endings may be CRLF; the suite compares them as LF.
	Text string
	HTML string
}

// MailerReader returns every message delivered so far, in any order.
type MailerReader func(t *testing.T) []ReceivedMail

// MailerOption adapts the Mailer suite to what a mailer's far side can show.
type MailerOption func(*mailerSuite)

// MailerShowsNoHTML is for mailers whose output leaves the HTML part out
// (the console); the suite then does not look for it.
func MailerShowsNoHTML() MailerOption {
	return func(s *mailerSuite) { s.noHTML = true }
}

type mailerSuite struct {
	noHTML bool
}

// Mailer checks the behaviour every ports.Mailer owes its callers: what
// arrives (as read reports it) has the From, Reply-To, To, Subject, text and
// HTML that were sent — ASCII or not, multipart or text-only, long links
// intact — a cancelled send delivers nothing, and a malformed address is a
// permanent error (retrying the same message cannot help).
func Mailer(t *testing.T, m ports.Mailer, read MailerReader, opts ...MailerOption) {
	t.Helper()
	var s mailerSuite
	for _, o := range opts {
		o(&s)
	}

	longLink := "https://app.example.com/verify-user/?user_id=" + strings.Repeat("7", 36) +
		"&timestamp=1700000000&signature=" + strings.Repeat("Zm9v-_", 20)
	cases := []struct {
		name string
		msg  core.Message
	}{
		{"ASCII multipart", core.Message{
			From:    "noreply@example.com",
			ReplyTo: "support@example.com",
			To:      []string{"ann@example.com"},
			Subject: "Please verify your account",
			Text:    "Please verify your account by clicking on this link:\n\nhttps://app.example.com/verify-user/?user_id=1&timestamp=1700000000&signature=abc\n\n",
			HTML:    `<p>Please verify your account by clicking on <a href="https://app.example.com/verify-user/?user_id=1&amp;timestamp=1700000000&amp;signature=abc">this link</a>.</p>`,
		}},
		{"unicode names and subject", core.Message{
			From:    "Zoë Ångström <noreply@example.com>",
			ReplyTo: "Support Team <support@example.com>",
			To:      []string{"zoe@example.com"},
			Subject: "Bitte bestätige dein Konto – 確認してください ✓",
			Text:    "Hallo Zoë,\n\nbitte bestätige dein Konto: " + longLink + "\n\nDanke – 谢谢\n",
			HTML:    `<p>Hallo Zoë,</p><p><a href="` + strings.ReplaceAll(longLink, "&", "&amp;") + `">bestätigen</a> – 谢谢</p>`,
		}},
		{"text only", core.Message{
			From:    "Restreg <noreply@example.com>",
			ReplyTo: "noreply@example.com",
			To:      []string{"bob@example.com"},
			Subject: "Please verify your account",
			Text:    "Please verify your account by clicking on this link:\n\n" + longLink + "\n\n",
		}},
		{"several recipients, no reply-to", core.Message{
			From:    "noreply@example.com",
			To:      []string{"carol@example.com", "Dave Example <dave@example.com>"},
			Subject: "Two readers, one message",
			Text:    "Line one.\nLine two has trailing space \nand = signs = fine.\n",
			HTML:    "<p>Line one.</p>",
		}},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.msg
			// A nonce in the subject finds this message among all delivered.
			msg.Subject += " [" + mailNonce() + "]"
			if err := m.Send(t.Context(), msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := findMail(t, read(t), msg.Subject)
			checkMailAddress(t, "From", got.From, msg.From)
			if msg.ReplyTo == "" {
				if got.ReplyTo != "" {
					t.Errorf("Reply-To = %q, want none", got.ReplyTo)
				}
			} else {
				checkMailAddress(t, "Reply-To", got.ReplyTo, msg.ReplyTo)
			}
			if len(got.To) != len(msg.To) {
				t.Fatalf("To = %q, want %q", got.To, msg.To)
			}
			for i := range msg.To {
				checkMailAddress(t, "To", got.To[i], msg.To[i])
			}
			if text := mailLF(got.Text); text != msg.Text {
				t.Errorf("text part:\n got %q\nwant %q", text, msg.Text)
			}
			if s.noHTML {
				return
			}
			if html := mailLF(got.HTML); html != msg.HTML {
				t.Errorf("HTML part:\n got %q\nwant %q", html, msg.HTML)
			}
		})
	}

	t.Run("a cancelled send delivers nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		msg := cases[0].msg
		msg.Subject += " [" + mailNonce() + "]"
		if err := m.Send(ctx, msg); err == nil {
			t.Fatal("Send with a cancelled context returned nil")
		}
		for _, r := range read(t) {
			if r.Subject == msg.Subject {
				t.Fatal("a message sent with a cancelled context was delivered")
			}
		}
	})

	t.Run("a malformed address is a permanent error", func(t *testing.T) {
		for name, mutate := range map[string]func(*core.Message){
			"To":   func(m *core.Message) { m.To = []string{"not an address"} },
			"From": func(m *core.Message) { m.From = "nobody@" },
		} {
			msg := cases[0].msg
			msg.Subject += " [" + mailNonce() + "]"
			mutate(&msg)
			err := m.Send(t.Context(), msg)
			if err == nil {
				t.Fatalf("Send accepted a malformed %s address", name)
			}
			if errors.Is(err, core.ErrUnavailable) {
				t.Fatalf("malformed %s address: error %v says a retry may help", name, err)
			}
		}
	})
}

func findMail(t *testing.T, all []ReceivedMail, subject string) ReceivedMail {
	t.Helper()
	var found []ReceivedMail
	for _, r := range all {
		if r.Subject == subject {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		var subjects []string
		for _, r := range all {
			subjects = append(subjects, r.Subject)
		}
		t.Fatalf("%d messages with subject %q arrived, want 1; subjects seen: %q", len(found), subject, subjects)
	}
	return found[0]
}

func checkMailAddress(t *testing.T, header, got, want string) {
	t.Helper()
	g, err := mail.ParseAddress(got)
	if err != nil {
		t.Errorf("%s %q does not parse: %v", header, got, err)
		return
	}
	w, err := mail.ParseAddress(want)
	if err != nil {
		t.Fatalf("suite bug: %s %q: %v", header, want, err)
	}
	if g.Address != w.Address || g.Name != w.Name {
		t.Errorf("%s = %q <%s>, want %q <%s>", header, g.Name, g.Address, w.Name, w.Address)
	}
}

func mailLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func mailNonce() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}

// ParseMail decodes an RFC 5322 message (as a file mailer writes it or an
// SMTP server receives it) into a ReceivedMail with the shared reader in
// package eml, then holds it to what restreg's mailers promise: one From
// address, a text/plain body or a multipart/alternative body of a text part
// followed by one HTML part, UTF-8 or US-ASCII. Anything else fails t.
func ParseMail(t testing.TB, raw []byte) ReceivedMail {
	t.Helper()
	m, err := eml.Parse(raw)
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, raw)
	}
	if len(m.From) != 1 {
		t.Fatalf("message has %d From addresses, want 1", len(m.From))
	}
	r := ReceivedMail{From: m.From[0].String(), Subject: m.Subject}
	if len(m.ReplyTo) > 0 {
		r.ReplyTo = m.ReplyTo[0].String()
	}
	for _, a := range m.To {
		r.To = append(r.To, a.String())
	}
	for _, p := range m.Parts {
		if p.Charset != "utf-8" && p.Charset != "us-ascii" {
			t.Fatalf("%s part: charset %q, want utf-8", p.MediaType, p.Charset)
		}
	}
	switch {
	case m.MediaType == "text/plain":
		r.Text = m.Text
	case m.MediaType == "multipart/alternative" && (slices.Equal(m.PartTypes, []string{"text/plain"}) ||
		slices.Equal(m.PartTypes, []string{"text/plain", "text/html"})):
		r.Text, r.HTML = m.Text, m.HTML
	case m.MediaType == "multipart/alternative":
		t.Fatalf("parts %v, want the text part first, then one HTML part", m.PartTypes)
	default:
		t.Fatalf("message is %s, want text/plain or multipart/alternative", m.MediaType)
	}
	return r
}
