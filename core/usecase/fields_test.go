package usecase_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// fieldErrors runs call and returns its field errors; it fails the test
// unless call answered with a *core.ValidationError.
func fieldErrors(t *testing.T, call func() error) map[string][]string {
	t.Helper()
	var verr *core.ValidationError
	if err := call(); !errors.As(err, &verr) {
		t.Fatalf("answer %v, want field errors", err)
	}
	return verr.Fields
}

// DRF gives every CharField a ProhibitNullCharactersValidator, after the
// field's own validators and max_length: each request field that is text
// refuses a NUL character, with messages in that order.
func TestEveryTextFieldRefusesNullCharacters(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	long := strings.Repeat("x", 150) + "\x00"
	register := func(edit func(*usecase.RegisterInput)) func() error {
		return func() error {
			in := registration("nul")
			edit(&in)
			_, err := f.reg.Handle(ctx, in)
			return err
		}
	}
	login := func(in usecase.LoginInput) func() error {
		return func() error { _, err := f.login.Handle(ctx, in); return err }
	}
	verify := func(edit func(*usecase.VerifyInput)) func() error {
		return func() error {
			in := usecase.VerifyInput{UserID: core.Str("1"), Timestamp: core.Str("1700000000"), Signature: core.Str("sig")}
			edit(&in)
			_, err := f.verify.Handle(ctx, in)
			return err
		}
	}
	for _, c := range []struct {
		name  string
		call  func() error
		field string
		want  []string
	}{
		{"register username", register(func(in *usecase.RegisterInput) { in.Username = core.Str("ann\x00") }),
			"username", []string{core.MsgInvalidUsername, core.MsgNullCharacters}},
		{"register email", register(func(in *usecase.RegisterInput) { in.Email = core.Str("ann\x00@example.com") }),
			"email", []string{core.MsgNullCharacters, core.MsgInvalidEmail}},
		{"register first_name", register(func(in *usecase.RegisterInput) { in.FirstName = core.Str("Ann\x00") }),
			"first_name", []string{core.MsgNullCharacters}},
		{"register last_name over its length", register(func(in *usecase.RegisterInput) { in.LastName = core.Str(long) }),
			"last_name", []string{"Ensure this field has no more than 150 characters.", core.MsgNullCharacters}},
		{"register password", register(func(in *usecase.RegisterInput) { in.Password = core.Str("correct horse\x00battery") }),
			"password", []string{core.MsgNullCharacters}},
		{"register password_confirm", register(func(in *usecase.RegisterInput) { in.PasswordConfirm = core.Str("\x00") }),
			"password_confirm", []string{core.MsgNullCharacters}},
		{"login login", login(usecase.LoginInput{Login: core.Str("ann\x00"), Password: core.Str("pw")}),
			"login", []string{core.MsgNullCharacters}},
		{"login password", login(usecase.LoginInput{Login: core.Str("ann"), Password: core.Str("p\x00w")}),
			"password", []string{core.MsgNullCharacters}},
		{"verify user_id", verify(func(in *usecase.VerifyInput) { in.UserID = core.Str("1\x00") }),
			"user_id", []string{core.MsgNullCharacters}},
		{"verify signature", verify(func(in *usecase.VerifyInput) { in.Signature = core.Str("\x00sig") }),
			"signature", []string{core.MsgNullCharacters}},
		{"resend login", func() error { return f.resend.Handle(ctx, usecase.ResendInput{Login: core.Str("ann\x00")}) },
			"login", []string{core.MsgNullCharacters}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := fieldErrors(t, c.call)
			if !reflect.DeepEqual(got[c.field], c.want) {
				t.Fatalf("%s errors %q, want %q (all errors: %q)", c.field, got[c.field], c.want, got)
			}
			if len(got) != 1 {
				t.Fatalf("errors on other fields too: %q", got)
			}
		})
	}
	if n := len(f.mailer.Messages()); n != 0 {
		t.Fatalf("%d e-mails sent for refused requests", n)
	}
}

// The checks DRF makes before the validators still come first: a blank
// value is only blank, and a missing one only required.
func TestNullCharacterCheckComesAfterRequiredAndBlank(t *testing.T) {
	f := newFixture(t, nil)
	in := registration("ann")
	in.FirstName = core.Str("  ")
	in.Password = core.Str(" \t")
	in.PasswordConfirm = core.Value{}
	got := fieldErrors(t, func() error { _, err := f.reg.Handle(context.Background(), in); return err })
	want := map[string][]string{"password": {core.MsgBlank}, "password_confirm": {core.MsgRequired}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("errors %q, want %q", got, want)
	}
}

// The username is stored NFKC-normalised, so its length and format are
// checked on that form as well as on the name as sent.
func TestUsernameLimitsHoldForTheStoredForm(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		name, username string
		want           []string
	}{
		// 150 letters as sent, 2,700 characters once normalised (with spaces).
		{"ligature that expands", strings.Repeat("\ufdfa", 150), []string{core.MsgInvalidUsername, "Ensure this field has no more than 150 characters."}},
		// 8 letters, 144 characters once normalised: within the limit, but
		// each is a phrase with spaces.
		{"letter that becomes words", strings.Repeat("\ufdfa", 8), []string{core.MsgInvalidUsername}},
		// 60 letters as sent, 180 once each "ﬃ" becomes "ffi".
		{"ligature that expands within the format", strings.Repeat("\ufb03", 60), []string{"Ensure this field has no more than 150 characters."}},
		{"number that becomes punctuation", "ann\u2474", []string{core.MsgInvalidUsername}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := registration("x")
			in.Username = core.Str(c.username)
			got := fieldErrors(t, func() error { _, err := f.reg.Handle(ctx, in); return err })
			if !reflect.DeepEqual(got["username"], c.want) {
				t.Fatalf("username errors %q, want %q", got["username"], c.want)
			}
		})
	}
	// 150 characters in both forms is fine.
	in := registration("x")
	in.Username = core.Str(strings.Repeat("ｆ", 150))
	pub, err := f.reg.Handle(ctx, in)
	if err != nil {
		t.Fatalf("150 fullwidth letters: %v", err)
	}
	if pub.Username != strings.Repeat("f", 150) {
		t.Fatalf("stored username %q, want its NFKC form", pub.Username)
	}
}

// One mailbox is one account however its domain is spelt: in Unicode or as
// its A-label, in fullwidth letters, in capitals. What was typed is kept.
func TestEmailSpellingsOfOneMailboxAreOneAccount(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for g, group := range [][]string{
		{"u@exämple.com", "u@xn--exmple-cua.com", "U@EXÄMPLE.COM"},
		{"v@ｅｘａｍｐｌｅ.com", "v@example.com", `"v"@Example.com`},
	} {
		in := registration(fmt.Sprintf("owner%d", g))
		in.Email = core.Str(group[0])
		pub, err := f.reg.Handle(ctx, in)
		if err != nil {
			t.Fatalf("register %+q: %v", group[0], err)
		}
		if pub.Email != core.NormalizeEmail(group[0]) {
			t.Fatalf("stored e-mail %+q, want %+q as typed", pub.Email, core.NormalizeEmail(group[0]))
		}
		for i, spelling := range group[1:] {
			in := registration(fmt.Sprintf("other%d%d", g, i))
			in.Email = core.Str(spelling)
			got := fieldErrors(t, func() error { _, err := f.reg.Handle(ctx, in); return err })
			if !reflect.DeepEqual(got, map[string][]string{"email": {core.MsgEmailExists}}) {
				t.Fatalf("register %+q after %+q: %q, want the address taken", spelling, group[0], got)
			}
		}
	}
	// A domain with no IDNA form cannot be mailed: it is not an address.
	in := registration("joiner")
	in.Email = core.Str("u@x\u200dy.com")
	got := fieldErrors(t, func() error { _, err := f.reg.Handle(ctx, in); return err })
	if !reflect.DeepEqual(got, map[string][]string{"email": {core.MsgInvalidEmail}}) {
		t.Fatalf("domain without an A-label: %q", got)
	}
}
