// Package templates holds restreg's built-in e-mail templates, embedded in the
// binary so a deployment needs no files beside it. Each set is a directory of
// subject.txt (text/template, one line), body.txt (text/template) and
// body.html (html/template): register/ is the verification e-mail
// (REGISTER_VERIFICATION_EMAIL_TEMPLATES may name a directory whose files
// replace it), account_exists/ the notice to the owner of an address
// someone tried to register again (ACCOUNT_EXISTS_EMAIL_TEMPLATES),
// reset_password/ the reset-password link
// (RESET_PASSWORD_VERIFICATION_EMAIL_TEMPLATES), register_email/ the
// verify-email link to a new address
// (REGISTER_EMAIL_VERIFICATION_EMAIL_TEMPLATES) and email_changed/ the
// notice to the previous address (EMAIL_CHANGED_EMAIL_TEMPLATES). Text
// templates may call escape, Django's HTML escaping, which
// django-rest-registration's text bodies apply to the address.
//
// No set shows username, first_name or last_name: anyone can register
// with any address, so a registration's own words must not reach a mailbox
// whose owner has not verified the account.
package templates

import (
	"embed"
	"io/fs"
)

// FS is every built-in template set (see the package comment).
//
//go:embed register account_exists reset_password register_email email_changed
var FS embed.FS

// Register is the built-in verification e-mail set with its files at the root
// (subject.txt, body.txt, body.html), the shape the e-mail composer expects.
var Register fs.FS = mustSub(FS, "register")

// AccountExists is the built-in set sent instead of a verification e-mail
// when REGISTER_ENUMERATION_SAFE hides that an address is taken; its
// context has user and email, and no link.
var AccountExists fs.FS = mustSub(FS, "account_exists")

// ResetPassword is the built-in set of the reset-password link; its context
// has user, email and verification_url. Its text body is
// django-rest-registration's, byte for byte.
var ResetPassword fs.FS = mustSub(FS, "reset_password")

// RegisterEmail is the built-in set of the e-mail to a new address: the
// verify-email link, or (email_already_used) the notice that another account
// has the address. Its context has user, email (the new address),
// verification_url and email_already_used; the text body is
// django-rest-registration's, byte for byte, starting with a newline.
var RegisterEmail fs.FS = mustSub(FS, "register_email")

// EmailChanged is the built-in notice to a user's previous address that
// the address was changed; its context has user and email (the old
// address), and no link.
var EmailChanged fs.FS = mustSub(FS, "email_changed")

// mustSub panics only if the embedded directory is missing, which the
// embed directive above already rules out at compile time.
func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
