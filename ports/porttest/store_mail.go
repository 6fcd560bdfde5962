package porttest

import (
	"errors"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// storeNamespace checks that usernames and e-mail addresses share one
// namespace: no login string may reach two accounts.
func storeNamespace(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("a username equal to another account's e-mail is ErrUsernameTaken", func(t *testing.T) {
		s := newStore(t)
		victim := NewUser("vic")
		mustCreateUser(t, s, victim)
		attacker := NewUser("att")
		attacker.Username, attacker.UsernameKey, attacker.UsernameEmailKey = victim.Email, victim.EmailKey, victim.EmailKey
		err := s.CreateUser(t.Context(), attacker, NewEvent(core.EventUserRegistered, attacker, storeEpoch))
		if !errors.Is(err, core.ErrUsernameTaken) {
			t.Fatalf("CreateUser with a username equal to another account's e-mail = %v, want core.ErrUsernameTaken", err)
		}
		checkNotFound(t, s, attacker.ID)
		checkPending(t, s, storeEpoch.Add(time.Hour))
	})

	t.Run("an e-mail equal to another account's username is ErrEmailTaken", func(t *testing.T) {
		s := newStore(t)
		first := NewUser("first")
		first.Username, first.UsernameKey, first.UsernameEmailKey = "boss@example.com", "boss@example.com", "boss@example.com"
		mustCreateUser(t, s, first)
		second := NewUser("second")
		second.Email, second.EmailKey, second.UniqueEmailKey = "Boss@example.com", "boss@example.com", "boss@example.com"
		if err := s.CreateUser(t.Context(), second); !errors.Is(err, core.ErrEmailTaken) {
			t.Fatalf("CreateUser with an e-mail equal to another account's username = %v, want core.ErrEmailTaken", err)
		}
		checkNotFound(t, s, second.ID)
	})

	t.Run("one account may use its own address as its username", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("self")
		u.Username, u.UsernameKey, u.UsernameEmailKey = u.Email, u.EmailKey, u.EmailKey
		mustCreateUser(t, s, u)
		got, err := s.FindUser(t.Context(), core.ByUsernameEmailKey, u.EmailKey)
		if err != nil {
			t.Fatalf("FindUser by username e-mail key: %v", err)
		}
		checkUser(t, got, u)
	})

	t.Run("a deleted account frees its keys", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("gone")
		u.Username, u.UsernameKey, u.UsernameEmailKey = "gone@elsewhere.org", "gone@elsewhere.org", "gone@elsewhere.org"
		mustCreateUser(t, s, u)
		if err := s.DeleteInactiveUser(t.Context(), u.ID); err != nil {
			t.Fatalf("DeleteInactiveUser: %v", err)
		}
		again := NewUser("again")
		again.Email, again.EmailKey, again.UniqueEmailKey = "gone@elsewhere.org", "gone@elsewhere.org", "gone@elsewhere.org"
		mustCreateUser(t, s, again)
	})
}

// storeMailQueue checks the queue of e-mails users owe.
func storeMailQueue(t *testing.T, newStore func(t *testing.T) ports.Store) {
	owing := func(name string, due time.Time) core.User {
		u := NewUser(name)
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: due}
		return u
	}

	t.Run("due mails are claimed earliest first, leased and counted", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		late := owing("late", storeEpoch.Add(2*time.Second))
		early := owing("early", storeEpoch.Add(time.Second))
		future := owing("future", storeEpoch.Add(time.Hour))
		none := NewUser("none")
		for _, u := range []core.User{late, early, future, none} {
			mustCreateUser(t, s, u)
		}
		now := storeEpoch.Add(time.Minute)
		got, err := s.ClaimMail(ctx, now, 30*time.Second, 10)
		if err != nil {
			t.Fatalf("ClaimMail: %v", err)
		}
		if len(got) != 2 || got[0].ID != early.ID || got[1].ID != late.ID {
			t.Fatalf("ClaimMail = %v, want [early late]", userIDs(got))
		}
		for _, u := range got {
			if !withinSecond(u.Mail.DueAt, now.Add(30*time.Second)) || u.Mail.Attempts != 1 || u.Mail.Kind != core.MailVerification {
				t.Errorf("claimed mail of %s = %+v, want due at now+lease with 1 attempt", u.ID, u.Mail)
			}
		}
		// Leased: nobody else gets them until the lease ends.
		if again, err := s.ClaimMail(ctx, now.Add(29*time.Second), 30*time.Second, 10); err != nil || len(again) != 0 {
			t.Fatalf("ClaimMail within the lease = %v, %v; want none", userIDs(again), err)
		}
		// A lease that ended (the claimer died) hands the mail out again.
		again, err := s.ClaimMail(ctx, now.Add(31*time.Second), 30*time.Second, 10)
		if err != nil || len(again) != 2 || again[0].Mail.Attempts != 2 || again[1].Mail.Attempts != 2 {
			t.Fatalf("ClaimMail after the lease = %v, %v; want both on their 2nd attempt", userIDs(again), err)
		}
	})

	t.Run("a completed mail is gone and stamps the verification time", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := owing("done", storeEpoch)
		mustCreateUser(t, s, u)
		claimed, err := s.ClaimMail(ctx, storeEpoch, time.Minute, 10)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("ClaimMail = %v, %v", userIDs(claimed), err)
		}
		sent := storeEpoch.Add(5 * time.Second)
		if err := s.CompleteMail(ctx, u.ID, core.MailVerification, claimed[0].Mail.DueAt, sent); err != nil {
			t.Fatalf("CompleteMail: %v", err)
		}
		want := u
		want.Mail = core.PendingMail{}
		want.VerificationSentAt = sent
		checkFound(t, s, want)
		if got, err := s.ClaimMail(ctx, storeEpoch.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("ClaimMail after completion = %v, %v; want none", userIDs(got), err)
		}
	})

	t.Run("ending a mail stamps only a verification that went out", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		before := storeEpoch
		due := before.Add(time.Hour)
		u := owing("stamped", due)
		u.VerificationSentAt = before
		owner := NewUser("owner")
		owner.VerificationSentAt = before
		owner.Mail = core.PendingMail{Kind: core.MailAccountExists, To: owner.ID, DueAt: due}
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, owner)
		// A verification mail given up, and another kind that went out.
		if err := s.CompleteMail(ctx, u.ID, core.MailVerification, due, time.Time{}); err != nil {
			t.Fatalf("CompleteMail (given up): %v", err)
		}
		if err := s.CompleteMail(ctx, owner.ID, core.MailAccountExists, due, due.Add(time.Second)); err != nil {
			t.Fatalf("CompleteMail (account exists): %v", err)
		}
		for _, want := range []core.User{u, owner} {
			want.Mail = core.PendingMail{}
			checkFound(t, s, want)
		}
	})

	t.Run("completing a stale claim leaves a newer one alone", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := owing("stale", storeEpoch)
		mustCreateUser(t, s, u)
		first, err := s.ClaimMail(ctx, storeEpoch, time.Second, 1)
		if err != nil || len(first) != 1 {
			t.Fatalf("ClaimMail = %v, %v", userIDs(first), err)
		}
		second, err := s.ClaimMail(ctx, storeEpoch.Add(2*time.Second), time.Minute, 1)
		if err != nil || len(second) != 1 {
			t.Fatalf("second ClaimMail = %v, %v", userIDs(second), err)
		}
		// The first claimer finishes late: the second claim stays owed.
		if err := s.CompleteMail(ctx, u.ID, core.MailVerification, first[0].Mail.DueAt, time.Time{}); err != nil {
			t.Fatalf("CompleteMail of a stale claim: %v", err)
		}
		checkFound(t, s, second[0])
	})

	t.Run("a deferred mail comes back at its new time", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := owing("later", storeEpoch)
		mustCreateUser(t, s, u)
		claimed, err := s.ClaimMail(ctx, storeEpoch, time.Minute, 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("ClaimMail = %v, %v", userIDs(claimed), err)
		}
		next := storeEpoch.Add(10 * time.Second)
		if err := s.DeferMail(ctx, u.ID, core.MailVerification, claimed[0].Mail.DueAt, next); err != nil {
			t.Fatalf("DeferMail: %v", err)
		}
		if got, err := s.ClaimMail(ctx, next.Add(-time.Second), time.Minute, 1); err != nil || len(got) != 0 {
			t.Fatalf("ClaimMail before the new time = %v, %v; want none", userIDs(got), err)
		}
		got, err := s.ClaimMail(ctx, next, time.Minute, 1)
		if err != nil || len(got) != 1 || got[0].Mail.Attempts != 2 {
			t.Fatalf("ClaimMail at the new time = %v, %v; want the mail on its 2nd attempt", userIDs(got), err)
		}
	})

	t.Run("deleting a user drops its mail", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := owing("undone", storeEpoch)
		mustCreateUser(t, s, u)
		if err := s.DeleteInactiveUser(ctx, u.ID); err != nil {
			t.Fatalf("DeleteInactiveUser: %v", err)
		}
		if got, err := s.ClaimMail(ctx, storeEpoch.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("ClaimMail after deletion = %v, %v; want none", userIDs(got), err)
		}
	})

	t.Run("completing or deferring an unknown user is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.CompleteMail(t.Context(), "no-such-user", core.MailVerification, storeEpoch, storeEpoch); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("CompleteMail on an unknown user = %v, want core.ErrNotFound", err)
		}
		if err := s.DeferMail(t.Context(), "no-such-user", core.MailVerification, storeEpoch, storeEpoch); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("DeferMail on an unknown user = %v, want core.ErrNotFound", err)
		}
	})
}

func checkNotFound(t *testing.T, s ports.Store, id string) {
	t.Helper()
	if _, err := s.FindUser(t.Context(), core.ByID, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("FindUser(%q) = %v, want core.ErrNotFound (nothing stored)", id, err)
	}
}

func checkFound(t *testing.T, s ports.Store, want core.User) {
	t.Helper()
	got, err := s.FindUser(t.Context(), core.ByID, want.ID)
	if err != nil {
		t.Fatalf("FindUser(%q): %v", want.ID, err)
	}
	checkUser(t, got, want)
}

func userIDs(us []core.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}
