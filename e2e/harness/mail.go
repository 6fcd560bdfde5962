package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/onsi/ginkgo/v2"

	"github.com/restreg/restreg/ports/porttest/eml"
)

// Mailbox is where the messages a server sent can be read back.
type Mailbox interface {
	// Messages returns every message received so far, oldest first.
	Messages() ([]*Mail, error)
}

// Mail is one message as delivered, read by the shared reader in package
// eml, with the SMTP envelope when it came by SMTP.
type Mail struct {
	*eml.Message
	// EnvelopeFrom and EnvelopeTo are the SMTP envelope, when it came by SMTP.
	EnvelopeFrom string
	EnvelopeTo   []string
}

// ParseMail parses one RFC 5322 message.
func ParseMail(raw []byte) (*Mail, error) {
	m, err := eml.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse mail: %w", err)
	}
	return &Mail{Message: m}, nil
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
