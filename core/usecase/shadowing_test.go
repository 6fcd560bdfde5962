package usecase_test

import (
	"context"
	"errors"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// A username equal to another account's e-mail address must not take over
// that account's login by e-mail or its resend requests.
func TestUsernameCannotShadowAnotherAccountsAddress(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	victim := registration("vic")
	victim.Email = core.Str("vic@example.com")
	if _, err := f.reg.Handle(ctx, victim); err != nil {
		t.Fatal(err)
	}
	attacker := registration("x")
	attacker.Username = core.Str("VIC@example.com")
	attacker.Email = core.Str("att@example.com")
	_, err := f.reg.Handle(ctx, attacker)
	var verr *core.ValidationError
	if !errors.As(err, &verr) || len(verr.Fields["username"]) != 1 || verr.Fields["username"][0] != core.MsgUsernameExists {
		t.Fatalf("username equal to another account's address: %v, want %q", err, core.MsgUsernameExists)
	}
	// And the other way round: an address equal to another's username.
	first := registration("y")
	first.Username = core.Str("boss@example.org")
	first.Email = core.Str("boss@example.org")
	if _, err := f.reg.Handle(ctx, first); err != nil {
		t.Fatalf("own address as username: %v", err)
	}
	second := registration("z")
	second.Email = core.Str("BOSS@example.org")
	if _, err := f.reg.Handle(ctx, second); !errors.As(err, &verr) || verr.Fields["email"][0] != core.MsgEmailExists {
		t.Fatalf("address equal to another account's username: %v, want %q", err, core.MsgEmailExists)
	}
}

// Where addresses need not be unique (django-rest-registration's model) an
// address is no key, so a username equal to another account's address can
// still be stored by a race past the registration check. The login then
// checks every account it names, and a resend mails each unverified one at
// its own address: no account becomes unreachable, no link reaches a
// stranger.
func TestLoginAndResendReachOnlyTheAccountMeant(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) {
		s.UserEmailUnique = false
		s.UsernameCaseInsensitive = false
	})
	ctx := context.Background()
	victim := registration("vic")
	victim.Email = core.Str("vic@example.com")
	if _, err := f.reg.Handle(ctx, victim); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	// The race: the attacker's row lands as if both checks had passed.
	shadow := core.User{
		ID: core.NewID(), Username: "vic@example.com", UsernameKey: "vic@example.com",
		UsernameEmailKey: "vic@example.com", Email: "att@example.com", EmailKey: "att@example.com",
		PasswordHash: mustHash(t, f, "attacker password 1"), CreatedAt: f.clock.Now(),
	}
	if err := f.store.CreateUser(ctx, shadow); err != nil {
		t.Fatalf("store the shadowing account: %v", err)
	}

	// The resend mails the victim at the victim's address, and never the
	// attacker a link for the victim.
	f.clock.Set(f.clock.Now().Add(2 * f.settings.ResendVerificationInterval))
	if err := f.resend.Handle(ctx, usecase.ResendInput{Login: core.Str("vic@example.com")}); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	for _, m := range f.mailer.Messages()[1:] {
		in := linkInput(t, m)
		switch {
		case m.To[0] == "vic@example.com" && in.UserID.Text == shadow.ID,
			m.To[0] == "att@example.com" && in.UserID.Text != shadow.ID:
			t.Fatalf("link for user %s mailed to %s", in.UserID.Text, m.To[0])
		}
	}
	if !mailedTo(f, "vic@example.com", 2) {
		t.Fatalf("the victim got no new link: %v", recipients(f))
	}
	// Verify the victim with the new link; the victim logs in by address.
	msgs := f.mailer.Messages()
	for _, m := range msgs {
		if m.To[0] == "vic@example.com" {
			if _, err := f.verify.Handle(ctx, linkInput(t, m)); err != nil {
				t.Fatalf("victim's link: %v", err)
			}
			break
		}
	}
	if _, err := f.login.Handle(ctx, usecase.LoginInput{Login: core.Str("vic@example.com"), Password: core.Str("correct horse battery")}); err != nil {
		t.Fatalf("the victim's login by address after the shadowing account appeared: %v", err)
	}
}

func mustHash(t *testing.T, f *fixture, password string) string {
	t.Helper()
	h, err := f.hasher.Hash(context.Background(), password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mailedTo(f *fixture, addr string, atLeast int) bool {
	n := 0
	for _, m := range f.mailer.Messages() {
		if m.To[0] == addr {
			n++
		}
	}
	return n >= atLeast
}

func recipients(f *fixture) []string {
	var out []string
	for _, m := range f.mailer.Messages() {
		out = append(out, m.To[0])
	}
	return out
}
