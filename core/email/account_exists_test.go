package email_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/templates"
)

func newExistsComposer(t *testing.T, dir string) *email.Composer {
	t.Helper()
	c, err := email.NewComposer(templates.Register, email.Dir{}, from, replyTo, email.WithAccountExistsTemplates(templates.AccountExists, dirOf(dir)))
	if err != nil {
		t.Fatalf("NewComposer: %v", err)
	}
	return c
}

func TestAccountExistsNoticeGoesToTheOwnerWithoutALink(t *testing.T) {
	msg, err := newExistsComposer(t, "").ComposeAccountExists(context.Background(), ann)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Someone tried to register with your e-mail address" {
		t.Errorf("subject = %q", msg.Subject)
	}
	if len(msg.To) != 1 || msg.To[0] != ann.Email || msg.From != from || msg.ReplyTo != replyTo {
		t.Errorf("addresses To %q From %q Reply-To %q", msg.To, msg.From, msg.ReplyTo)
	}
	for part, body := range map[string]string{"text": msg.Text, "HTML": msg.HTML} {
		if !strings.Contains(body, ann.Email) || !strings.Contains(body, "no new account was created") {
			t.Errorf("%s part:\n%s", part, body)
		}
		if strings.Contains(body, "verify-user") || strings.Contains(body, "href") {
			t.Errorf("%s part carries a link:\n%s", part, body)
		}
	}
}

// The built-in set shows no user fields; a custom one may, escaped.
func TestAccountExistsHTMLEscapesUserFields(t *testing.T) {
	u := ann
	u.Username = `<img src=x onerror=alert(1)>`
	dir := overrideDir(t, map[string]string{"body.html": `<p>Your account {{.user.username}} has this address.</p>`})
	msg, err := newExistsComposer(t, dir).ComposeAccountExists(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.HTML, "<img") {
		t.Fatalf("username reached the HTML unescaped:\n%s", msg.HTML)
	}
	if !strings.Contains(msg.HTML, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Fatalf("username is not shown escaped:\n%s", msg.HTML)
	}
}

// The override directory of one set changes that set only.
func TestAccountExistsOverrideIsItsOwn(t *testing.T) {
	dir := overrideDir(t, map[string]string{"subject.txt": "Already registered, {{.user.username}}?", "body.txt": "Your address {{.email}} has an account.\n"})
	c := newExistsComposer(t, dir)
	msg, err := c.ComposeAccountExists(context.Background(), ann)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Already registered, ann?" || msg.Text != "Your address ann@example.com has an account.\n" || msg.HTML != "" {
		t.Errorf("override not applied: %+v", msg)
	}
	if v := compose(t, c, ann); v.Subject != "Please verify your account" {
		t.Errorf("the verification subject changed to %q", v.Subject)
	}
}

func TestBrokenAccountExistsTemplateStopsStartUp(t *testing.T) {
	dir := overrideDir(t, map[string]string{"body.txt": "Hello {{.verification_url}}\n"})
	_, err := email.NewComposer(templates.Register, email.Dir{}, from, replyTo, email.WithAccountExistsTemplates(templates.AccountExists, dirOf(dir)))
	if err == nil || !strings.Contains(err.Error(), "verification_url") {
		t.Fatalf("NewComposer error = %v; the notice has no link, a template using one must stop start-up", err)
	}
	dir = overrideDir(t, map[string]string{"subject.txt": "{{.user.username"})
	_, err = email.NewComposer(templates.Register, email.Dir{}, from, replyTo, email.WithAccountExistsTemplates(templates.AccountExists, dirOf(dir)))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "subject.txt")) {
		t.Fatalf("NewComposer error = %v, want one naming the file", err)
	}
}

func TestAccountExistsWithoutItsTemplatesIsAnError(t *testing.T) {
	if _, err := newComposer(t, "").ComposeAccountExists(context.Background(), core.PublicUser{Email: "a@example.com"}); err == nil {
		t.Fatal("ComposeAccountExists without its templates returned no error")
	}
}
