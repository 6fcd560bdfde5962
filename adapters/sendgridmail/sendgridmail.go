// Package sendgridmail sends mail through SendGrid's v3 mail send API
// (github.com/sendgrid/sendgrid-go), retrying with exponential backoff and
// jitter when SendGrid is rate limiting (429, honouring Retry-After) or
// failing (5xx), and never when it rejects the request (other 4xx).
package sendgridmail

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	sgmail "github.com/sendgrid/sendgrid-go/helpers/mail"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/ports"
)

// Module provides the SendGrid mailer as ports.Mailer, configured by the
// Config in the graph (SENDGRID_API_KEY and SENDGRID_HOST); its idle connections are closed on stop.
var Module = fx.Module("sendgridmail",
	fx.Provide(fx.Annotate(newForApp, fx.As(new(ports.Mailer)))),
)

func newForApp(lc fx.Lifecycle, c Config, log *slog.Logger) (*Mailer, error) {
	m, err := New(c.APIKey, c.Host, WithLogger(log))
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(m.Close))
	log.Info("mail is sent through SendGrid", "host", m.host)
	return m, nil
}

// Endpoint is the path of the v3 mail send API below SENDGRID_HOST.
const Endpoint = "/v3/mail/send"

// Defaults for the options below. A registration waits for its e-mail, so
// the whole retry budget is kept well under an HTTP client's patience.
const (
	DefaultAttempts       = 4
	DefaultBaseDelay      = 250 * time.Millisecond
	DefaultMaxDelay       = 4 * time.Second
	DefaultMaxWait        = 10 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

var _ ports.Mailer = (*Mailer)(nil)

// Mailer sends each message with one API request, retried when SendGrid
// says a later attempt may succeed. It is safe for concurrent use.
type Mailer struct {
	apiKey     string
	host       string
	httpClient *http.Client
	attempts   int
	baseDelay  time.Duration
	maxDelay   time.Duration
	maxWait    time.Duration
	wait       func(ctx context.Context, d time.Duration) error
	log        *slog.Logger
}

// Option configures a Mailer.
type Option func(*Mailer)

// WithAttempts sets how many requests one message may take in total (1
// disables retries).
func WithAttempts(n int) Option {
	return func(m *Mailer) { m.attempts = max(n, 1) }
}

// WithBackoff sets the delay before the first retry and the cap on any
// delay; each retry doubles the delay, and a random jitter of up to half of
// it spreads the retries of concurrent senders apart.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(m *Mailer) { m.baseDelay, m.maxDelay = base, maxDelay }
}

// WithMaxWait bounds the total time one message spends waiting between
// attempts, Retry-After included; when SendGrid asks for a longer wait the
// send fails at once with core.ErrUnavailable instead.
func WithMaxWait(d time.Duration) Option {
	return func(m *Mailer) { m.maxWait = d }
}

// WithWait replaces how the mailer waits between attempts; wait must return
// early with ctx.Err() when ctx ends. Tests use it to record delays instead
// of sleeping.
func WithWait(wait func(ctx context.Context, d time.Duration) error) Option {
	return func(m *Mailer) { m.wait = wait }
}

// WithLogger makes the mailer log each retry at Warn level.
func WithLogger(log *slog.Logger) Option {
	return func(m *Mailer) { m.log = log }
}

// New returns a mailer using apiKey against host (https://api.sendgrid.com,
// https://api.eu.sendgrid.com or a test server).
func New(apiKey, host string, opts ...Option) (*Mailer, error) {
	if apiKey == "" {
		return nil, fmt.Errorf("sendgridmail: no API key")
	}
	u, err := url.Parse(host)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sendgridmail: host must be an http or https URL (got %q)", host)
	}
	m := &Mailer{
		apiKey:     apiKey,
		host:       strings.TrimRight(host, "/"),
		httpClient: &http.Client{Timeout: DefaultRequestTimeout},
		attempts:   DefaultAttempts,
		baseDelay:  DefaultBaseDelay,
		maxDelay:   DefaultMaxDelay,
		maxWait:    DefaultMaxWait,
		wait:       sleep,
	}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Close releases the idle connections of the mailer's HTTP client.
func (m *Mailer) Close() {
	m.httpClient.CloseIdleConnections()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send posts msg to the v3 mail send API. Errors: core.ErrUnavailable when
// SendGrid could not be reached or kept answering 429 or 5xx through every
// retry; any other error — a 4xx rejection (with SendGrid's message), a
// malformed address — is permanent. The API key never appears in an error.
func (m *Mailer) Send(ctx context.Context, msg core.Message) error {
	body, err := payload(msg)
	if err != nil {
		return fmt.Errorf("sendgridmail: %w", err)
	}
	req := sendgrid.GetRequest(m.apiKey, Endpoint, m.host)
	req.Method = rest.Post
	req.Body = body
	client := &rest.Client{HTTPClient: m.httpClient}

	var waited time.Duration
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sendgridmail: send: %w: %w", core.ErrUnavailable, err)
		}
		resp, err := client.SendWithContext(ctx, req)
		var problem string
		var retryAfter time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("sendgridmail: send: %w: %w", core.ErrUnavailable, ctx.Err())
		case err != nil:
			problem = "request failed: " + m.scrub(err.Error())
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			problem = fmt.Sprintf("status %d%s", resp.StatusCode, m.describe(resp.Body))
			retryAfter = parseRetryAfter(http.Header(resp.Headers).Get("Retry-After"), time.Now())
		default:
			return fmt.Errorf("sendgridmail: send rejected: status %d%s", resp.StatusCode, m.describe(resp.Body))
		}

		if attempt >= m.attempts {
			return fmt.Errorf("sendgridmail: send: %w: %s (after %d attempts)", core.ErrUnavailable, problem, attempt)
		}
		delay := max(m.backoff(attempt), retryAfter)
		if waited+delay > m.maxWait {
			return fmt.Errorf("sendgridmail: send: %w: %s; next attempt due in %s, beyond the %s retry budget", core.ErrUnavailable, problem, delay, m.maxWait)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return fmt.Errorf("sendgridmail: send: %w: %s; next attempt due in %s, after the caller's deadline", core.ErrUnavailable, problem, delay)
		}
		if m.log != nil {
			m.log.WarnContext(ctx, "SendGrid send failed, retrying", "problem", problem, "attempt", attempt, "retry_in", delay)
		}
		if err := m.wait(ctx, delay); err != nil {
			return fmt.Errorf("sendgridmail: send: %w: %s; %w", core.ErrUnavailable, problem, err)
		}
		waited += delay
	}
}

// backoff is the delay before retry number attempt (1 for the first):
// exponential, capped, with jitter in its upper half.
func (m *Mailer) backoff(attempt int) time.Duration {
	d := m.baseDelay << min(attempt-1, 30)
	if d > m.maxDelay || d <= 0 {
		d = m.maxDelay
	}
	half := d / 2
	return half + rand.N(half+1)
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; zero
// when absent or unparseable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// describe turns SendGrid's error body ({"errors":[{"message","field"}]})
// into ": field: message; …", or shows the start of a body it does not
// understand.
func (m *Mailer) describe(body string) string {
	var parsed struct {
		Errors []struct {
			Message string `json:"message"`
			Field   any    `json:"field"`
		} `json:"errors"`
	}
	var parts []string
	if json.Unmarshal([]byte(body), &parsed) == nil {
		for _, e := range parsed.Errors {
			if f, ok := e.Field.(string); ok && f != "" {
				parts = append(parts, f+": "+e.Message)
			} else {
				parts = append(parts, e.Message)
			}
		}
	}
	if len(parts) == 0 {
		body = strings.TrimSpace(body)
		if body == "" {
			return ""
		}
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		parts = []string{body}
	}
	return ": " + m.scrub(email.OneLine(strings.Join(parts, "; ")))
}

func (m *Mailer) scrub(s string) string {
	return strings.ReplaceAll(s, m.apiKey, "[api key]")
}

// payload is the v3 JSON body for msg: from, reply_to, one personalization
// with every recipient, subject, and the content parts (text/plain first,
// text/html when present).
func payload(msg core.Message) ([]byte, error) {
	env, err := email.ParseEnvelope(msg)
	if err != nil {
		return nil, err
	}
	if msg.Text == "" && msg.HTML == "" {
		return nil, fmt.Errorf("message has no body")
	}
	m := sgmail.NewV3Mail()
	m.SetFrom(sgmail.NewEmail(env.From.Name, env.From.Address))
	if env.ReplyTo != nil {
		m.SetReplyTo(sgmail.NewEmail(env.ReplyTo.Name, env.ReplyTo.Address))
	}
	p := sgmail.NewPersonalization()
	for _, to := range env.To {
		p.AddTos(sgmail.NewEmail(to.Name, to.Address))
	}
	m.AddPersonalizations(p)
	m.Subject = email.OneLine(msg.Subject)
	// SendGrid refuses empty content values.
	if msg.Text != "" {
		m.AddContent(sgmail.NewContent("text/plain", msg.Text))
	}
	if msg.HTML != "" {
		m.AddContent(sgmail.NewContent("text/html", msg.HTML))
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return body, nil
}
