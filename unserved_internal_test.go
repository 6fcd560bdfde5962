package restreg

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
)

// A flow switched on without its URL is not served; start-up says once,
// in one line each, which setting serves it.
func TestStartUpNamesTheSettingAnUnservedFlowLacks(t *testing.T) {
	lines := func(s core.Settings) []string {
		var buf bytes.Buffer
		logUnservedFlows(s, slog.New(slog.NewTextHandler(&buf, nil)))
		return strings.FieldsFunc(buf.String(), func(r rune) bool { return r == '\n' })
	}
	got := lines(core.DefaultSettings())
	if len(got) != 2 || !strings.Contains(got[0], "set RESET_PASSWORD_VERIFICATION_URL") || !strings.Contains(got[1], "set REGISTER_EMAIL_VERIFICATION_URL") {
		t.Fatalf("defaults logged %q", got)
	}
	s := core.DefaultSettings()
	s.ResetPasswordVerificationURL = "https://app.example.com/reset-password/"
	s.RegisterEmailVerificationURL = "https://app.example.com/verify-email/"
	if got := lines(s); len(got) != 0 {
		t.Fatalf("served flows logged %q", got)
	}
	s = core.DefaultSettings()
	s.ResetPasswordVerificationEnabled = false
	s.RegisterEmailVerificationEnabled = false
	if got := lines(s); len(got) != 0 {
		t.Fatalf("flows switched off on purpose logged %q", got)
	}
}
