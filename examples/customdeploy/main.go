// Command customdeploy is a restreg deployment composed by hand: Core on the
// in-memory store, in-process events, in-memory rate limits, argon2id and
// the HTTP API, with the application's own mailer. It links none of the
// adapters it does not use (no database driver, broker client, SendGrid or
// Prometheus). README's "Composing your own deployment" shows this program.
package main

import (
	"context"
	"log/slog"
	"os"

	"go.uber.org/fx"

	"github.com/restreg/restreg"
	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// logMailer is the application's own mailer: it logs each message instead
// of sending it.
type logMailer struct{ log *slog.Logger }

func (m logMailer) Send(_ context.Context, msg core.Message) error {
	m.log.Info("mail", "to", msg.To, "subject", msg.Subject, "text", msg.Text)
	return nil
}

// deployment is Core with the adapters this application chose, each given
// its own Config; the mailer is left to the caller.
func deployment(s core.Settings, hashing passhash.Config, listen httpapi.ServeConfig, log *slog.Logger) fx.Option {
	return fx.Options(
		fx.Supply(s, log, listen, httpapi.DefaultConfig(), hashing, watermillpub.DefaultConfig()),
		restreg.SystemClock,
		restreg.Core,
		memstore.Module,
		watermillpub.GoChannelModule,
		memlimit.Module,
		passhash.Module,
		httpapi.Edge,
	)
}

func main() {
	s := core.DefaultSettings()
	s.SecretKey = os.Getenv("SECRET_KEY")
	s.RegisterVerificationURL = "https://app.example.com/verify-user/"
	s.VerificationFromEmail = "Example <noreply@example.com>"
	if err := s.Validate(); err != nil {
		slog.Error("settings", "error", err)
		os.Exit(1)
	}
	log := slog.Default()
	fx.New(
		deployment(s, passhash.DefaultConfig(), httpapi.DefaultServeConfig(), log),
		fx.Provide(fx.Annotate(func() logMailer { return logMailer{log} }, fx.As(new(ports.Mailer)))),
	).Run()
}
