package filemail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/filemail"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

func readDir(t testing.TB, dir string) []porttest.ReceivedMail {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []porttest.ReceivedMail
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, porttest.ParseMail(t, raw))
	}
	return out
}

var msg = core.Message{
	From:    "noreply@example.com",
	To:      []string{"ann@example.com"},
	Subject: "Please verify your account",
	Text:    "Please verify your account by clicking on this link:\n\nhttps://app.example.com/v/?user_id=1\n\n",
	HTML:    `<a href="https://app.example.com/v/?user_id=1">verify</a>`,
}

func TestMailerContract(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	m, err := filemail.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	porttest.Mailer(t, m, func(t *testing.T) []porttest.ReceivedMail { return readDir(t, dir) })
}

func TestEveryMessageGetsItsOwnCompleteFile(t *testing.T) {
	dir := t.TempDir()
	fixed := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	m, err := filemail.New(dir, filemail.WithClock(func() time.Time { return fixed }))
	if err != nil {
		t.Fatal(err)
	}
	big := msg
	big.Text = strings.Repeat("A line long enough to make the file span several writes.\n", 1000)

	const senders, each = 4, 25
	stop := make(chan struct{})
	var readerErr error
	var readerWG sync.WaitGroup
	readerWG.Add(1)
	go func() {
		// A reader polling the directory while messages are written must
		// never find a file it cannot parse.
		defer readerWG.Done()
		checked := map[string]bool{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			paths, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
			for _, p := range paths {
				if checked[p] {
					continue
				}
				checked[p] = true
				raw, err := os.ReadFile(p)
				if err != nil {
					readerErr = err
					return
				}
				if !bytes.HasSuffix(raw, []byte("--\r\n")) {
					readerErr = errors.New("found an incomplete message in " + p)
					return
				}
			}
		}
	}()

	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for range each {
				if err := m.Send(t.Context(), big); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readerWG.Wait()
	if readerErr != nil {
		t.Fatal(readerErr)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != senders*each {
		t.Fatalf("%d files for %d messages sent at the same instant", len(entries), senders*each)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") || !strings.HasPrefix(e.Name(), "20261129T100000.000000000Z-") {
			t.Fatalf("unexpected file %q (temporary files must not remain)", e.Name())
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := parsed.Header.Date(); err != nil || !d.Equal(fixed) {
		t.Fatalf("Date = %v (%v), want the clock's %v", d, err, fixed)
	}
}

func TestRemovedDirectoryIsRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	m, err := filemail.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send after the directory was removed: %v", err)
	}
	if got := readDir(t, dir); len(got) != 1 {
		t.Fatalf("%d messages in the recreated directory, want 1", len(got))
	}
}

func TestDiskErrorIsUnavailable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	m, err := filemail.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A regular file where the directory was: every write fails, as on a
	// full or read-only disk (permission tricks do not work for root).
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Send = %v, want core.ErrUnavailable", err)
	}
}

func TestNewFailsWhenTheDirectoryCannotBeCreated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := filemail.New(filepath.Join(file, "mail")); err == nil {
		t.Fatal("New accepted a directory below a regular file")
	}
}

func TestModuleWritesIntoMailFileDir(t *testing.T) {
	c := filemail.Config{Dir: filepath.Join(t.TempDir(), "mail")}
	var mailer ports.Mailer
	app := fx.New(fx.NopLogger,
		fx.Supply(c, slog.New(slog.NewTextHandler(io.Discard, nil))),
		filemail.Module,
		fx.Populate(&mailer),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if err := mailer.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := readDir(t, c.Dir)
	if len(got) != 1 || got[0].Subject != msg.Subject {
		t.Fatalf("the Config's Dir holds %v, want the message sent", got)
	}
}

func BenchmarkSend(b *testing.B) {
	m, err := filemail.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := m.Send(context.Background(), msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
