package templates_test

import (
	htmltemplate "html/template"
	"io/fs"
	"strings"
	"testing"
	texttemplate "text/template"

	"github.com/restreg/restreg/templates"
)

func TestAccountExistsSetHasTheThreeFiles(t *testing.T) {
	entries, err := fs.ReadDir(templates.FS, "account_exists")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, ","), "body.html,body.txt,subject.txt"; got != want {
		t.Fatalf("account_exists/ holds %s, want %s", got, want)
	}
}

// The notice names the account so its owner recognises it, and carries no
// link: it must be safe to send to whoever owns the address.
func TestAccountExistsNoticeNamesTheAccountAndHasNoLink(t *testing.T) {
	data := map[string]any{
		"email": "ann@example.com",
		"user":  map[string]any{"id": "7", "username": "ann", "first_name": "", "last_name": "", "email": "ann@example.com"},
	}
	read := func(name string) string {
		b, err := fs.ReadFile(templates.AccountExists, name)
		if err != nil {
			t.Fatalf("account_exists/%s: %v", name, err)
		}
		return string(b)
	}
	var text, html strings.Builder
	if err := texttemplate.Must(texttemplate.New("body.txt").Option("missingkey=error").Parse(read("body.txt"))).Execute(&text, data); err != nil {
		t.Fatal(err)
	}
	if err := htmltemplate.Must(htmltemplate.New("body.html").Option("missingkey=error").Parse(read("body.html"))).Execute(&html, data); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"body.txt": text.String(), "body.html": html.String()} {
		if !strings.Contains(body, "Hi ann,") || !strings.Contains(body, "ann@example.com") || !strings.Contains(body, "no new account was created") {
			t.Errorf("%s does not greet the owner, name the address and say nothing was created:\n%s", name, body)
		}
		if strings.Contains(body, "http") || strings.Contains(body, "href") {
			t.Errorf("%s carries a link:\n%s", name, body)
		}
	}
	if got := strings.TrimSpace(read("subject.txt")); got != "Someone tried to register with your e-mail address" {
		t.Errorf("subject.txt = %q", got)
	}
}
