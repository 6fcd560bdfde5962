// Package templates holds restreg's built-in e-mail templates, embedded in the
// binary so a deployment needs no files beside it. Each set is a directory of
// subject.txt (text/template, one line), body.txt (text/template) and
// body.html (html/template); REGISTER_VERIFICATION_EMAIL_TEMPLATES may name a
// directory whose files replace them.
package templates

import (
	"embed"
	"io/fs"
)

// FS is every built-in template set; register/ is the verification e-mail.
//
//go:embed register
var FS embed.FS

// Register is the built-in verification e-mail set with its files at the root
// (subject.txt, body.txt, body.html), the shape the e-mail composer expects.
var Register fs.FS = mustSub(FS, "register")

// mustSub panics only if the embedded directory is missing, which the
// go:embed directive above already rules out at compile time.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
