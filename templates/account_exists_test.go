package templates_test

import (
	htmltemplate "html/template"
	"strings"
	"testing"
	texttemplate "text/template"

	"github.com/restreg/restreg/templates"
)

// The notice names the address (the recipient's own), says nothing was
// created, and carries no link: it must be safe to send to whoever owns the
// address.
func TestAccountExistsNoticeNamesTheAccountAndHasNoLink(t *testing.T) {
	data := map[string]any{
		"email": "ann@example.com",
		"user":  map[string]any{"id": "7", "username": "ann", "first_name": "", "last_name": "", "email": "ann@example.com"},
	}
	read := func(name string) string { return readFrom(t, templates.AccountExists, name) }
	var text, html strings.Builder
	if err := texttemplate.Must(texttemplate.New("body.txt").Option("missingkey=error").Parse(read("body.txt"))).Execute(&text, data); err != nil {
		t.Fatal(err)
	}
	if err := htmltemplate.Must(htmltemplate.New("body.html").Option("missingkey=error").Parse(read("body.html"))).Execute(&html, data); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"body.txt": text.String(), "body.html": html.String()} {
		if !strings.Contains(body, "ann@example.com") || !strings.Contains(body, "no new account was created") {
			t.Errorf("%s does not name the address and say nothing was created:\n%s", name, body)
		}
		if strings.Contains(body, "http") || strings.Contains(body, "href") {
			t.Errorf("%s carries a link:\n%s", name, body)
		}
	}
	if got := strings.TrimSpace(read("subject.txt")); got != "Someone tried to register with your e-mail address" {
		t.Errorf("subject.txt = %q", got)
	}
}
