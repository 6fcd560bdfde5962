package email

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/restreg/restreg/core"
)

// Envelope is a message's addresses, parsed and checked, for mailers that
// need them apart from the rendered message (SMTP envelope, API payloads).
type Envelope struct {
	// From is the sender.
	From *mail.Address
	// ReplyTo is nil when the message has none.
	ReplyTo *mail.Address
	// To holds at least one recipient.
	To []*mail.Address
}

// ParseEnvelope parses the addresses of msg. An address that does not parse
// (or holds a line break) is an error: a permanent one, since resending the
// same message cannot help. Errors name the header, not the address, which
// is personal data.
func ParseEnvelope(msg core.Message) (Envelope, error) {
	var env Envelope
	var err error
	if env.From, err = mail.ParseAddress(msg.From); err != nil {
		return env, fmt.Errorf("email: From address: %w", err)
	}
	if msg.ReplyTo != "" {
		if env.ReplyTo, err = mail.ParseAddress(msg.ReplyTo); err != nil {
			return env, fmt.Errorf("email: Reply-To address: %w", err)
		}
	}
	if len(msg.To) == 0 {
		return env, errors.New("email: message has no recipient")
	}
	for i, to := range msg.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return env, fmt.Errorf("email: To address %d: %w", i+1, err)
		}
		env.To = append(env.To, a)
	}
	return env, nil
}

// Render writes msg as an RFC 5322 message with CRLF line endings: Date
// (now), a fresh Message-ID in messageIDDomain (the From address's domain
// when empty), From, Reply-To, To, Subject (RFC 2047 encoded when not plain
// ASCII), and a MIME body — multipart/alternative with the text part first
// and the HTML part second, or a single text/plain part when msg.HTML is
// empty. Bodies are UTF-8: sent as they are (7bit) when plain ASCII with
// lines of legal length, quoted-printable otherwise, so the message is 7-bit
// clean whatever the content. Errors: an address does not parse.
func Render(msg core.Message, now time.Time, messageIDDomain string) ([]byte, error) {
	env, err := ParseEnvelope(msg)
	if err != nil {
		return nil, err
	}
	if messageIDDomain == "" {
		messageIDDomain = domainOf(env.From.Address)
	}

	var b bytes.Buffer
	writeHeader(&b, "Date", now.Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", "<"+randomHex(16)+"@"+messageIDDomain+">")
	writeHeader(&b, "From", formatAddress(env.From))
	if env.ReplyTo != nil {
		writeHeader(&b, "Reply-To", formatAddress(env.ReplyTo))
	}
	to := make([]string, len(env.To))
	for i, a := range env.To {
		to[i] = formatAddress(a)
	}
	writeHeader(&b, "To", strings.Join(to, ", "))
	writeHeader(&b, "Subject", encodeHeaderText(OneLine(msg.Subject)))
	writeHeader(&b, "MIME-Version", "1.0")

	if msg.HTML == "" {
		writeHeader(&b, "Content-Type", "text/plain; charset=utf-8")
		writeHeader(&b, "Content-Transfer-Encoding", transferEncoding(msg.Text))
		b.WriteString("\r\n")
		if err := writeBody(&b, msg.Text); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	writeHeader(&b, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ mediaType, content string }{
		{"text/plain; charset=utf-8", msg.Text},
		{"text/html; charset=utf-8", msg.HTML},
	} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.mediaType},
			"Content-Transfer-Encoding": {transferEncoding(part.content)},
		})
		if err != nil {
			return nil, fmt.Errorf("email: render MIME part: %w", err)
		}
		if err := writeBody(w, part.content); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("email: render MIME body: %w", err)
	}
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// maxLine is RFC 5322's hard limit on a line, CRLF excluded.
const maxLine = 998

// transferEncoding picks 7bit for ASCII text whose lines fit, so a person
// reading the raw message (a .eml file in an editor, a load generator
// grepping for links) sees every URL exactly as sent, and quoted-printable
// for anything else, which keeps lines short and 7-bit whatever the content.
func transferEncoding(s string) string {
	line := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\n' || c == '\r':
			line = 0
		case c == '\t' || (c >= ' ' && c <= '~'):
			line++
			if line > maxLine {
				return "quoted-printable"
			}
		default:
			return "quoted-printable"
		}
	}
	return "7bit"
}

// writeBody writes s in the encoding transferEncoding chose, with CRLF line
// endings.
func writeBody(w io.Writer, s string) error {
	if transferEncoding(s) == "7bit" {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
		if _, err := io.WriteString(w, strings.ReplaceAll(s, "\n", "\r\n")); err != nil {
			return fmt.Errorf("email: write body: %w", err)
		}
		return nil
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, strings.ToValidUTF8(s, "\uFFFD")); err != nil {
		return fmt.Errorf("email: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("email: encode body: %w", err)
	}
	return nil
}

// maxHeaderLine is RFC 5322's recommended line length; longer values are
// folded at spaces.
const maxHeaderLine = 78

// writeHeader writes "Name: value" folded at spaces so lines stay within
// maxHeaderLine where the value allows it (a word that does not fit after the
// name starts on the next line). value must hold no CR or LF.
func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(":")
	lineLen := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if lineLen+1+len(word) > maxHeaderLine && (i > 0 || len(word) > 0) {
			b.WriteString("\r\n")
			lineLen = 0
		}
		b.WriteString(" ")
		b.WriteString(word)
		lineLen += 1 + len(word)
	}
	b.WriteString("\r\n")
}

// encodeHeaderText returns s as header text: unchanged when it is printable
// ASCII, otherwise as RFC 2047 encoded-words (each short enough to fold).
func encodeHeaderText(s string) string {
	if enc := mime.QEncoding.Encode("utf-8", s); enc != s {
		return enc
	}
	if !strings.Contains(s, "=?") {
		return s
	}
	// ASCII text that looks like an encoded-word would be decoded by the
	// reader into something else; mime.QEncoding leaves ASCII alone, so
	// encode it explicitly to keep the subject as written.
	var words []string
	for len(s) > 0 {
		n := min(len(s), 45)
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// formatAddress writes a as a header value: "Name <addr>" with the name
// quoted or RFC 2047 encoded as needed, or the bare address when unnamed.
func formatAddress(a *mail.Address) string {
	s := a.String()
	if a.Name == "" {
		return strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	}
	return s
}

func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	d := addr[at+1:]
	if at < 0 || d == "" || !isDotAtom(d) {
		return "localhost"
	}
	return d
}

func isDotAtom(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}
