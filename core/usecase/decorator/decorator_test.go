package decorator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
)

// secretInput stands for a use case's input: it carries a password.
type secretInput struct{ Password string }

const secret = "hunter2-do-not-log"

// logLines decodes the JSON log lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestFailuresAreLoggedAtTheLevelOfTheirKind(t *testing.T) {
	for _, c := range []struct {
		name  string
		err   error
		level string // "" for no line
	}{
		{"success", nil, ""},
		{"outage", fmt.Errorf("send: %w", core.ErrUnavailable), "WARN"},
		{"overload", core.ErrOverloaded, "WARN"},
		{"unexpected", errors.New("driver: checksum mismatch"), "ERROR"},
		{"invalid input", &core.ValidationError{Fields: map[string][]string{"password": {"This field is required."}}}, "DEBUG"},
		{"refusal", core.Detail(core.MsgLoginInvalid), "DEBUG"},
		{"throttled", &core.ThrottledError{Wait: time.Minute}, "DEBUG"},
		{"flow off", core.ErrFlowDisabled, "DEBUG"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := decorator.ApplyDecorators("login", decorator.HandlerFunc[secretInput, string](func(context.Context, secretInput) (string, error) {
				return "result", c.err
			}), log)
			ctx := core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "req-7"})
			res, err := h.Handle(ctx, secretInput{Password: secret})
			if res != "result" || !errors.Is(err, c.err) {
				t.Fatalf("Handle = %q, %v; want the use case's own answer", res, err)
			}
			if strings.Contains(buf.String(), secret) {
				t.Fatalf("the input's password reached the log:\n%s", buf.String())
			}
			lines := logLines(t, &buf)
			if c.level == "" {
				if len(lines) != 0 {
					t.Fatalf("a success was logged:\n%s", buf.String())
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1:\n%s", len(lines), buf.String())
			}
			l := lines[0]
			if l["level"] != c.level || l["use_case"] != "login" || l["request_id"] != "req-7" || l["error"] != c.err.Error() {
				t.Fatalf("log line %v, want level %s, use_case login, request_id req-7 and the error", l, c.level)
			}
		})
	}
}

// A caller that left is no problem of the use case's, whatever the failure
// it caused says.
func TestAFailureAfterTheCallerLeftIsADebugLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := decorator.ApplyDecorators("register", decorator.HandlerFunc[secretInput, struct{}](func(context.Context, secretInput) (struct{}, error) {
		return struct{}{}, errors.New("sqlite: interrupted (9)")
	}), log)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Handle(ctx, secretInput{}); err == nil {
		t.Fatal("the failure was swallowed")
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "DEBUG" {
		t.Fatalf("log %v, want one debug line", lines)
	}
}

func TestActionDecoratorsLogLikeCommandDecorators(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	fail := fmt.Errorf("queue: %w", core.ErrUnavailable)
	var got secretInput
	h := decorator.ApplyActionDecorators("resend_verification", decorator.ActionFunc[secretInput](func(_ context.Context, in secretInput) error {
		got = in
		return fail
	}), log)
	if err := h.Handle(context.Background(), secretInput{Password: secret}); !errors.Is(err, fail) {
		t.Fatalf("Handle = %v, want the action's error", err)
	}
	if got.Password != secret {
		t.Fatalf("the action got %+v, want the input unchanged", got)
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["use_case"] != "resend_verification" {
		t.Fatalf("log %v, want one warning naming resend_verification", lines)
	}
	if strings.Contains(buf.String(), secret) {
		t.Fatal("the input reached the log")
	}
}
