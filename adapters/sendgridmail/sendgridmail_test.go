package sendgridmail_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/sendgridmail"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

const apiKey = "SG.test-key.0123456789abcdefghijklmnopqrstuvwxyz"

// reply is one scripted answer of the fake API.
type reply struct {
	status int
	header map[string]string
	body   string
}

// request is what the fake API received.
type request struct {
	method, path, auth, contentType string
	body                            []byte
}

// fakeSendGrid is a local HTTP server speaking the v3 mail send API: it
// records every request and answers from a script (the last reply repeats).
type fakeSendGrid struct {
	*httptest.Server
	mu       sync.Mutex
	script   []reply
	requests []request
}

func newFake(t *testing.T, script ...reply) *fakeSendGrid {
	t.Helper()
	f := &fakeSendGrid{script: script}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		f.mu.Lock()
		f.requests = append(f.requests, request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})
		rep := f.script[min(len(f.requests), len(f.script))-1]
		f.mu.Unlock()
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSendGrid) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// waits records the delays the mailer asked for instead of sleeping.
type waits struct {
	mu sync.Mutex
	ds []time.Duration
}

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.ds = append(w.ds, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.ds...)
}

func newMailer(t *testing.T, f *fakeSendGrid, w *waits, opts ...sendgridmail.Option) *sendgridmail.Mailer {
	t.Helper()
	opts = append([]sendgridmail.Option{sendgridmail.WithWait(w.wait)}, opts...)
	m, err := sendgridmail.New(apiKey, f.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkNoKey(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), apiKey) {
		t.Fatalf("error shows the API key: %v", err)
	}
}

var msg = core.Message{
	From:    "Restreg <noreply@example.com>",
	ReplyTo: "support@example.com",
	To:      []string{"ann@example.com"},
	Subject: "Please verify your account",
	Text:    "Please verify your account by clicking on this link:\n\nhttps://app.example.com/v/?user_id=1&timestamp=2\n\n",
	HTML:    `<a href="https://app.example.com/v/?user_id=1&amp;timestamp=2">verify</a>`,
}

// v3 mirrors the parts of the v3 payload restreg sends.
type v3 struct {
	From             v3Email  `json:"from"`
	ReplyTo          *v3Email `json:"reply_to"`
	Subject          string   `json:"subject"`
	Personalizations []struct {
		To []v3Email `json:"to"`
	} `json:"personalizations"`
	Content []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"content"`
}

type v3Email struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (e v3Email) String() string { return (&mail.Address{Name: e.Name, Address: e.Email}).String() }

func TestMailerContract(t *testing.T) {
	f := newFake(t, reply{status: http.StatusAccepted})
	m := newMailer(t, f, &waits{})
	porttest.Mailer(t, m, func(t *testing.T) []porttest.ReceivedMail {
		var out []porttest.ReceivedMail
		for _, r := range f.received() {
			var p v3
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("payload is not JSON: %v", err)
			}
			if len(p.Personalizations) != 1 {
				t.Fatalf("%d personalizations, want 1", len(p.Personalizations))
			}
			got := porttest.ReceivedMail{From: p.From.String(), Subject: p.Subject}
			if p.ReplyTo != nil {
				got.ReplyTo = p.ReplyTo.String()
			}
			for _, to := range p.Personalizations[0].To {
				got.To = append(got.To, to.String())
			}
			for i, c := range p.Content {
				switch {
				case i == 0 && c.Type == "text/plain":
					got.Text = c.Value
				case i == 1 && c.Type == "text/html":
					got.HTML = c.Value
				default:
					t.Fatalf("content %d is %q; want text/plain first, then text/html", i, c.Type)
				}
			}
			out = append(out, got)
		}
		return out
	})
}

func TestRequestIsTheExactV3Payload(t *testing.T) {
	f := newFake(t, reply{status: http.StatusAccepted})
	if err := newMailer(t, f, &waits{}).Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	reqs := f.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/v3/mail/send" {
		t.Errorf("request %s %s, want POST /v3/mail/send", r.method, r.path)
	}
	if r.auth != "Bearer "+apiKey {
		t.Errorf("Authorization = %q, want the bearer API key", r.auth)
	}
	if r.contentType != "application/json" {
		t.Errorf("Content-Type = %q", r.contentType)
	}
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"from":     map[string]any{"name": "Restreg", "email": "noreply@example.com"},
		"reply_to": map[string]any{"email": "support@example.com"},
		"subject":  "Please verify your account",
		"personalizations": []any{
			map[string]any{"to": []any{map[string]any{"email": "ann@example.com"}}},
		},
		"content": []any{
			map[string]any{"type": "text/plain", "value": msg.Text},
			map[string]any{"type": "text/html", "value": msg.HTML},
		},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		wantJSON, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("payload:\n%s\nwant:\n%s", gotJSON, wantJSON)
	}
}

func TestTextOnlyMessageHasOneContentPart(t *testing.T) {
	f := newFake(t, reply{status: http.StatusAccepted})
	textOnly := msg
	textOnly.HTML, textOnly.ReplyTo = "", ""
	if err := newMailer(t, f, &waits{}).Send(t.Context(), textOnly); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(f.received()[0].body, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := got["reply_to"]; ok {
		t.Errorf("reply_to sent for a message without one")
	}
	if want := []any{map[string]any{"type": "text/plain", "value": msg.Text}}; !reflect.DeepEqual(got["content"], want) {
		t.Fatalf("content = %v, want %v", got["content"], want)
	}
}

func TestClientErrorsArePermanentAndNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   []string
	}{
		{http.StatusBadRequest, `{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs"}]}`,
			[]string{"400", "personalizations.0.to.0.email: Does not contain a valid address."}},
		{http.StatusUnauthorized, `{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}`,
			[]string{"401", "authorization grant is invalid"}},
		// A server echoing the key must not leak it through the error.
		{http.StatusForbidden, `{"errors":[{"message":"key ` + apiKey + ` lacks mail.send"}]}`,
			[]string{"403", "lacks mail.send"}},
		{http.StatusRequestEntityTooLarge, "payload too large", []string{"413", "payload too large"}},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			f := newFake(t, reply{status: tc.status, body: tc.body}, reply{status: http.StatusAccepted})
			w := &waits{}
			err := newMailer(t, f, w).Send(t.Context(), msg)
			if err == nil || errors.Is(err, core.ErrUnavailable) {
				t.Fatalf("Send = %v, want a permanent error", err)
			}
			checkNoKey(t, err)
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if n := len(f.received()); n != 1 || len(w.all()) != 0 {
				t.Fatalf("%d requests and waits %v, want 1 request and no retry", n, w.all())
			}
		})
	}
}

func TestRateLimitIsRetriedAfterRetryAfter(t *testing.T) {
	f := newFake(t,
		reply{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "2"}, body: `{"errors":[{"message":"too many requests"}]}`},
		reply{status: http.StatusAccepted},
	)
	w := &waits{}
	if err := newMailer(t, f, w).Send(t.Context(), msg); err != nil {
		t.Fatalf("Send = %v, want success on the retry", err)
	}
	if n := len(f.received()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	if ds := w.all(); len(ds) != 1 || ds[0] < 2*time.Second {
		t.Fatalf("waits %v, want one of at least the 2s Retry-After", ds)
	}
	first, second := f.received()[0].body, f.received()[1].body
	if string(first) != string(second) {
		t.Fatal("the retry sent a different payload")
	}
}

func TestServerErrorsAreRetriedThenUnavailable(t *testing.T) {
	f := newFake(t, reply{status: http.StatusInternalServerError, body: "oops"})
	w := &waits{}
	m := newMailer(t, f, w, sendgridmail.WithAttempts(4), sendgridmail.WithBackoff(100*time.Millisecond, 300*time.Millisecond))
	err := m.Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("Send = %v, want core.ErrUnavailable mentioning 500", err)
	}
	checkNoKey(t, err)
	if n := len(f.received()); n != 4 {
		t.Fatalf("%d requests, want 4 attempts", n)
	}
	// Backoff doubles from 100ms, capped at 300ms, jittered within the upper half.
	ds := w.all()
	bounds := [][2]time.Duration{{50, 100}, {100, 200}, {150, 300}}
	if len(ds) != len(bounds) {
		t.Fatalf("waits %v, want %d", ds, len(bounds))
	}
	for i, d := range ds {
		if lo, hi := bounds[i][0]*time.Millisecond, bounds[i][1]*time.Millisecond; d < lo || d > hi {
			t.Errorf("wait %d = %v, want within [%v, %v]", i+1, d, lo, hi)
		}
	}
}

func TestRetryAfterBeyondTheBudgetFailsAtOnce(t *testing.T) {
	f := newFake(t, reply{status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "3600"}})
	w := &waits{}
	err := newMailer(t, f, w, sendgridmail.WithMaxWait(5*time.Second)).Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Send = %v, want core.ErrUnavailable", err)
	}
	if len(w.all()) != 0 || len(f.received()) != 1 {
		t.Fatalf("waited %v over %d requests; a wait beyond the budget must not start", w.all(), len(f.received()))
	}
}

func TestUnreachableHostIsUnavailable(t *testing.T) {
	f := newFake(t, reply{status: http.StatusAccepted})
	f.Close()
	w := &waits{}
	err := newMailer(t, f, w, sendgridmail.WithAttempts(2)).Send(t.Context(), msg)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Send = %v, want core.ErrUnavailable", err)
	}
	checkNoKey(t, err)
	if len(w.all()) != 1 {
		t.Fatalf("waits %v, want one retry of the failed connection", w.all())
	}
}

func TestCancellationDuringBackoffStopsRetrying(t *testing.T) {
	f := newFake(t, reply{status: http.StatusServiceUnavailable})
	m, err := sendgridmail.New(apiKey, f.URL, sendgridmail.WithBackoff(time.Hour, time.Hour), sendgridmail.WithMaxWait(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	err = m.Send(ctx, msg)
	if !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want core.ErrUnavailable ending with the cancelled context", err)
	}
	if n := len(f.received()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestNewValidatesItsSettings(t *testing.T) {
	if _, err := sendgridmail.New("", "https://api.sendgrid.com"); err == nil {
		t.Error("New accepted an empty API key")
	}
	_, err := sendgridmail.New(apiKey, "api.sendgrid.com")
	if err == nil {
		t.Error("New accepted a host without scheme")
	}
	checkNoKey(t, err)
}

func TestModuleUsesSettingsAndStops(t *testing.T) {
	f := newFake(t, reply{status: http.StatusAccepted})
	s := sendgridmail.Config{APIKey: apiKey, Host: f.URL + "/"}
	var mailer ports.Mailer
	app := fx.New(fx.NopLogger,
		fx.Supply(s, slog.New(slog.NewTextHandler(io.Discard, nil))),
		sendgridmail.Module,
		fx.Populate(&mailer),
	)
	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := mailer.Send(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if reqs := f.received(); len(reqs) != 1 || reqs[0].path != "/v3/mail/send" || reqs[0].auth != "Bearer "+apiKey {
		t.Fatalf("requests %+v, want one authenticated POST to /v3/mail/send", reqs)
	}
}
