package usecase_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// countingHasher counts the hashes computed, to show that two answers cost
// the same work.
type countingHasher struct {
	ports.PasswordHasher
	hashes, checks atomic.Int64
}

func (h *countingHasher) Hash(ctx context.Context, password string) (string, error) {
	h.hashes.Add(1)
	return h.PasswordHasher.Hash(ctx, password)
}

func (h *countingHasher) Check(ctx context.Context, password, encoded string) (bool, bool, error) {
	h.checks.Add(1)
	return h.PasswordHasher.Check(ctx, password, encoded)
}

func TestEnumerationSafeRegisterAnswersLikeANewRegistration(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterEnumerationSafe = true })
	hasher := &countingHasher{PasswordHasher: f.hasher}
	f.hasher = hasher
	f.build(t)
	owner, err := f.reg.Handle(context.Background(), registration("paul"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.mailer.Messages()); n != 0 {
		t.Fatalf("%d e-mails sent on the request path, want none (the courier sends them)", n)
	}

	in := registration("quinn")
	in.Email = core.Str("  PAUL@example.COM ")
	in.FirstName = core.Str("Quinn")
	got, err := f.reg.Handle(context.Background(), in)
	if err != nil {
		t.Fatalf("registration with a taken address: %v, want the answer of a new registration", err)
	}
	if got.ID == "" || got.ID == owner.ID || got.Username != "quinn" || got.FirstName != "Quinn" || got.Email != "PAUL@example.com" {
		t.Fatalf("answer %+v, want a fresh id and the submitted (normalised) fields", got)
	}
	if hasher.hashes.Load() != 2 {
		t.Fatalf("%d hashes for one real and one hidden registration, want 2 (the same work)", hasher.hashes.Load())
	}
	if n := len(f.mailer.Messages()); n != 0 {
		t.Fatalf("%d e-mails sent on the request path, want none", n)
	}
	// The username is held all the same, by a placeholder that can never
	// log in, be verified or be mailed.
	held, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "quinn")
	if err != nil || held.ID != got.ID || held.Email != "" || held.IsActive || held.PasswordHash != core.UnusablePassword {
		t.Fatalf("placeholder = %+v, %v; want the answered id, no address, inactive, unusable password", held, err)
	}
	if n := eventsOfType(t, f, core.EventUserRegistered); n != 1 {
		t.Fatalf("user_registered events = %d, want 1 (none for the hidden registration)", n)
	}

	f.deliver(t)
	mails := f.mailer.Messages()
	if len(mails) != 2 {
		t.Fatalf("%d e-mails, want the verification and the notice", len(mails))
	}
	var notice core.Message
	for _, m := range mails {
		if m.Subject == "Someone tried to register with your e-mail address" {
			notice = m
		}
	}
	if len(notice.To) != 1 || notice.To[0] != "paul@example.com" {
		t.Fatalf("notice To %q, want the owner", notice.To)
	}
	if linkPattern.MatchString(notice.Text) || !strings.Contains(notice.Text, "paul") {
		t.Fatalf("notice text:\n%s", notice.Text)
	}

	// A taken username is still an error: usernames are public.
	dup := registration("paul")
	dup.Email = core.Str("someone-else@example.com")
	_, err = f.reg.Handle(context.Background(), dup)
	var verr *core.ValidationError
	if !errors.As(err, &verr) || verr.Fields["username"][0] != core.MsgUsernameExists {
		t.Fatalf("taken username in enumeration-safe mode: %v", err)
	}
	// So is a weak password, for a taken address as for a new one.
	weak := registration("rita")
	weak.Email = core.Str("paul@example.com")
	weak.Password, weak.PasswordConfirm = core.Str("123"), core.Str("123")
	if _, err := f.reg.Handle(context.Background(), weak); !errors.As(err, &verr) || !verr.ShowNonFieldErrors {
		t.Fatalf("weak password with a taken address: %v, want the password stage", err)
	}
}

// Every request a stranger can make after registering with an address must
// answer the same whether the address was new or taken.
func TestEnumerationSafeFollowUpsAnswerAlike(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterEnumerationSafe = true })
	if _, err := f.reg.Handle(context.Background(), registration("target")); err != nil {
		t.Fatal(err)
	}
	probe := func(username, address string) []string {
		in := registration(username)
		in.Email = core.Str(address)
		first, err := f.reg.Handle(context.Background(), in)
		if err != nil {
			t.Fatalf("probe %s: %v", username, err)
		}
		var answers []string
		answer := func(err error) { answers = append(answers, fmt.Sprintf("%v", err)) }
		// The same username again with a bad password.
		again := registration(username)
		again.Email = core.Str("other-" + address)
		again.Password, again.PasswordConfirm = core.Str("123"), core.Str("123")
		_, err = f.reg.Handle(context.Background(), again)
		answer(err)
		// The same username with a good password.
		again.Password, again.PasswordConfirm = core.Str("correct horse battery"), core.Str("correct horse battery")
		_, err = f.reg.Handle(context.Background(), again)
		answer(err)
		// Logging in with the username and the password just chosen.
		_, err = f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str(username), Password: core.Str("correct horse battery")})
		answer(err)
		// Asking for a new link.
		answer(f.resend.Handle(context.Background(), usecase.ResendInput{Login: core.Str(username)}))
		// Verifying with the answered id and a made-up signature.
		_, err = f.verify.Handle(context.Background(), usecase.VerifyInput{UserID: core.Str(first.ID), Timestamp: core.Str("1795953600"), Signature: core.Str("made-up")})
		answer(err)
		return answers
	}
	for _, oneTime := range []bool{false, true} {
		f.settings.RegisterVerificationOneTimeUse = oneTime
		f.build(t)
		suffix := fmt.Sprint(oneTime)
		newAddr := probe("fresh"+suffix, "fresh"+suffix+"@example.com")
		takenAddr := probe("probe"+suffix, "target@example.com")
		if fmt.Sprint(newAddr) != fmt.Sprint(takenAddr) {
			t.Errorf("one-time %v: follow-ups after a new address %q, after a taken one %q; want the same", oneTime, newAddr, takenAddr)
		}
	}
}

// With REGISTER_ENUMERATION_SAFE an e-mail-shaped username must be the
// registration's own address, or whether it is another account's address
// would show.
func TestEnumerationSafeRefusesAnotherAddressAsUsername(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterEnumerationSafe = true })
	if _, err := f.reg.Handle(context.Background(), registration("known")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"known@example.com", "unknown@example.com"} {
		in := registration("x")
		in.Username = core.Str(name)
		in.Email = core.Str("mine@example.com")
		_, err := f.reg.Handle(context.Background(), in)
		var verr *core.ValidationError
		if !errors.As(err, &verr) || len(verr.Fields["username"]) != 1 || verr.Fields["username"][0] != usecase.MsgUsernameNotOwnEmail {
			t.Errorf("username %q with another address: %v, want %q", name, err, usecase.MsgUsernameNotOwnEmail)
		}
	}
	own := registration("x")
	own.Username = core.Str("Mine@Example.com")
	own.Email = core.Str("mine@example.com")
	if _, err := f.reg.Handle(context.Background(), own); err != nil {
		t.Fatalf("own address as username: %v", err)
	}
}

// A mail provider that is down cannot show in the answer either: both kinds
// of registration answer 201 and the courier keeps trying.
func TestEnumerationSafeMailOutageIsRetriedByTheCourier(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterEnumerationSafe = true })
	if _, err := f.reg.Handle(context.Background(), registration("sam")); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	f.mailer.Fail(core.ErrUnavailable)
	in := registration("tess")
	in.Email = core.Str("sam@example.com")
	if _, err := f.reg.Handle(context.Background(), in); err != nil {
		t.Fatalf("taken address with the provider down: %v, want 201", err)
	}
	if _, err := f.reg.Handle(context.Background(), registration("uwe")); err != nil {
		t.Fatalf("new address with the provider down: %v, want 201", err)
	}
	f.deliver(t)
	if n := len(f.mailer.Messages()); n != 1 {
		t.Fatalf("%d e-mails while the provider is down, want only the first", n)
	}
	f.mailer.Fail(nil)
	f.clock.Set(f.clock.Now().Add(time.Minute))
	f.deliver(t)
	if n := len(f.mailer.Messages()); n != 3 {
		t.Fatalf("%d e-mails once the provider is back, want 3 (link, notice, link)", n)
	}
}

func TestTakenEmailIsAFieldErrorByDefault(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.reg.Handle(context.Background(), registration("uma")); err != nil {
		t.Fatal(err)
	}
	in := registration("vera")
	in.Email = core.Str("UMA@example.com")
	_, err := f.reg.Handle(context.Background(), in)
	var verr *core.ValidationError
	if !errors.As(err, &verr) || verr.Fields["email"][0] != core.MsgEmailExists {
		t.Fatalf("taken address without REGISTER_ENUMERATION_SAFE: %v", err)
	}
	f.deliver(t)
	if len(f.mailer.Messages()) != 1 {
		t.Fatal("a notice was sent without REGISTER_ENUMERATION_SAFE")
	}
}
