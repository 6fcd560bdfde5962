package consolemail_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/consolemail"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// syncBuffer lets concurrent log writes and reads share one buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readLog decodes the mail records of a JSON log.
func readLog(t testing.TB, log string) []porttest.ReceivedMail {
	t.Helper()
	var out []porttest.ReceivedMail
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg       string `json:"msg"`
			Level     string `json:"level"`
			From      string `json:"from"`
			ReplyTo   string `json:"reply_to"`
			To        string `json:"to"`
			Subject   string `json:"subject"`
			Text      string `json:"text"`
			HTMLBytes *int   `json:"html_bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		if rec.Msg != consolemail.LogMessage {
			continue
		}
		if rec.Level != "INFO" || rec.HTMLBytes == nil {
			t.Fatalf("mail record at level %q, html_bytes %v: %s", rec.Level, rec.HTMLBytes, sc.Bytes())
		}
		to, err := mail.ParseAddressList(rec.To)
		if err != nil {
			t.Fatalf("to %q: %v", rec.To, err)
		}
		r := porttest.ReceivedMail{From: rec.From, ReplyTo: rec.ReplyTo, Subject: rec.Subject, Text: rec.Text}
		for _, a := range to {
			r.To = append(r.To, a.String())
		}
		out = append(out, r)
	}
	return out
}

func TestMailerContract(t *testing.T) {
	var buf syncBuffer
	m := consolemail.New(slog.New(slog.NewJSONHandler(&buf, nil)))
	porttest.Mailer(t, m, func(t *testing.T) []porttest.ReceivedMail { return readLog(t, buf.String()) },
		porttest.MailerShowsNoHTML())
}

func TestTextLogShowsACopyableLink(t *testing.T) {
	var buf syncBuffer
	m := consolemail.New(slog.New(slog.NewTextHandler(&buf, nil)))
	link := "http://127.0.0.1:8000/verify-user/?user_id=1&timestamp=1700000000&signature=a-b_c"
	err := m.Send(t.Context(), core.Message{
		From: "noreply@example.com", To: []string{"ann@example.com"},
		Subject: "Please verify your account",
		Text:    "Please verify your account by clicking on this link:\n\n" + link + "\n\n",
		HTML:    "<p>hidden</p>",
	})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, link) {
		t.Fatalf("log does not hold the link verbatim:\n%s", out)
	}
	if !strings.Contains(out, "html_bytes=13") || strings.Contains(out, "hidden") {
		t.Fatalf("log should report the HTML part's size, not its content:\n%s", out)
	}
}

func TestModuleLogsThroughTheAppLogger(t *testing.T) {
	var buf syncBuffer
	var mailer ports.Mailer
	app := fx.New(fx.NopLogger,
		fx.Supply(slog.New(slog.NewJSONHandler(&buf, nil))),
		consolemail.Module,
		fx.Populate(&mailer),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if err := mailer.Send(t.Context(), core.Message{From: "a@example.com", To: []string{"b@example.com"}, Subject: "hi", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, buf.String()); len(got) != 1 || got[0].Subject != "hi" {
		t.Fatalf("app logger received %v", got)
	}
}
