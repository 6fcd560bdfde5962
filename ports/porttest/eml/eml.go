// Package eml reads back the e-mail restreg sends — an .eml file written by
// MAIL_BACKEND=file or a message an SMTP server received — with net/mail and
// mime/multipart only. It is the one MIME reader of the mailer contract
// suite, the end-to-end harness and the load tool; it imports nothing of
// restreg, so the end-to-end suites can use it without importing the code
// they check.
package eml

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// defaultContentType is what RFC 2045 says a body without Content-Type is.
const defaultContentType = "text/plain; charset=us-ascii"

// Part is one leaf of a message body, decoded.
type Part struct {
	// MediaType is the part's media type, e.g. text/plain.
	MediaType string
	// Charset is the charset parameter of its Content-Type, lower-cased.
	Charset string
	// Encoding is its Content-Transfer-Encoding as written, lower-cased.
	Encoding string
	// Body is the content with the transfer encoding undone.
	Body string
}

// Message is one parsed message.
type Message struct {
	// Raw is the message as received.
	Raw []byte
	// Header holds the top-level header fields.
	Header mail.Header
	// Subject is the Subject header with RFC 2047 encoded words decoded.
	Subject string
	// From, ReplyTo and To are the parsed address headers (nil when absent).
	From    []*mail.Address
	ReplyTo []*mail.Address
	To      []*mail.Address
	// MediaType is the top-level media type, e.g. multipart/alternative.
	MediaType string
	// Parts are the leaf parts in order; a single-part message has one.
	Parts []Part
	// PartTypes are the media types of Parts, in order.
	PartTypes []string
	// Text and HTML are the decoded text/plain and text/html parts, each
	// concatenated when there are several.
	Text string
	HTML string
}

// Parse reads one RFC 5322 message. It fails on a malformed header, address
// list or Content-Type, and on a transfer encoding other than 7bit, 8bit,
// binary, quoted-printable or base64.
func Parse(raw []byte) (*Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	m := &Message{Raw: raw, Header: msg.Header}
	var dec mime.WordDecoder
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("decode Subject %q: %w", msg.Header.Get("Subject"), err)
	}
	for _, h := range []struct {
		name string
		dst  *[]*mail.Address
	}{{"From", &m.From}, {"Reply-To", &m.ReplyTo}, {"To", &m.To}} {
		if msg.Header.Get(h.name) == "" {
			continue
		}
		if *h.dst, err = msg.Header.AddressList(h.name); err != nil {
			return nil, fmt.Errorf("parse %s %q: %w", h.name, msg.Header.Get(h.name), err)
		}
	}
	if err := m.readPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, true); err != nil {
		return nil, err
	}
	return m, nil
}

// readPart decodes one body, descending into multipart bodies.
func (m *Message) readPart(contentType, encoding string, body io.Reader, top bool) error {
	if contentType == "" {
		contentType = defaultContentType
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("parse Content-Type %q: %w", contentType, err)
	}
	if top {
		m.MediaType = mediaType
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		// Raw parts: the transfer encoding is undone below, the same way
		// for a part as for a single-part body.
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s part: %w", mediaType, err)
			}
			if err := m.readPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, false); err != nil {
				return err
			}
		}
	}
	encoding = strings.ToLower(strings.TrimSpace(encoding))
	var r io.Reader
	switch encoding {
	case "", "7bit", "8bit", "binary":
		r = body
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // skips line breaks
	default:
		return fmt.Errorf("%s part: unsupported Content-Transfer-Encoding %q", mediaType, encoding)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decode %s part (%s): %w", mediaType, encoding, err)
	}
	m.Parts = append(m.Parts, Part{MediaType: mediaType, Charset: strings.ToLower(params["charset"]), Encoding: encoding, Body: string(b)})
	m.PartTypes = append(m.PartTypes, mediaType)
	switch mediaType {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

// SentTo reports whether addr is one of the To addresses (case-insensitive).
func (m *Message) SentTo(addr string) bool {
	for _, a := range m.To {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}
