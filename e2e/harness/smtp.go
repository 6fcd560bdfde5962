package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/onsi/ginkgo/v2"
)

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) in the test
// process that keeps every message it accepts, for MAIL_BACKEND=smtp. It can
// be stopped and started again on the same address to play an outage.
type SMTPServer struct {
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	listener net.Listener
	done     chan struct{}
	messages []*Mail
	bad      []error
	// hold, when set, is called with each message's content before it is
	// accepted or refused (see Hold).
	hold func(accept func()) error
}

// Hold makes the server call f for each message once its content arrived
// and before the reply goes out: f may accept it (keep it in Messages) by
// calling accept, block to play a server that hangs, or do anything else
// while the client waits for the reply; the error f returns is the reply
// (nil: 250 OK). Hold(nil) ends it.
func (s *SMTPServer) Hold(f func(accept func()) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = f
}

// StartSMTP starts an SMTP server on a free port of 127.0.0.1 and stops it
// when the current spec or container ends.
func StartSMTP() *SMTPServer {
	ginkgo.GinkgoHelper()
	s := &SMTPServer{addr: "127.0.0.1:0"}
	if err := s.Start(); err != nil {
		ginkgo.Fail("start SMTP server: " + err.Error())
	}
	ginkgo.DeferCleanup(s.Stop)
	return s
}

// URL is the SMTP_URL that reaches this server; it offers no STARTTLS, so
// the URL opts out of it explicitly (loopback only).
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr() + "?starttls=off" }

// Addr is the host:port the server listens on (or listened on, when stopped).
func (s *SMTPServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Start listens (again) on the server's address.
func (s *SMTPServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("already running")
	}
	var l net.Listener
	var err error
	// The port of a server stopped a moment ago can take a little while to
	// be free again.
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.addr = l.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{server: s}, nil
	}))
	srv.Domain = "mail.example.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.EnableSMTPUTF8 = true
	s.srv, s.listener = srv, l
	done := make(chan struct{})
	s.done = done
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	return nil
}

// Stop closes the listener and every connection; the address stays known so
// Start can listen on it again.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, l, done := s.srv, s.listener, s.done
	s.srv, s.listener = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	// Close may run before Serve registered the listener with the server.
	_ = l.Close()
	<-done
}

// Messages implements Mailbox; a message that could not be parsed is an error.
func (s *SMTPServer) Messages() ([]*Mail, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) > 0 {
		return nil, errors.Join(s.bad...)
	}
	return append([]*Mail(nil), s.messages...), nil
}

type smtpSession struct {
	server *SMTPServer
	from   string
	to     []string
}

func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}

func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	accept := func() {
		m, err := ParseMail(raw)
		x.server.mu.Lock()
		defer x.server.mu.Unlock()
		if err != nil {
			x.server.bad = append(x.server.bad, fmt.Errorf("message by SMTP from %s: %w", x.from, err))
			return
		}
		m.EnvelopeFrom, m.EnvelopeTo = x.from, append([]string(nil), x.to...)
		x.server.messages = append(x.server.messages, m)
	}
	x.server.mu.Lock()
	hold := x.server.hold
	x.server.mu.Unlock()
	if hold != nil {
		return hold(accept)
	}
	accept()
	return nil
}

func (x *smtpSession) Reset() {
	x.from, x.to = "", nil
}

func (x *smtpSession) Logout() error { return nil }
