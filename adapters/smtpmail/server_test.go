package smtpmail_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a self-signed certificate for 127.0.0.1, localhost and
// mail.example.test, and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "restreg test SMTP server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost", "mail.example.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// delivery is one message as the server accepted it.
type delivery struct {
	from string
	to   []string
	data []byte
	tls  bool
	user string
}

// serverConfig shapes the test server's behaviour.
type serverConfig struct {
	// tls enables STARTTLS (or, with implicitTLS, TLS from the first byte).
	tls         bool
	implicitTLS bool
	// mechs are the AUTH mechanisms offered (after TLS when tls is set);
	// users maps username to password, and authentication is required
	// when it is not empty.
	mechs []string
	users map[string]string
	// allowInsecureAuth offers AUTH without TLS.
	allowInsecureAuth bool
	// rcptErr, when set, answers every RCPT TO.
	rcptErr error
	// quitDelay, when set, holds the reply to QUIT back that long (without
	// TLS only: the delay is applied to the bytes on the wire).
	quitDelay time.Duration
}

// mailServer is a real SMTP server (github.com/emersion/go-smtp) listening
// on 127.0.0.1 that keeps what it accepts.
type mailServer struct {
	addr string
	pool *x509.CertPool
	cfg  serverConfig

	mu         sync.Mutex
	deliveries []delivery
	authTries  int

	// quitSeen is closed when the server starts answering a QUIT,
	// quitAnswered just before the answer is written (after quitDelay).
	quitSeen, quitAnswered chan struct{}
	seenOnce, answerOnce   sync.Once
	stopping               chan struct{}
}

func startServer(t *testing.T, cfg serverConfig) *mailServer {
	t.Helper()
	cert, pool := testCert(t)
	s := &mailServer{pool: pool, cfg: cfg, quitSeen: make(chan struct{}), quitAnswered: make(chan struct{}), stopping: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{srv: s, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = testLogger{t}
	srv.AllowInsecureAuth = cfg.allowInsecureAuth
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.implicitTLS:
		ln = tls.NewListener(ln, tlsConfig)
	case cfg.tls:
		srv.TLSConfig = tlsConfig
	}
	if cfg.quitDelay > 0 {
		ln = slowQuitListener{Listener: ln, srv: s}
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("SMTP server: %v", err)
		}
	}()
	t.Cleanup(func() {
		close(s.stopping)
		_ = srv.Close()
		<-done
	})
	return s
}

func (s *mailServer) received() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.deliveries...)
}

func (s *mailServer) authAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authTries
}

// slowQuitListener hands go-smtp connections whose reply to QUIT (the
// only "221" reply) is held back by the server's quitDelay.
type slowQuitListener struct {
	net.Listener
	srv *mailServer
}

func (l slowQuitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return slowQuitConn{Conn: c, srv: l.srv}, nil
}

type slowQuitConn struct {
	net.Conn
	srv *mailServer
}

func (c slowQuitConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("221 ")) {
		s := c.srv
		s.seenOnce.Do(func() { close(s.quitSeen) })
		timer := time.NewTimer(s.cfg.quitDelay)
		select {
		case <-timer.C:
		case <-s.stopping:
		}
		timer.Stop()
		s.answerOnce.Do(func() { close(s.quitAnswered) })
	}
	return c.Conn.Write(b)
}

type session struct {
	srv  *mailServer
	tls  bool
	user string
	cur  delivery
}

func (s *session) AuthMechanisms() []string { return s.srv.cfg.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.authTries++
	s.srv.mu.Unlock()
	check := func(username, password string) error {
		if want, ok := s.srv.cfg.users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return smtp.ErrAuthFailed
			}
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(s.srv.cfg.users) > 0 && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = delivery{from: from, tls: s.tls, user: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.cfg.rcptErr != nil {
		return s.srv.cfg.rcptErr
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	s.srv.mu.Lock()
	s.srv.deliveries = append(s.srv.deliveries, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = delivery{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of the LOGIN mechanism, which go-sasl does
// not provide.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	case 3:
		if err := l.check(l.username, string(response)); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, v ...any) { l.t.Logf("SMTP server: "+format, v...) }
func (l testLogger) Println(v ...any)               { l.t.Log(append([]any{"SMTP server:"}, v...)...) }
