package email_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/templates"
)

// accountFlowsComposer has every set, each overridden by its directory in
// dirs ("" keeps the built-in one): reset, register-email, email-changed.
func accountFlowsComposer(t *testing.T, dirs ...string) (*email.Composer, error) {
	t.Helper()
	for len(dirs) < 3 {
		dirs = append(dirs, "")
	}
	return email.NewComposer(templates.Register, email.Dir{}, from, replyTo,
		email.WithResetPasswordTemplates(templates.ResetPassword, dirOf(dirs[0])),
		email.WithRegisterEmailTemplates(templates.RegisterEmail, dirOf(dirs[1])),
		email.WithEmailChangedTemplates(templates.EmailChanged, dirOf(dirs[2])))
}

// Each set's override directory replaces that set only, file by file.
func TestAccountFlowOverridesAreTheirOwn(t *testing.T) {
	reset := overrideDir(t, map[string]string{"subject.txt": "New password for {{.email}}", "body.txt": "Go to {{.verification_url}}\n"})
	changed := overrideDir(t, map[string]string{"body.html": `<p>No longer {{.email}}: <a href="https://example.com/help">help</a></p>`})
	c, err := accountFlowsComposer(t, reset, "", changed)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := c.ComposeResetPassword(ctx, ann, "https://app/reset/?user_id=7")
	if err != nil || m.Subject != "New password for ann@example.com" || m.Text != "Go to https://app/reset/?user_id=7\n" || m.HTML != "" {
		t.Fatalf("reset override: %+v, %v", m, err)
	}
	m, err = c.ComposeRegisterEmail(ctx, ann, "new@example.org", "https://app/verify-email/?user_id=7", false)
	if err != nil || m.Subject != "Please verify new e-mail" || m.To[0] != "new@example.org" {
		t.Fatalf("register-email kept its built-in set: %+v, %v", m, err)
	}
	m, err = c.ComposeEmailChanged(ctx, ann, "old@example.com")
	if err != nil || m.Subject != "Your e-mail address was changed" || m.To[0] != "old@example.com" ||
		!strings.Contains(m.Text, "No longer old@example.com: help (https://example.com/help)") {
		t.Fatalf("email-changed HTML-only override: %+v, %v", m, err)
	}
	if v := compose(t, newComposer(t, ""), ann); v.Subject != "Please verify your account" {
		t.Errorf("the verification subject changed to %q", v.Subject)
	}
}

// A template of these sets that fails to parse or names a key its context
// lacks stops start-up, naming the file.
func TestBrokenAccountFlowTemplateStopsStartUp(t *testing.T) {
	dir := overrideDir(t, map[string]string{"body.txt": "{{.verification_url}} {{.no_such_key}}\n"})
	if _, err := accountFlowsComposer(t, "", dir); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("NewComposer error = %v", err)
	}
	dir = overrideDir(t, map[string]string{"subject.txt": "{{.email"})
	if _, err := accountFlowsComposer(t, dir); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "subject.txt")) {
		t.Fatalf("NewComposer error = %v, want one naming the file", err)
	}
	dir = overrideDir(t, map[string]string{"body.txt": "{{.verification_url}}\n"})
	if _, err := accountFlowsComposer(t, "", "", dir); err == nil || !strings.Contains(err.Error(), "verification_url") {
		t.Fatalf("NewComposer error = %v; the notice to the old address has no link", err)
	}
}

// A composer built without these sets says so instead of sending nothing.
func TestAccountFlowsWithoutTheirTemplatesAreAnError(t *testing.T) {
	c := newComposer(t, "")
	ctx := context.Background()
	if _, err := c.ComposeResetPassword(ctx, ann, "https://app/"); err == nil {
		t.Error("ComposeResetPassword without its templates returned no error")
	}
	if _, err := c.ComposeRegisterEmail(ctx, ann, "new@example.org", "https://app/", false); err == nil {
		t.Error("ComposeRegisterEmail without its templates returned no error")
	}
	if _, err := c.ComposeEmailChanged(ctx, ann, "old@example.com"); err == nil {
		t.Error("ComposeEmailChanged without its templates returned no error")
	}
}

func TestDjangoEscape(t *testing.T) {
	if got := email.DjangoEscape(`<a href="x">o'b & c</a>`); got != "&lt;a href=&quot;x&quot;&gt;o&#x27;b &amp; c&lt;/a&gt;" {
		t.Fatalf("DjangoEscape = %q", got)
	}
}
