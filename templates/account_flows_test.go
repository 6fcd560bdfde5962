package templates_test

import (
	"context"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/templates"
)

func accountComposer(t *testing.T) *email.Composer {
	t.Helper()
	c, err := email.NewComposer(templates.Register, email.Dir{}, "noreply@example.com", "",
		email.WithResetPasswordTemplates(templates.ResetPassword, email.Dir{}),
		email.WithRegisterEmailTemplates(templates.RegisterEmail, email.Dir{}),
		email.WithEmailChangedTemplates(templates.EmailChanged, email.Dir{}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Users moving from django-rest-registration receive the very same text
// for the reset-password and register-email e-mails (the latter starting
// with a newline, the address HTML-escaped as Django's autoescape does).
func TestAccountFlowTextsAreDjangoRestRegistrationsByteForByte(t *testing.T) {
	c := accountComposer(t)
	ctx := context.Background()
	u := core.PublicUser{ID: "7", Username: "bob", Email: "bob@example.com"}
	reset := "https://frontend-host/reset-password/?user_id=7&timestamp=1764374400&signature=msODtixyO4I2qgZqJ1CwXv497ICK76PpDtjSkTNVqAk"
	m, err := c.ComposeResetPassword(ctx, u, reset)
	if err != nil {
		t.Fatal(err)
	}
	if want := "You can reset your password by clicking on this link:\n\n" + reset + "\n"; m.Text != want || m.Subject != "Reset password link was sent" || m.To[0] != "bob@example.com" {
		t.Fatalf("reset mail = %q %q to %v; want text %q", m.Subject, m.Text, m.To, want)
	}

	const address = "o'brien&co=x@example.com"
	link := "https://frontend-host/verify-email/?user_id=7&email=o%27brien%26co%3Dx%40example.com&timestamp=1700000000&signature=hvAUEjEDk_PsX6dv3JpeKxjUGDJhxHhqo-yyWoFTQjY"
	m, err = c.ComposeRegisterEmail(ctx, u, address, link, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "\nYou can verify the email o&#x27;brien&amp;co=x@example.com by clicking on this link:\n\n" + link + "\n\n"
	if m.Text != want || m.Subject != "Please verify new e-mail" || m.To[0] != address {
		t.Fatalf("register-email mail = %q %q to %v; want text %q", m.Subject, m.Text, m.To, want)
	}
	if !strings.Contains(m.HTML, `href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
		t.Fatalf("HTML part lacks the link:\n%s", m.HTML)
	}

	m, err = c.ComposeRegisterEmail(ctx, u, "taken@example.com", "", true)
	if err != nil {
		t.Fatal(err)
	}
	want = "\nYou or someone else requested change to this e-mail for which there is an existing account.\n" +
		"You need to either remove this account assigned to this e-mail or change the e-mail of it.\n\n" +
		"If this wasn't you, please just ignore this email.\n\n"
	if m.Text != want || m.Subject != "Your e-mail is already in use" || strings.Contains(m.HTML, "href") {
		t.Fatalf("already-in-use mail = %q %q; want text %q and no link", m.Subject, m.Text, want)
	}
}

// The notice goes to the old address, names it, and carries no link (the
// old address may no longer be the owner's).
func TestEmailChangedNoticeGoesToTheOldAddress(t *testing.T) {
	m, err := accountComposer(t).ComposeEmailChanged(context.Background(), core.PublicUser{ID: "7", Email: "new@example.org"}, "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if m.To[0] != "old@example.com" || !strings.Contains(m.Text, "old@example.com") || strings.Contains(m.Text+m.HTML, "new@example.org") ||
		strings.Contains(m.Text+m.HTML, "href") || m.Subject != "Your e-mail address was changed" {
		t.Fatalf("notice = %+v", m)
	}
}
