package restreg_test

import (
	"log/slog"
	"os"
	"testing"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/smtpmail"
	"github.com/restreg/restreg/adapters/sqlitestore"
	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// myURLs puts the signed parameters in a fragment instead of the query string.
type myURLs struct{}

func (myURLs) BuildVerificationURL(id, ts, sig string) (string, error) {
	return "https://app.example.com/#/verify/" + id + "/" + ts + "/" + sig, nil
}

// A custom deployment: SQLite, SMTP and in-process events, with links built
// by the application's own URL builder. (The README shows this program.)
func Example_customDeployment() {
	s, err := restreg.LoadSettings(core.DefaultSettings(), "", os.LookupEnv)
	if err == nil {
		err = s.Validate()
	}
	if err != nil {
		panic(err)
	}
	app := fx.New(
		fx.Supply(s, slog.Default()),
		restreg.SystemClock, restreg.Core,
		sqlitestore.Module, smtpmail.Module, watermillpub.GoChannelModule,
		passhash.Module, httpapi.Module, restreg.HTTPServer,
		fx.Decorate(func(ports.VerificationURLBuilder) ports.VerificationURLBuilder { return myURLs{} }),
	)
	_ = app // app.Run() serves until SIGTERM
}

// The README's composition is a complete graph: every port is provided.
func TestCustomDeploymentGraphResolves(t *testing.T) {
	s := core.DefaultSettings()
	s.SecretKey = apisuite.SecretKey
	s.RegisterVerificationURL = "https://app.example.com/verify/"
	s.VerificationFromEmail = "noreply@example.com"
	s.MailBackend = "smtp"
	s.SMTPURL = "smtp://127.0.0.1:2525?starttls=off"
	s.DataDir = t.TempDir()
	err := fx.ValidateApp(
		fx.Supply(s, slog.Default()),
		restreg.SystemClock, restreg.Core,
		sqlitestore.Module, smtpmail.Module, watermillpub.GoChannelModule,
		passhash.Module, httpapi.Module, restreg.HTTPServer,
		fx.Decorate(func(ports.VerificationURLBuilder) ports.VerificationURLBuilder { return myURLs{} }),
	)
	if err != nil {
		t.Fatalf("the documented composition does not resolve: %v", err)
	}
}
