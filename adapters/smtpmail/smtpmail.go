// Package smtpmail sends mail through any SMTP server named by SMTP_URL:
// smtp://user:pass@host:port (STARTTLS required; ?starttls=optional or
// ?starttls=off relax that) or smtps://user:pass@host:port (TLS from the
// first byte), with PLAIN or LOGIN authentication and a deadline on the
// whole exchange. Once the server has accepted a message, QUIT is said in
// the background, so a slow goodbye never holds up the caller.
package smtpmail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/ports"
)

// Module provides the SMTP mailer as ports.Mailer, configured by the Config
// in the graph (SMTP_URL);
// on stop it waits for the connections still closing in the background.
var Module = fx.Module("smtpmail",
	fx.Provide(fx.Annotate(newForApp, fx.As(new(ports.Mailer)))),
)

func newForApp(lc fx.Lifecycle, c Config, log *slog.Logger) (*Mailer, error) {
	m, err := New(c.URL, WithLogger(log))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(m.Close))
	log.Info("mail is sent over SMTP", "server", m.addr, "implicit_tls", m.implicitTLS, "starttls", m.starttls.String(), "auth", m.username != "")
	return m, nil
}

// starttlsMode is what an smtp:// URL asks of STARTTLS (its starttls query
// parameter).
type starttlsMode int

const (
	// starttlsRequired refuses to send when the server offers no STARTTLS:
	// anyone on the path could read (and change) the message and its link.
	starttlsRequired starttlsMode = iota
	// starttlsOptional uses STARTTLS when offered and sends in clear otherwise.
	starttlsOptional
	// starttlsOff never tries STARTTLS, for test servers on the loopback.
	starttlsOff
)

func (s starttlsMode) String() string {
	switch s {
	case starttlsOptional:
		return "optional"
	case starttlsOff:
		return "off"
	}
	return "required"
}

// parseStarttls reads the starttls query parameter of an smtp:// URL.
func parseStarttls(rawQuery string, implicitTLS bool) (starttlsMode, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, errors.New("smtpmail: SMTP_URL has a malformed query (value not shown)")
	}
	values, ok := q["starttls"]
	if !ok {
		return starttlsRequired, nil
	}
	if implicitTLS {
		return 0, errors.New("smtpmail: SMTP_URL: starttls applies to smtp:// only; smtps:// is TLS from the first byte")
	}
	if len(values) != 1 {
		return 0, errors.New("smtpmail: SMTP_URL names starttls more than once")
	}
	switch strings.ToLower(values[0]) {
	case "required":
		return starttlsRequired, nil
	case "optional":
		return starttlsOptional, nil
	case "off", "never":
		return starttlsOff, nil
	}
	return 0, fmt.Errorf("smtpmail: SMTP_URL starttls=%q is not one of required, optional, off (or never)", values[0])
}

// DefaultTimeout bounds one send unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// MaxConnections bounds how many connections a Mailer opens at once; further
// sends wait (within their deadline) for a free one, so a burst of
// registrations does not trip the server's per-client connection limit.
const MaxConnections = 8

// localName is the name the mailer introduces itself with (EHLO).
const localName = "localhost"

var _ ports.Mailer = (*Mailer)(nil)

// Mailer delivers each message over its own SMTP connection. It is safe for
// concurrent use; at most a bounded number of connections are open at once.
// Close it on shutdown so the connections still saying QUIT are finished.
type Mailer struct {
	addr        string
	host        string
	implicitTLS bool
	starttls    starttlsMode
	username    string
	password    string
	tlsConfig   *tls.Config
	timeout     time.Duration
	// insecureAuth allows credentials over an unencrypted connection to a
	// host other than the loopback.
	insecureAuth bool
	slots        chan struct{}
	now          func() time.Time
	dialContext  func(ctx context.Context, network, addr string) (net.Conn, error)
	log          *slog.Logger

	// Connections whose message was accepted say QUIT in the background,
	// counted by background; closed (under bgMu) stops new ones once Close
	// waits, and abandonAll cuts them short when Close's context ends.
	bgMu       sync.Mutex
	closed     bool
	background sync.WaitGroup
	abandon    context.Context
	abandonAll context.CancelFunc
}

// Option configures a Mailer.
type Option func(*Mailer)

// WithTLSConfig sets the TLS configuration for STARTTLS and smtps://, e.g. to
// trust a private CA (RootCAs) or — explicitly, never through a setting — to
// skip certificate verification. ServerName defaults to the URL's host.
func WithTLSConfig(c *tls.Config) Option {
	return func(m *Mailer) { m.tlsConfig = c.Clone() }
}

// WithTimeout bounds one send, from connecting to the server's acceptance
// of the message, when the caller's context has no earlier deadline; it
// separately bounds the QUIT said in the background afterwards.
func WithTimeout(d time.Duration) Option {
	return func(m *Mailer) { m.timeout = d }
}

// WithLogger sets where the mailer reports why a send was refused (e.g. a
// server without STARTTLS); slog.Default() otherwise.
func WithLogger(l *slog.Logger) Option {
	return func(m *Mailer) { m.log = l }
}

// WithDialer replaces how TCP connections to the server are opened (a
// proxy, a fixed address for a name); TLS still runs on top of them.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(m *Mailer) { m.dialContext = dial }
}

// WithInsecureAuth allows sending credentials over a connection that is not
// encrypted (a server on a private network without STARTTLS). Without it,
// such a send fails; loopback servers are always allowed.
func WithInsecureAuth() Option {
	return func(m *Mailer) { m.insecureAuth = true }
}

// New returns a mailer for rawURL (smtp:// or smtps://, port 25 or 465 when
// not given). An smtp:// URL requires STARTTLS unless its query says
// starttls=optional (use it when offered) or starttls=off (never try, for
// loopback test servers); any other value is an error. Errors never show the
// URL, which holds the password.
func New(rawURL string, opts ...Option) (*Mailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("smtpmail: SMTP_URL is not a valid URL (value not shown)")
	}
	m := &Mailer{timeout: DefaultTimeout, now: time.Now}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		m.implicitTLS = true
	default:
		return nil, fmt.Errorf("smtpmail: SMTP_URL scheme must be smtp or smtps (got %q)", u.Scheme)
	}
	if m.starttls, err = parseStarttls(u.RawQuery, m.implicitTLS); err != nil {
		return nil, err
	}
	m.host = u.Hostname()
	if m.host == "" {
		return nil, errors.New("smtpmail: SMTP_URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = map[bool]string{false: "25", true: "465"}[m.implicitTLS]
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil {
		m.username = u.User.Username()
		m.password, _ = u.User.Password()
	}
	for _, o := range opts {
		o(m)
	}
	if m.dialContext == nil {
		m.dialContext = (&net.Dialer{}).DialContext
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.abandon, m.abandonAll = context.WithCancel(context.Background())
	m.slots = make(chan struct{}, MaxConnections)
	if m.tlsConfig == nil {
		m.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if m.tlsConfig.ServerName == "" {
		m.tlsConfig.ServerName = m.host
	}
	return m, nil
}

// Send delivers msg: the envelope sender is the From address, the
// recipients are the To addresses. It returns as soon as the server has
// accepted the message; QUIT follows in the background. Errors:
// core.ErrUnavailable for network failures, timeouts and 4xx replies (a
// retry may succeed); any other error — a 5xx reply, a malformed address, an
// untrusted certificate, refused credentials, no STARTTLS where it is
// required — is permanent.
func (m *Mailer) Send(ctx context.Context, msg core.Message) error {
	env, err := email.ParseEnvelope(msg)
	if err != nil {
		return fmt.Errorf("smtpmail: %w", err)
	}
	raw, err := email.Render(msg, m.now(), "")
	if err != nil {
		return fmt.Errorf("smtpmail: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("smtpmail: wait for a free connection: %w: %w", core.ErrUnavailable, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		<-m.slots
		return fmt.Errorf("smtpmail: send: %w: %w", core.ErrUnavailable, err)
	}

	conn, err := m.dial(ctx)
	if err != nil {
		<-m.slots
		return m.fail(ctx, "connect to "+m.addr, err)
	}
	// The deadline bounds every read and write; closing on cancellation
	// unblocks them at once when the caller gives up.
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, err := m.deliver(ctx, conn, env, raw)
	if err != nil {
		stop()
		_ = conn.Close()
		<-m.slots
		return err
	}
	// The message is accepted: from here on nothing the server says
	// changes that. The connection (and its slot) is handed to the
	// background unless cancellation already closed it.
	if !stop() {
		<-m.slots
		return nil
	}
	m.quitLater(c, conn)
	return nil
}

// deliver runs the exchange on conn up to the server's reply to the
// message. On error the caller closes conn.
func (m *Mailer) deliver(ctx context.Context, conn net.Conn, env email.Envelope, raw []byte) (*smtp.Client, error) {
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return nil, m.fail(ctx, "greeting", err)
	}
	// Said explicitly so that a failing EHLO is reported as such, not as a
	// missing extension.
	if err := c.Hello(localName); err != nil {
		return nil, m.fail(ctx, "EHLO", err)
	}
	if !m.implicitTLS && m.starttls != starttlsOff {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(m.tlsConfig); err != nil {
				return nil, m.fail(ctx, "STARTTLS", err)
			}
		} else if m.starttls == starttlsRequired {
			m.log.ErrorContext(ctx, "SMTP server offers no STARTTLS: message not sent in clear (SMTP_URL ?starttls=optional would allow it)", "server", m.addr)
			return nil, m.fail(ctx, "STARTTLS", &permanentError{"the server offers no STARTTLS, which SMTP_URL requires"})
		}
	}
	if m.username != "" {
		if err := m.auth(c); err != nil {
			return nil, m.fail(ctx, "AUTH", err)
		}
	}
	if err := c.Mail(env.From.Address); err != nil {
		return nil, m.fail(ctx, "MAIL FROM", err)
	}
	for _, to := range env.To {
		if err := c.Rcpt(to.Address); err != nil {
			return nil, m.fail(ctx, "RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return nil, m.fail(ctx, "DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		return nil, m.fail(ctx, "DATA", err)
	}
	// Close reads the server's verdict on the message: from here on, a nil
	// error means the server took responsibility for it.
	if err := w.Close(); err != nil {
		return nil, m.fail(ctx, "end of DATA", err)
	}
	return c, nil
}

// quitLater says QUIT on an accepted message's connection and closes it,
// off the caller's path: a server slow to say goodbye must not hold up a
// registration. The connection keeps its slot until it is closed, so the
// bound on open connections holds. After Close, QUIT is said in place.
func (m *Mailer) quitLater(c *smtp.Client, conn net.Conn) {
	quit := func() {
		defer func() { <-m.slots }()
		// A fresh deadline: the send's own may be nearly spent.
		_ = conn.SetDeadline(time.Now().Add(m.timeout))
		stop := context.AfterFunc(m.abandon, func() { _ = conn.Close() })
		defer stop()
		// The message is accepted already; a failing QUIT changes nothing.
		_ = c.Quit()
		_ = c.Close()
	}
	m.bgMu.Lock()
	if m.closed {
		m.bgMu.Unlock()
		quit()
		return
	}
	m.background.Add(1)
	m.bgMu.Unlock()
	go func() {
		defer m.background.Done()
		quit()
	}()
}

// Close waits for the connections still saying QUIT in the background
// (each bounded by the mailer's timeout); when ctx ends first it closes
// them at once — their messages were accepted already, so nothing is lost.
// Sends after Close say QUIT before they return.
func (m *Mailer) Close(ctx context.Context) error {
	m.bgMu.Lock()
	m.closed = true
	m.bgMu.Unlock()
	done := make(chan struct{})
	go func() {
		m.background.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		m.abandonAll()
		<-done
	}
	return nil
}

func (m *Mailer) dial(ctx context.Context) (net.Conn, error) {
	conn, err := m.dialContext(ctx, "tcp", m.addr)
	if err != nil || !m.implicitTLS {
		return conn, err
	}
	tc := tls.Client(conn, m.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tc, nil
}

// permanentError marks failures no retry can fix (configuration, refused
// credentials) that do not come with an SMTP reply code.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func (m *Mailer) auth(c *smtp.Client) error {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return &permanentError{"SMTP_URL has credentials but the server offers no AUTH"}
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	_, encrypted := c.TLSConnectionState()
	if !encrypted && !m.insecureAuth && !isLoopback(m.host) {
		return &permanentError{"refusing to send credentials over an unencrypted connection (the server offers no STARTTLS)"}
	}
	switch {
	case slices.Contains(offered, "PLAIN"):
		return c.Auth(plainAuth{m.username, m.password})
	case slices.Contains(offered, "LOGIN"):
		return c.Auth(&loginAuth{username: m.username, password: m.password})
	default:
		return &permanentError{"the server offers neither PLAIN nor LOGIN authentication (offers " + mechs + ")"}
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fail wraps err with the stage it happened in and says whether a retry can
// help; the password is never part of the result.
func (m *Mailer) fail(ctx context.Context, stage string, err error) error {
	var reply *textproto.Error
	var perm *permanentError
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	var out error
	switch {
	case errors.As(err, &reply) && reply.Code >= 500:
		out = fmt.Errorf("smtpmail: %s: server refused: %d %s", stage, reply.Code, m.scrub(reply.Msg))
	case errors.As(err, &reply):
		out = fmt.Errorf("smtpmail: %s: %w: server replied %d %s", stage, core.ErrUnavailable, reply.Code, m.scrub(reply.Msg))
	case errors.As(err, &perm):
		out = fmt.Errorf("smtpmail: %s: %s", stage, m.scrub(perm.msg))
	case ctx.Err() != nil:
		out = fmt.Errorf("smtpmail: %s: %w: %w", stage, core.ErrUnavailable, ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's deadline is the context's; it can fire a moment
		// before the context notices.
		out = fmt.Errorf("smtpmail: %s: %w: %w", stage, core.ErrUnavailable, context.DeadlineExceeded)
	case errors.As(err, &certErr), errors.As(err, &unknownAuthority), errors.As(err, &hostnameErr):
		out = fmt.Errorf("smtpmail: %s: server certificate not trusted: %s", stage, m.scrub(err.Error()))
	default:
		out = fmt.Errorf("smtpmail: %s: %w: %s", stage, core.ErrUnavailable, m.scrub(err.Error()))
	}
	return out
}

func (m *Mailer) scrub(s string) string {
	if m.password == "" {
		return s
	}
	return strings.ReplaceAll(s, m.password, "[password]")
}

// plainAuth is SASL PLAIN (RFC 4616). net/smtp's own refuses any
// unencrypted connection to a non-loopback host; Mailer.auth applies that
// policy itself so that WithInsecureAuth can relax it.
type plainAuth struct{ username, password string }

func (a plainAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.username + "\x00" + a.password), nil
}

func (a plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected PLAIN challenge")
	}
	return nil, nil
}

// loginAuth is the LOGIN mechanism, for servers that offer nothing else:
// the server asks for the username, then the password.
type loginAuth struct {
	username, password string
	step               int
}

func (a *loginAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch a.step {
	case 1:
		return []byte(a.username), nil
	case 2:
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected LOGIN challenge")
}
