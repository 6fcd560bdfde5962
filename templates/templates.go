// Package templates holds restreg's built-in e-mail templates, embedded in the
// binary so a deployment needs no files beside it. Each set is a directory of
// subject.txt (text/template, one line), body.txt (text/template) and
// body.html (html/template): register/ is the verification e-mail
// (REGISTER_VERIFICATION_EMAIL_TEMPLATES may name a directory whose files
// replace it) and account_exists/ the notice to the owner of an address
// someone tried to register again (ACCOUNT_EXISTS_EMAIL_TEMPLATES).
//
// Neither set shows username, first_name or last_name: anyone can register
// with any address, so a registration's own words must not reach a mailbox
// whose owner has not verified the account.
package templates

import (
	"embed"
	"io/fs"
)

// FS is every built-in template set; register/ is the verification e-mail,
// account_exists/ the "someone tried to register with your address" notice.
//
//go:embed register account_exists
var FS embed.FS

// Register is the built-in verification e-mail set with its files at the root
// (subject.txt, body.txt, body.html), the shape the e-mail composer expects.
var Register fs.FS = mustSub(FS, "register")

// AccountExists is the built-in set sent instead of a verification e-mail
// when REGISTER_ENUMERATION_SAFE hides that an address is taken; its
// context has user and email, and no link.
var AccountExists fs.FS = mustSub(FS, "account_exists")

// mustSub panics only if the embedded directory is missing, which the
// embed directive above already rules out at compile time.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
