// Package filemail is the development mailer: it writes every message as one
// RFC 5322 .eml file into a directory (MAIL_FILE_DIR), where a developer, a
// test or a load generator opens it and follows the link.
package filemail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/ports"
)

// Module provides the file mailer as ports.Mailer, writing into the Dir of
// the Config in the graph.
var Module = fx.Module("filemail",
	fx.Provide(fx.Annotate(newForApp, fx.As(new(ports.Mailer)))),
)

func newForApp(c Config, log *slog.Logger) (*Mailer, error) {
	m, err := New(c.Dir)
	if err != nil {
		return nil, err
	}
	log.Info("mail is written to files", "dir", m.dir)
	return m, nil
}

var _ ports.Mailer = (*Mailer)(nil)

// Mailer writes each message to its own .eml file. It is safe for concurrent
// use.
type Mailer struct {
	dir string
	now func() time.Time
}

// Option configures a Mailer.
type Option func(*Mailer)

// WithClock sets where the Date header and file names take the time from.
func WithClock(now func() time.Time) Option {
	return func(m *Mailer) { m.now = now }
}

// New returns a mailer writing into dir, which it creates if needed.
func New(dir string, opts ...Option) (*Mailer, error) {
	if dir == "" {
		return nil, fmt.Errorf("filemail: no directory given")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("filemail: create mail directory: %w", err)
	}
	m := &Mailer{dir: dir, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Dir returns the directory messages are written to.
func (m *Mailer) Dir() string { return m.dir }

// Send writes msg to a new file "<UTC time>-<random>.eml". The file appears
// under that name only once complete: it is written under a hidden temporary
// name (not ending in .eml) in the same directory and then renamed, which is
// atomic. Errors: a malformed address (permanent), core.ErrUnavailable when
// the disk refuses the write.
func (m *Mailer) Send(ctx context.Context, msg core.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filemail: send: %w", err)
	}
	now := m.now()
	raw, err := email.Render(msg, now, "")
	if err != nil {
		return fmt.Errorf("filemail: %w", err)
	}
	// A directory removed while the server runs (a developer clearing old
	// mail with rm -r) comes back rather than failing every registration.
	if err := os.MkdirAll(m.dir, 0o750); err != nil {
		return fmt.Errorf("filemail: create mail directory: %w: %v", core.ErrUnavailable, err)
	}
	f, err := os.CreateTemp(m.dir, ".writing-*.tmp")
	if err != nil {
		return fmt.Errorf("filemail: create file: %w: %v", core.ErrUnavailable, err)
	}
	tmp := f.Name()
	_, werr := f.Write(raw)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("filemail: write %s: %w: %v", tmp, core.ErrUnavailable, firstErr(werr, cerr))
	}
	// No fsync: this mailer serves development and tests, where what matters
	// is that a reader never sees half a message, not surviving a power cut.
	name := filepath.Join(m.dir, now.UTC().Format("20060102T150405.000000000Z")+"-"+randomHex(8)+".eml")
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("filemail: rename to %s: %w: %v", name, core.ErrUnavailable, err)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}
