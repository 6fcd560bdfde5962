package smtpmail_test

import (
	"bytes"
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

// inClear is an smtp:// URL to a test server without STARTTLS, which it
// must opt out of explicitly.
func inClear(addr string, withCredentials bool) string {
	return smtpURL("smtp", addr, withCredentials) + "?starttls=off"
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
	m, err := smtpmail.New(inClear(srv.addr, false))
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
	m, err := smtpmail.New(inClear(srv.addr, false))
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
	m, err := smtpmail.New(inClear(srv.addr, false))
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
	m, err := smtpmail.New(inClear(srv.addr, true))
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
// the password, unless the deployment explicitly allows it — even when
// SMTP_URL allows sending in clear.
func TestInsecureAuthIsRefusedUnlessAllowed(t *testing.T) {
	srv := startServer(t, serverConfig{allowInsecureAuth: true, mechs: []string{sasl.Plain}, users: map[string]string{username: password}})
	toServer := smtpmail.WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.addr)
	})
	optional := smtpURL("smtp", "mail.example.test:587", true) + "?starttls=optional"
	m, err := smtpmail.New(optional, toServer)
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

	m, err = smtpmail.New(optional, toServer, smtpmail.WithInsecureAuth())
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
	m, err := smtpmail.New(inClear(silentServer(t), false), smtpmail.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want core.ErrUnavailable after the deadline", err)
	}
}

func TestCancellingTheContextStopsTheSend(t *testing.T) {
	m, err := smtpmail.New(inClear(silentServer(t), false))
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

// The module's mailer sends to SMTP_URL, and stopping the application
// waits for the QUIT still under way in the background.
func TestModuleUsesSMTPURLAndWaitsForQUITOnStop(t *testing.T) {
	srv := startServer(t, serverConfig{quitDelay: 500 * time.Millisecond})
	s := smtpmail.Config{URL: inClear(srv.addr, false)}
	var mailer ports.Mailer
	app := fx.New(fx.NopLogger,
		fx.Supply(s, slog.New(slog.NewTextHandler(io.Discard, nil))),
		smtpmail.Module,
		fx.Populate(&mailer),
	)
	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := mailer.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if len(srv.received()) != 1 {
		t.Fatal("the module's mailer did not deliver to SMTP_URL")
	}
	if err := app.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.quitAnswered:
	default:
		t.Fatal("the application stopped while a connection was still waiting for the reply to QUIT")
	}
}

// A mistyped starttls value stops start-up instead of guessing.
func TestModuleRefusesAnUnknownStarttlsValue(t *testing.T) {
	s := smtpmail.Config{URL: smtpURL("smtp", "127.0.0.1:2525", true) + "?starttls=sometimes"}
	app := fx.New(fx.NopLogger,
		fx.Supply(s, slog.New(slog.NewTextHandler(io.Discard, nil))),
		smtpmail.Module,
		fx.Invoke(func(ports.Mailer) {}),
	)
	err := app.Err()
	if err == nil || !strings.Contains(err.Error(), `starttls="sometimes"`) {
		t.Fatalf("start-up error = %v, want one naming the starttls value", err)
	}
	checkNoPassword(t, err)
}

func TestStarttlsParameterValues(t *testing.T) {
	for _, ok := range []string{"", "?starttls=required", "?starttls=optional", "?starttls=OPTIONAL", "?starttls=off", "?starttls=never"} {
		if _, err := smtpmail.New(smtpURL("smtp", "mail.example.test:587", true) + ok); err != nil {
			t.Errorf("New(smtp://…%s) = %v", ok, err)
		}
	}
	for _, bad := range []struct{ url, want string }{
		{smtpURL("smtp", "mail.example.test:587", true) + "?starttls=yes", `starttls="yes"`},
		{smtpURL("smtp", "mail.example.test:587", true) + "?starttls=", `starttls=""`},
		{smtpURL("smtp", "mail.example.test:587", true) + "?starttls=off&starttls=required", "more than once"},
		// smtps:// is encrypted from the first byte; a starttls value
		// there is a misunderstanding worth reporting.
		{smtpURL("smtps", "mail.example.test:465", true) + "?starttls=off", "smtps://"},
	} {
		_, err := smtpmail.New(bad.url)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("New(…%s) = %v, want an error containing %q", bad.url[strings.Index(bad.url, "?"):], err, bad.want)
		}
		checkNoPassword(t, err)
	}
}

// By default smtp:// never sends a message (nor credentials) in clear: a
// server that offers no STARTTLS gets nothing, the error is permanent and
// the reason is logged without the password.
func TestSTARTTLSIsRequiredByDefault(t *testing.T) {
	srv := startServer(t, serverConfig{allowInsecureAuth: true, mechs: []string{sasl.Plain}, users: map[string]string{username: password}})
	var logs bytes.Buffer
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, true), smtpmail.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(t.Context(), msg)
	if err == nil || errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send = %v, want a permanent error about the missing STARTTLS", err)
	}
	checkNoPassword(t, err)
	if len(srv.received()) != 0 || srv.authAttempts() != 0 {
		t.Fatalf("%d messages delivered and %d authentications in clear, want none", len(srv.received()), srv.authAttempts())
	}
	line := logs.String()
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "STARTTLS") || !strings.Contains(line, srv.addr) {
		t.Errorf("log %q does not report the refusal at error level with the server", line)
	}
	if strings.Contains(line, password) || strings.Contains(line, url.QueryEscape(password)) || strings.Contains(line, username) {
		t.Errorf("log shows a credential: %s", line)
	}
}

func TestOptionalSTARTTLSSendsInClearWhenNotOffered(t *testing.T) {
	srv := startServer(t, serverConfig{})
	m, err := smtpmail.New(smtpURL("smtp", srv.addr, false) + "?starttls=optional")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || got[0].tls {
		t.Fatalf("deliveries %+v, want one in clear", got)
	}
}

// When the server offers STARTTLS, both the default and optional use it.
func TestOfferedSTARTTLSIsUsed(t *testing.T) {
	for _, query := range []string{"", "?starttls=optional"} {
		srv := startServer(t, serverConfig{tls: true})
		m, err := smtpmail.New(smtpURL("smtp", srv.addr, false)+query, trusting(srv))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(t.Context(), msg); err != nil {
			t.Fatalf("%q: %v", query, err)
		}
		if got := srv.received(); len(got) != 1 || !got[0].tls {
			t.Fatalf("%q: deliveries %+v, want one over STARTTLS", query, got)
		}
	}
}

// starttls=off is for loopback test servers: it never tries, even when
// offered, and still keeps credentials off a clear connection to any
// other host.
func TestStarttlsOffNeverTries(t *testing.T) {
	srv := startServer(t, serverConfig{tls: true, allowInsecureAuth: true, mechs: []string{sasl.Plain}, users: map[string]string{username: password}})
	m, err := smtpmail.New(inClear(srv.addr, true))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || got[0].tls || got[0].user != username {
		t.Fatalf("deliveries %+v, want one in clear, authenticated on the loopback", got)
	}

	toServer := smtpmail.WithDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.addr)
	})
	m, err = smtpmail.New(inClear("mail.example.test:587", true), toServer, trusting(srv))
	if err != nil {
		t.Fatal(err)
	}
	tries := srv.authAttempts()
	if err := m.Send(t.Context(), msg); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("Send = %v, want a refusal to authenticate in clear text", err)
	}
	if srv.authAttempts() != tries {
		t.Fatal("the mailer sent credentials in clear text to a host off the loopback")
	}
}

// The server's acceptance of the message is what a send waits for; a slow
// goodbye is said in the background, and Close waits for it.
func TestSlowQUITDoesNotHoldUpSend(t *testing.T) {
	srv := startServer(t, serverConfig{quitDelay: 3 * time.Second})
	m, err := smtpmail.New(inClear(srv.addr, false))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	sent := time.Since(start)
	select {
	case <-srv.quitAnswered:
		t.Fatal("Send returned only after the server answered QUIT")
	default:
	}
	if len(srv.received()) != 1 {
		t.Fatal("the message was not delivered")
	}
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("Send took %v, Close (waiting for a QUIT held %v) %v", sent, srv.cfg.quitDelay, time.Since(start)-sent)
	select {
	case <-srv.quitAnswered:
	default:
		t.Fatal("Close returned while a connection was still waiting for the reply to QUIT")
	}
}

// A Close whose context has ended cuts the background QUITs short.
func TestCloseWithEndedContextAbandonsQUIT(t *testing.T) {
	srv := startServer(t, serverConfig{quitDelay: 3 * time.Second})
	m, err := smtpmail.New(inClear(srv.addr, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	<-srv.quitSeen
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.quitAnswered:
		t.Fatal("Close waited for the reply to QUIT although its context had ended")
	default:
	}
}

// The background QUIT is bounded by the mailer's timeout, so a server that
// never answers it leaves no goroutine behind.
func TestBackgroundQUITIsBoundedByTheTimeout(t *testing.T) {
	srv := startServer(t, serverConfig{quitDelay: time.Hour})
	m, err := smtpmail.New(inClear(srv.addr, false), smtpmail.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	<-srv.quitSeen
	start := time.Now()
	if err := m.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close returned after %v", time.Since(start))
	select {
	case <-srv.quitAnswered:
		t.Fatal("the server answered QUIT; it should still be holding the reply")
	default:
	}
}
