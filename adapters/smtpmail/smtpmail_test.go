package smtpmail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/smtpmail"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// password holds characters that need escaping in a URL, so parsing is
// exercised too.
const (
	username = "mailer@example.com"
	password = "s3cr3t:p@ss/w?rd"
)

func smtpURL(scheme, addr string, withCredentials bool) string {
	u := url.URL{Scheme: scheme, Host: addr}
	if withCredentials {
		u.User = url.UserPassword(username, password)
	}
	return u.String()
}

func trusting(s *mailServer) smtpmail.Option {
	return smtpmail.WithTLSConfig(&tls.Config{RootCAs: s.pool})
}

var msg = core.Message{
	From:    "Restreg <noreply@example.com>",
	ReplyTo: "support@example.com",
	To:      []string{"ann@example.com"},
	Subject: "Please verify your account",
	Text:    "Please verify your account by clicking on this link:\n\nhttps://app.example.com/v/?user_id=1\n\n",
	HTML:    `<a href="https://app.example.com/v/?user_id=1">verify</a>`,
}

func checkNoPassword(t *testing.T, err error) {
	t.Helper()
	if err != nil && (strings.Contains(err.Error(), password) || strings.Contains(err.Error(), url.UserPassword(username, password).String())) {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestMailerContractOverSTARTTLSWithPlainAuth(t *testing.T) {
	srv := startServer(t, serverConfig{tls: true, mechs: []string{sasl.Plain}, users: map[string]string{username: password}})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, true), trusting(srv))
	if err != nil {
		t.Fatal(err)
	}
	porttest.Mailer(t, m, func(t *testing.T) []porttest.ReceivedMail {
		var out []porttest.ReceivedMail
		for _, d := range srv.received() {
			if !d.tls || d.user != username {
				t.Fatalf("message accepted with tls=%v user=%q, want STARTTLS and %q", d.tls, d.user, username)
			}
			out = append(out, porttest.ParseMail(t, d.data))
		}
		return out
	})
}

func TestEnvelopeUsesBareAddresses(t *testing.T) {
	srv := startServer(t, serverConfig{})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, false))
	if err != nil {
		t.Fatal(err)
	}
	two := msg
	two.To = []string{"ann@example.com", "Bob Example <bob@example.com>"}
	if err := m.Send(t.Context(), two); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	if d.from != "noreply@example.com" || strings.Join(d.to, ",") != "ann@example.com,bob@example.com" {
		t.Fatalf("envelope MAIL FROM %q RCPT TO %q", d.from, d.to)
	}
	if d.tls || d.user != "" {
		t.Fatalf("tls=%v user=%q on a server offering neither", d.tls, d.user)
	}
	if srv.authAttempts() != 0 {
		t.Fatal("the mailer tried to authenticate without credentials in SMTP_URL")
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := startServer(t, serverConfig{implicitTLS: true, mechs: []string{sasl.Plain}, users: map[string]string{username: password}})
	m, err := smtpmail.New(smtpURL("smtps", srv.addr, true), trusting(srv))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || !got[0].tls || got[0].user != username {
		t.Fatalf("deliveries %+v, want one over TLS by %q", got, username)
	}
	if r := porttest.ParseMail(t, got[0].data); r.Subject != msg.Subject {
		t.Fatalf("subject %q", r.Subject)
	}
}

func TestLoginAuthWhenPlainIsNotOffered(t *testing.T) {
	srv := startServer(t, serverConfig{tls: true, mechs: []string{sasl.Login}, users: map[string]string{username: password}})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, true), trusting(srv))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || got[0].user != username {
		t.Fatalf("deliveries %+v, want one authenticated with LOGIN as %q", got, username)
	}
}

func TestWrongPasswordIsPermanent(t *testing.T) {
	srv := startServer(t, serverConfig{tls: true, mechs: []string{sasl.Plain}, users: map[string]string{username: "other"}})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, true), trusting(srv))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if err == nil || errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "535") {
		t.Fatalf("Send = %v, want a permanent error carrying the 535 reply", err)
	}
	checkNoPassword(t, err)
	if len(srv.received()) != 0 {
		t.Fatal("message delivered despite failed authentication")
	}
}

func TestServerDownIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	m, err := smtpmail.New(smtpURL("smtp", addr, true))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Send = %v, want core.ErrUnavailable", err)
	}
	checkNoPassword(t, err)
}

func TestRejectionWith5xxIsPermanent(t *testing.T) {
	srv := startServer(t, serverConfig{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"}})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, false))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if err == nil || errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Send = %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "No such mailbox") {
		t.Fatalf("error %q does not carry the server's reply", err)
	}
}

func TestRejectionWith4xxIsUnavailable(t *testing.T) {
	srv := startServer(t, serverConfig{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("Send = %v, want core.ErrUnavailable carrying the 451 reply", err)
	}
}

func TestUntrustedCertificateIsPermanent(t *testing.T) {
	srv := startServer(t, serverConfig{tls: true})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, false))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if err == nil || errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Send = %v, want a permanent certificate error", err)
	}
	if len(srv.received()) != 0 {
		t.Fatal("message delivered over an untrusted connection")
	}
}

func TestSkippingVerificationTakesAnExplicitOption(t *testing.T) {
	srv := startServer(t, serverConfig{tls: true})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, false), smtpmail.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("deliveries %+v, want one over STARTTLS", got)
	}
}

// Credentials in SMTP_URL mean the deployment expects to authenticate; a
// server that offers no AUTH is a misconfiguration, not a reason to send
// unauthenticated.
func TestCredentialsButNoAUTHOfferedIsPermanent(t *testing.T) {
	srv := startServer(t, serverConfig{})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, true))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if err == nil || errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "no AUTH") {
		t.Fatalf("Send = %v, want a permanent error about the missing AUTH", err)
	}
	checkNoPassword(t, err)
	if len(srv.received()) != 0 {
		t.Fatal("message sent unauthenticated")
	}
}

// A server that is not on the loopback and offers no STARTTLS must not see
// the password, unless the deployment explicitly allows it.
func TestInsecureAuthIsRefusedUnlessAllowed(t *testing.T) {
	srv := startServer(t, serverConfig{allowInsecureAuth: true, mechs: []string{sasl.Plain}, users: map[string]string{username: password}})
	toServer := smtpmail.WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.addr)
	})
	m, err := smtpmail.New(smtpURL("smtp", "mail.example.test:587", true), toServer)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if err == nil || errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("Send = %v, want a permanent refusal to authenticate in clear text", err)
	}
	if srv.authAttempts() != 0 {
		t.Fatal("the mailer sent credentials in clear text")
	}

	m, err = smtpmail.New(smtpURL("smtp", "mail.example.test:587", true), toServer, smtpmail.WithInsecureAuth())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send with WithInsecureAuth: %v", err)
	}
	if got := srv.received(); len(got) != 1 || got[0].user != username {
		t.Fatalf("deliveries %+v, want one authenticated as %q", got, username)
	}
}

// silentServer accepts connections and never answers, like a server that
// hangs.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	return ln.Addr().String()
}

func TestHangingServerTimesOut(t *testing.T) {
	m, err := smtpmail.New(smtpURL("smtp", silentServer(t), false), smtpmail.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want core.ErrUnavailable after the deadline", err)
	}
}

func TestCancellingTheContextStopsTheSend(t *testing.T) {
	m, err := smtpmail.New(smtpURL("smtp", silentServer(t), false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := m.Send(ctx, msg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want it to end with the cancelled context", err)
	}
}

func TestNewNeverShowsTheURL(t *testing.T) {
	const secret = "topsecretpw"
	for _, raw := range []string{
		"smtp://user:" + secret + "@[::1",
		"smtp://user:" + secret + "@host:port",
		"smtp://user:" + secret + "@",
		"http://user:" + secret + "@host:25",
		"smtp://user:" + secret + "@host:25/%zz",
	} {
		_, err := smtpmail.New(raw)
		if err == nil {
			t.Fatalf("New(%q) accepted an invalid URL", raw)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("New error shows the password: %v", err)
		}
	}
}

func TestModuleUsesSMTPURL(t *testing.T) {
	srv := startServer(t, serverConfig{})
	s := core.DefaultSettings()
	s.MailBackend = "smtp"
	s.SMTPURL = smtpURL("smtp", srv.addr, false)
	var mailer ports.Mailer
	app := fx.New(fx.NopLogger,
		fx.Supply(s, slog.New(slog.NewTextHandler(io.Discard, nil))),
		smtpmail.Module,
		fx.Populate(&mailer),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if err := mailer.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if len(srv.received()) != 1 {
		t.Fatal("the module's mailer did not deliver to SMTP_URL")
	}
}
