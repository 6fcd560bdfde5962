package eml_test

import (
	"strings"
	"testing"

	"github.com/restreg/restreg/ports/porttest/eml"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParseDecodesEveryPartOfAMultipartMessage(t *testing.T) {
	raw := crlf(`From: "Accounts" <accounts@example.test>
Reply-To: help@example.test
To: Ann <ann@example.test>, bob@example.test
Subject: =?utf-8?q?V=C3=A9rifiez_votre_compte?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9: https://app.example.test/verify-user/?user_id=7&timestamp=1&signa=
ture=3Dabc
--b1
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

PHA+Q2Fmw6k8L3A+
--b1--
`)
	m, err := eml.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Vérifiez votre compte" {
		t.Errorf("Subject %q", m.Subject)
	}
	if len(m.From) != 1 || m.From[0].Name != "Accounts" || m.From[0].Address != "accounts@example.test" {
		t.Errorf("From %v", m.From)
	}
	if len(m.ReplyTo) != 1 || m.ReplyTo[0].Address != "help@example.test" {
		t.Errorf("Reply-To %v", m.ReplyTo)
	}
	if !m.SentTo("BOB@example.test") || !m.SentTo("ann@example.test") || m.SentTo("eve@example.test") {
		t.Errorf("To %v", m.To)
	}
	if m.MediaType != "multipart/alternative" || strings.Join(m.PartTypes, ",") != "text/plain,text/html" {
		t.Errorf("media type %s, parts %v", m.MediaType, m.PartTypes)
	}
	if want := "Café: https://app.example.test/verify-user/?user_id=7&timestamp=1&signature=abc"; m.Text != want {
		t.Errorf("Text %q, want %q", m.Text, want)
	}
	if m.HTML != "<p>Café</p>" {
		t.Errorf("HTML %q", m.HTML)
	}
	if p := m.Parts[1]; p.Charset != "utf-8" || p.Encoding != "base64" {
		t.Errorf("HTML part charset %q encoding %q", p.Charset, p.Encoding)
	}
	if string(m.Raw) != string(raw) {
		t.Error("Raw is not the message as given")
	}
}

func TestParseTakesABodyWithoutContentTypeAsPlainASCII(t *testing.T) {
	m, err := eml.Parse(crlf("From: a@example.test\nSubject: hi\n\nhello\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "text/plain" || m.Text != "hello\r\n" || m.Parts[0].Charset != "us-ascii" || m.To != nil {
		t.Errorf("got %s %q charset %q To %v", m.MediaType, m.Text, m.Parts[0].Charset, m.To)
	}
}

func TestParseRejectsWhatItCannotDecode(t *testing.T) {
	for name, raw := range map[string]string{
		"bad address":       "From: a@example.test\nTo: <<nope\n\nx\n",
		"bad content type":  "From: a@example.test\nContent-Type: text/\n\nx\n",
		"unknown encoding":  "From: a@example.test\nContent-Transfer-Encoding: x-uuencode\n\nx\n",
		"broken base64":     "From: a@example.test\nContent-Transfer-Encoding: base64\n\n!!!!\n",
		"unclosed boundary": "From: a@example.test\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n",
	} {
		if _, err := eml.Parse(crlf(raw)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
