package usecase_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/restreg/restreg/core"
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
	hasher := &countingHasher{PasswordHasher: f.deps.Hasher}
	f.deps.Hasher = hasher
	owner, err := f.reg.Handle(context.Background(), registration("paul"))
	if err != nil {
		t.Fatal(err)
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
	if _, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "quinn"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the hidden registration stored a user: %v", err)
	}
	if n := eventsOfType(t, f, core.EventUserRegistered); n != 1 {
		t.Fatalf("user_registered events = %d, want 1 (none for the hidden registration)", n)
	}
	mails := f.mailer.Messages()
	if len(mails) != 2 {
		t.Fatalf("%d e-mails, want the verification and the notice", len(mails))
	}
	notice := mails[1]
	if notice.To[0] != "paul@example.com" || notice.Subject != "Someone tried to register with your e-mail address" {
		t.Fatalf("notice To %q, subject %q", notice.To, notice.Subject)
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

func TestEnumerationSafeNoticeThatCannotBeSentIsA503LikeALink(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterEnumerationSafe = true })
	if _, err := f.reg.Handle(context.Background(), registration("sam")); err != nil {
		t.Fatal(err)
	}
	f.mailer.Fail(errors.New("provider down"))
	in := registration("tess")
	in.Email = core.Str("sam@example.com")
	if _, err := f.reg.Handle(context.Background(), in); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("notice not sent: %v, want core.ErrUnavailable as for a verification e-mail", err)
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
	if len(f.mailer.Messages()) != 1 {
		t.Fatal("a notice was sent without REGISTER_ENUMERATION_SAFE")
	}
}
