package restreg_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restreg/restreg"
)

// A template directory setting that names no directory stops start-up,
// saying which path is wrong; an empty setting overrides nothing.
func TestTemplateDirOpensOnlyADirectory(t *testing.T) {
	if d, err := restreg.TemplateDir(""); err != nil || d.FS != nil {
		t.Fatalf(`TemplateDir("") = %+v, %v; want the zero Dir`, d, err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := restreg.TemplateDir(missing); err == nil {
		t.Fatal("a template directory that does not exist was accepted")
	}
	file := filepath.Join(t.TempDir(), "subject.txt")
	if err := os.WriteFile(file, []byte("Hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := restreg.TemplateDir(file); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("TemplateDir(a file) = %v, want an error saying it is not a directory", err)
	}
	dir := filepath.Dir(file)
	d, err := restreg.TemplateDir(dir)
	if err != nil || d.Path != dir {
		t.Fatalf("TemplateDir(%s) = %+v, %v", dir, d, err)
	}
	if b, err := d.FS.Open("subject.txt"); err != nil {
		t.Fatalf("the Dir does not read the directory's files: %v", err)
	} else {
		_ = b.Close()
	}
}
