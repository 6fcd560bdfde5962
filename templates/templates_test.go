package templates_test

import (
	htmltemplate "html/template"
	"io/fs"
	"strings"
	"testing"
	texttemplate "text/template"

	"github.com/restreg/restreg/templates"
)

// readFrom returns one file of a built-in template set.
func readFrom(t *testing.T, set fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(set, name)
	if err != nil {
		t.Fatalf("built-in set lacks %s: %v", name, err)
	}
	return string(b)
}

func read(t *testing.T, name string) string {
	t.Helper()
	return readFrom(t, templates.Register, name)
}

func TestEverySetHasTheThreeFiles(t *testing.T) {
	for _, set := range []string{"register", "account_exists", "reset_password", "register_email", "email_changed"} {
		entries, err := fs.ReadDir(templates.FS, set)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if got, want := strings.Join(names, ","), "body.html,body.txt,subject.txt"; got != want {
			t.Errorf("%s/ holds %s, want %s", set, got, want)
		}
	}
}

// Users moving from django-rest-registration must receive the very same text.
func TestTextBodyRendersDjangoRestRegistrationTextByteForByte(t *testing.T) {
	tmpl := texttemplate.Must(texttemplate.New("body.txt").Parse(read(t, "body.txt")))
	var b strings.Builder
	url := "https://app.example.com/verify-user/?user_id=7&timestamp=1700000000&signature=abc-_DEF"
	if err := tmpl.Execute(&b, map[string]any{"verification_url": url}); err != nil {
		t.Fatal(err)
	}
	want := "Please verify your account by clicking on this link:\n\n" + url + "\n\n"
	if b.String() != want {
		t.Fatalf("body.txt renders %q, want %q", b.String(), want)
	}
}

func TestSubjectIsDjangoRestRegistrationSubject(t *testing.T) {
	if got := strings.TrimSpace(read(t, "subject.txt")); got != "Please verify your account" {
		t.Fatalf("subject.txt = %q", got)
	}
}

func TestHTMLBodyShowsTheLinkAsButtonAndAsText(t *testing.T) {
	tmpl := htmltemplate.Must(htmltemplate.New("body.html").Parse(read(t, "body.html")))
	var b strings.Builder
	url := "https://app.example.com/verify-user/?user_id=7&timestamp=1700000000&signature=abc"
	data := map[string]any{
		"verification_url": url,
		"email":            "ann@example.com",
		"user":             map[string]any{"id": "7", "username": "ann", "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
	}
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	escaped := strings.ReplaceAll(url, "&", "&amp;")
	if n := strings.Count(html, `href="`+escaped+`"`); n != 2 {
		t.Errorf("link appears as href %d times, want 2 (button and plain link):\n%s", n, html)
	}
	if !strings.Contains(html, ">"+escaped+"</a>") {
		t.Errorf("link is not shown as visible text:\n%s", html)
	}
}
