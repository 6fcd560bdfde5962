package harness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/onsi/ginkgo/v2"
)

// Mailbox is where the messages a server sent can be read back.
type Mailbox interface {
	// Messages returns every message received so far, oldest first.
	Messages() ([]*Mail, error)
}

// Mail is one message as delivered, parsed with net/mail and mime/multipart.
type Mail struct {
	Raw    []byte
	Header mail.Header
	// Subject is the decoded Subject header.
	Subject string
	// From, ReplyTo and To are the parsed address headers.
	From    []*mail.Address
	ReplyTo []*mail.Address
	To      []*mail.Address
	// MediaType is the top-level content type (e.g. multipart/alternative).
	MediaType string
	// PartTypes lists the media types of the leaf parts in order.
	PartTypes []string
	// Text and HTML are the decoded text/plain and text/html bodies.
	Text string
	HTML string
	// EnvelopeFrom and EnvelopeTo are the SMTP envelope, when it came by SMTP.
	EnvelopeFrom string
	EnvelopeTo   []string
}

// ParseMail parses one RFC 5322 message.
func ParseMail(raw []byte) (*Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	m := &Mail{Raw: raw, Header: msg.Header}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("decode Subject: %w", err)
	}
	for _, h := range []struct {
		name string
		dst  *[]*mail.Address
	}{{"From", &m.From}, {"Reply-To", &m.ReplyTo}, {"To", &m.To}} {
		if msg.Header.Get(h.name) == "" {
			continue
		}
		if *h.dst, err = msg.Header.AddressList(h.name); err != nil {
			return nil, fmt.Errorf("parse %s: %w", h.name, err)
		}
	}
	ct := msg.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	if err := m.readPart(ct, msg.Header.Get("Content-Transfer-Encoding"), msg.Body, true); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mail) readPart(contentType, encoding string, body io.Reader, top bool) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("parse Content-Type %q: %w", contentType, err)
	}
	if top {
		m.MediaType = mediaType
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s part: %w", mediaType, err)
			}
			pct := p.Header.Get("Content-Type")
			if pct == "" {
				pct = "text/plain; charset=us-ascii"
			}
			if err := m.readPart(pct, p.Header.Get("Content-Transfer-Encoding"), p, false); err != nil {
				return err
			}
		}
	}
	r := body
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("decode %s part (%s): %w", mediaType, encoding, err)
	}
	m.PartTypes = append(m.PartTypes, mediaType)
	switch mediaType {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+`)

// Links returns the URLs in the text part that carry a signature.
func (m *Mail) Links() []string {
	var out []string
	for _, l := range linkPattern.FindAllString(m.Text, -1) {
		if strings.Contains(l, "signature=") {
			out = append(out, l)
		}
	}
	return out
}

// VerificationLink returns the one signed link of the text part, parsed; a
// message without exactly one fails the spec.
func (m *Mail) VerificationLink() *url.URL {
	ginkgo.GinkgoHelper()
	links := m.Links()
	distinct := map[string]bool{}
	for _, l := range links {
		distinct[l] = true
	}
	if len(distinct) != 1 {
		ginkgo.Fail(fmt.Sprintf("want one verification link in the text part, found %d: %q\n%s", len(distinct), links, m.Text))
	}
	u, err := url.Parse(links[0])
	if err != nil {
		ginkgo.Fail(fmt.Sprintf("verification link %q: %v", links[0], err))
	}
	return u
}

// SentTo reports whether addr is one of the To addresses (case-insensitive).
func (m *Mail) SentTo(addr string) bool {
	for _, a := range m.To {
		if strings.EqualFold(a.Address, addr) {
			return true
		}
	}
	return false
}

// MailTo returns the messages the server sent to addr so far; it skips the
// spec when the server's mail cannot be read (an external deployment
// without RESTREG_E2E_MAIL_DIR).
func (s *Server) MailTo(addr string) []*Mail {
	ginkgo.GinkgoHelper()
	if s.Mail == nil {
		ginkgo.Skip("reads the verification e-mail: set " + EnvMailDir + " to the deployment's MAIL_FILE_DIR (MAIL_BACKEND=file)")
	}
	all, err := s.Mail.Messages()
	if err != nil {
		ginkgo.Fail("read mail: " + err.Error())
	}
	var out []*Mail
	for _, m := range all {
		if m.SentTo(addr) {
			out = append(out, m)
		}
	}
	return out
}

// FileMailbox reads the .eml files MAIL_BACKEND=file writes into dir.
func FileMailbox(dir string) Mailbox {
	return &fileMailbox{dir: dir, parsed: map[string]*Mail{}}
}

type fileMailbox struct {
	dir    string
	mu     sync.Mutex
	parsed map[string]*Mail
}

func (f *fileMailbox) Messages() ([]*Mail, error) {
	entries, err := os.ReadDir(f.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.dir, err)
	}
	type dated struct {
		name string
		mod  int64
	}
	var files []dated
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // renamed or removed meanwhile
		}
		files = append(files, dated{e.Name(), info.ModTime().UnixNano()})
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].mod != files[j].mod {
			return files[i].mod < files[j].mod
		}
		return files[i].name < files[j].name
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*Mail, 0, len(files))
	for _, file := range files {
		m := f.parsed[file.name]
		if m == nil {
			raw, err := os.ReadFile(filepath.Join(f.dir, file.name))
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", file.name, err)
			}
			if m, err = ParseMail(raw); err != nil {
				return nil, fmt.Errorf("%s: %w", file.name, err)
			}
			f.parsed[file.name] = m
		}
		out = append(out, m)
	}
	return out, nil
}
