// Package consolemail is the demo mailer: it prints every message — its
// headers and text part — to the log, where the person running `make run`
// copies the verification link from.
package consolemail

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/ports"
)

// Module provides the console mailer as ports.Mailer, printing to the
// application's logger.
var Module = fx.Module("consolemail",
	fx.Provide(fx.Annotate(New, fx.As(new(ports.Mailer)))),
)

// LogMessage is the message of every log record the mailer writes; the
// record's attributes are from, reply_to (when set), to, subject, text and
// html_bytes (the size of the HTML part, which is not printed).
const LogMessage = "e-mail"

var _ ports.Mailer = (*Mailer)(nil)

// Mailer logs each message as one Info record. It is safe for concurrent use.
type Mailer struct {
	log *slog.Logger
}

// New returns a mailer printing to log.
func New(log *slog.Logger) *Mailer {
	return &Mailer{log: log}
}

// Send logs msg. Errors: a malformed address (permanent), ctx.Err().
func (m *Mailer) Send(ctx context.Context, msg core.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("consolemail: send: %w", err)
	}
	// The console shows what a real mailer would send, so it refuses what a
	// real mailer would refuse.
	if _, err := email.ParseEnvelope(msg); err != nil {
		return fmt.Errorf("consolemail: %w", err)
	}
	attrs := []any{slog.String("from", msg.From)}
	if msg.ReplyTo != "" {
		attrs = append(attrs, slog.String("reply_to", msg.ReplyTo))
	}
	attrs = append(attrs,
		slog.String("to", strings.Join(msg.To, ", ")),
		slog.String("subject", email.OneLine(msg.Subject)),
		slog.String("text", msg.Text),
		slog.Int("html_bytes", len(msg.HTML)),
	)
	m.log.InfoContext(context.WithoutCancel(ctx), LogMessage, attrs...)
	return nil
}
