// Package porttest holds the contract suites that every adapter of a port
// runs, so that any adapter can replace any other without the core noticing.
package porttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// StoreFeatures are the capabilities of a store technology; they decide
// which cases of the store contract suite apply to it.
type StoreFeatures struct {
	// AtomicConditionalUpdates says a conditional write (a filter or WHERE
	// clause, a unique index) holds under concurrency: of concurrent writers
	// racing for one condition exactly one wins. The concurrency cases run
	// only then (FerretDB v1, for one, rewrites whole documents and lets
	// several win).
	AtomicConditionalUpdates bool
}

// storeEpoch is a fixed instant with a sub-second part, far from the wall
// clock, so that the suite never depends on when it runs.
var storeEpoch = time.Date(2031, time.March, 14, 15, 9, 26, 535897932, time.UTC)

var storeSeq atomic.Int64

// NewUser returns an inactive user named name with a unique ID, the username
// and e-mail keys a case-insensitive deployment with unique e-mails derives
// from name, and a fixed CreatedAt. Two calls with one name give two users
// that collide on both keys.
func NewUser(name string) core.User {
	n := storeSeq.Add(1)
	email := name + "@Example.COM"
	key := strings.ToLower(name + "@example.com")
	return core.User{
		ID:             fmt.Sprintf("user-%d-%s", n, name),
		Username:       name,
		UsernameKey:    strings.ToLower(name),
		Email:          email,
		EmailKey:       key,
		UniqueEmailKey: key,
		FirstName:      "First " + name,
		LastName:       "Last " + name,
		PasswordHash:   "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$" + name,
		CreatedAt:      storeEpoch,
	}
}

// NewEvent returns an event of type typ about u with a unique ID, occurring
// and available at at, and the request details filled in.
func NewEvent(typ core.EventType, u core.User, at time.Time) core.Event {
	n := storeSeq.Add(1)
	return core.Event{
		ID:         fmt.Sprintf("event-%d-%s", n, typ),
		Type:       typ,
		Version:    core.EventVersion,
		OccurredAt: at,
		User:       u.Public(),
		Request: core.RequestInfo{
			ID:         fmt.Sprintf("request-%d", n),
			RemoteAddr: "203.0.113.7:51234",
			UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) contract-suite/1 «ünïcödé»",
		},
		AvailableAt: at,
	}
}

// Store runs the contract every ports.Store adapter must satisfy. newStore
// must return a new, empty store each time it is called; each case gets its
// own.
func Store(t *testing.T, newStore func(t *testing.T) ports.Store, features StoreFeatures) {
	t.Run("users", func(t *testing.T) { storeUsers(t, newStore) })
	t.Run("uniqueness", func(t *testing.T) { storeUniqueness(t, newStore) })
	t.Run("outbox", func(t *testing.T) { storeOutbox(t, newStore) })
	t.Run("activation", func(t *testing.T) { storeActivation(t, newStore) })
	t.Run("deletion", func(t *testing.T) { storeDeletion(t, newStore) })
	t.Run("passwords, tokens and ping", func(t *testing.T) { storeMisc(t, newStore) })
	t.Run("verification e-mail times", func(t *testing.T) { storeVerificationSent(t, newStore) })
	t.Run("login namespace", func(t *testing.T) { storeNamespace(t, newStore) })
	t.Run("mail queue", func(t *testing.T) { storeMailQueue(t, newStore) })
	t.Run("tokens", func(t *testing.T) { storeTokens(t, newStore) })
	t.Run("account", func(t *testing.T) { storeAccount(t, newStore) })
	t.Run("cancelled context", func(t *testing.T) { storeCancelled(t, newStore) })
	t.Run("concurrency", func(t *testing.T) {
		if !features.AtomicConditionalUpdates {
			t.Log("concurrency cases not run: the backend lacks AtomicConditionalUpdates")
			return
		}
		storeConcurrency(t, newStore)
		storeAccountConcurrency(t, newStore)
	})
}

func storeUsers(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("a created user is found by id, username key and e-mail key with every field intact", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("Zoë")
		u.ID = strings.Repeat("0123456789abcdef", 19)[:300]
		u.Username = "Zoë_山田.Ærøskøbing+€"
		u.UsernameKey = "zoë_山田.ærøskøbing+€"
		u.Email = "Zoë.Ýmir@Exämple.org"
		u.EmailKey = "zoë.ýmir@exämple.org"
		u.UniqueEmailKey = u.EmailKey
		u.FirstName = "Zoë 🦊"
		u.LastName = "Ærøskøbing-山田"
		u.CreatedAt = time.Date(2029, time.February, 3, 4, 5, 6, 789000000, time.FixedZone("UTC+05:30", 5*3600+1800))
		u.Username, u.UsernameKey, u.UsernameEmailKey = "Zoë@山田.Ærøskøbing", "zoë@山田.ærøskøbing", "zoë@山田.ærøskøbing"
		u.Mail = core.PendingMail{Kind: core.MailAccountExists, To: "owner-Ω", DueAt: storeEpoch.Add(90 * time.Second), Attempts: 3}
		mustCreateUser(t, s, u)

		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByID, u.ID}, {core.ByUsernameKey, u.UsernameKey}, {core.ByEmailKey, u.EmailKey}, {core.ByUsernameEmailKey, u.UsernameEmailKey}} {
			got, err := s.FindUser(ctx, by.field, by.key)
			if err != nil {
				t.Fatalf("FindUser(%s, %q): %v", by.field, by.key, err)
			}
			checkUser(t, got, u)
		}
	})

	t.Run("an active user without e-mail or names round-trips", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("nomail")
		u.Email, u.EmailKey, u.UniqueEmailKey = "", "", ""
		u.FirstName, u.LastName = "", ""
		u.IsActive = true
		mustCreateUser(t, s, u)
		got, err := s.FindUser(t.Context(), core.ByUsernameKey, u.UsernameKey)
		if err != nil {
			t.Fatalf("FindUser by username key: %v", err)
		}
		checkUser(t, got, u)
	})

	t.Run("unknown and empty keys are not found", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		withMail := NewUser("alice")
		noMail := NewUser("bob")
		noMail.Email, noMail.EmailKey, noMail.UniqueEmailKey = "", "", ""
		mustCreateUser(t, s, withMail)
		mustCreateUser(t, s, noMail)
		for _, field := range []core.LookupField{core.ByID, core.ByUsernameKey, core.ByEmailKey} {
			for _, key := range []string{"nobody", ""} {
				_, err := s.FindUser(ctx, field, key)
				if !errors.Is(err, core.ErrNotFound) {
					t.Errorf("FindUser(%s, %q) = %v, want core.ErrNotFound", field, key, err)
				}
			}
		}
	})

	t.Run("keys compare exactly, so case-sensitive deployments keep distinct users", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		lower := NewUser("carol")
		upper := NewUser("Carol")
		upper.UsernameKey = "Carol"
		upper.Email, upper.EmailKey, upper.UniqueEmailKey = "", "", ""
		mustCreateUser(t, s, lower)
		mustCreateUser(t, s, upper)
		for key, want := range map[string]string{"carol": lower.ID, "Carol": upper.ID} {
			got, err := s.FindUser(ctx, core.ByUsernameKey, key)
			if err != nil {
				t.Fatalf("FindUser(username, %q): %v", key, err)
			}
			if got.ID != want {
				t.Errorf("FindUser(username, %q) found %q, want %q", key, got.ID, want)
			}
		}
		if _, err := s.FindUser(ctx, core.ByUsernameKey, "CAROL"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("FindUser(username, %q) = %v, want core.ErrNotFound", "CAROL", err)
		}
	})

	t.Run("an e-mail key shared by two users is ambiguous", func(t *testing.T) {
		s := newStore(t)
		a := NewUser("dave")
		b := NewUser("erin")
		a.UniqueEmailKey, b.UniqueEmailKey = "", ""
		b.Email, b.EmailKey = a.Email, a.EmailKey
		mustCreateUser(t, s, a)
		mustCreateUser(t, s, b)
		_, err := s.FindUser(t.Context(), core.ByEmailKey, a.EmailKey)
		if !errors.Is(err, core.ErrAmbiguous) {
			t.Fatalf("FindUser by shared e-mail key = %v, want core.ErrAmbiguous", err)
		}
	})
}

func storeUniqueness(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("a duplicate username key is ErrUsernameTaken", func(t *testing.T) {
		s := newStore(t)
		first := NewUser("frank")
		mustCreateUser(t, s, first)
		dup := NewUser("other")
		dup.Username, dup.UsernameKey = "FRANK", first.UsernameKey
		err := s.CreateUser(t.Context(), dup)
		if !errors.Is(err, core.ErrUsernameTaken) {
			t.Fatalf("CreateUser with a taken username key = %v, want core.ErrUsernameTaken", err)
		}
		if errors.Is(err, core.ErrEmailTaken) {
			t.Errorf("CreateUser with only the username taken also reports core.ErrEmailTaken: %v", err)
		}
	})

	t.Run("a duplicate unique e-mail key is ErrEmailTaken", func(t *testing.T) {
		s := newStore(t)
		first := NewUser("grace")
		mustCreateUser(t, s, first)
		dup := NewUser("heidi")
		dup.Email, dup.EmailKey, dup.UniqueEmailKey = "GRACE@example.com", first.EmailKey, first.UniqueEmailKey
		err := s.CreateUser(t.Context(), dup)
		if !errors.Is(err, core.ErrEmailTaken) {
			t.Fatalf("CreateUser with a taken e-mail key = %v, want core.ErrEmailTaken", err)
		}
		if errors.Is(err, core.ErrUsernameTaken) {
			t.Errorf("CreateUser with only the e-mail taken also reports core.ErrUsernameTaken: %v", err)
		}
	})

	t.Run("username and e-mail both taken is ErrUsernameTaken", func(t *testing.T) {
		s := newStore(t)
		// The colliding keys belong to two different users, so no store can
		// report the username merely because it met that index first.
		byName := NewUser("ivan")
		byMail := NewUser("judy")
		mustCreateUser(t, s, byMail)
		mustCreateUser(t, s, byName)
		dup := NewUser("x")
		dup.UsernameKey = byName.UsernameKey
		dup.EmailKey, dup.UniqueEmailKey = byMail.EmailKey, byMail.UniqueEmailKey
		err := s.CreateUser(t.Context(), dup)
		if !errors.Is(err, core.ErrUsernameTaken) {
			t.Fatalf("CreateUser colliding on both keys = %v, want core.ErrUsernameTaken", err)
		}
		same := NewUser("ivan")
		if err := s.CreateUser(t.Context(), same); !errors.Is(err, core.ErrUsernameTaken) {
			t.Fatalf("CreateUser colliding on both keys of one user = %v, want core.ErrUsernameTaken", err)
		}
	})

	t.Run("an empty unique e-mail key never collides", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		var users []core.User
		for i := range 5 {
			u := NewUser(fmt.Sprintf("nomail%d", i))
			u.Email, u.EmailKey, u.UniqueEmailKey = "", "", ""
			users = append(users, u)
		}
		for i := range 3 {
			u := NewUser(fmt.Sprintf("shared%d", i))
			u.Email, u.EmailKey, u.UniqueEmailKey = "Shared@example.com", "shared@example.com", ""
			users = append(users, u)
		}
		// Uniqueness holds among the non-empty unique keys only: an address
		// others registered while e-mails were not unique can still be
		// claimed uniquely once.
		claim := NewUser("claimer")
		claim.Email, claim.EmailKey, claim.UniqueEmailKey = "shared@example.com", "shared@example.com", "shared@example.com"
		users = append(users, claim)
		for _, u := range users {
			mustCreateUser(t, s, u)
		}
		for _, u := range users {
			got, err := s.FindUser(ctx, core.ByID, u.ID)
			if err != nil {
				t.Fatalf("FindUser(%q): %v", u.ID, err)
			}
			checkUser(t, got, u)
		}
		if _, err := s.FindUser(ctx, core.ByEmailKey, "shared@example.com"); !errors.Is(err, core.ErrAmbiguous) {
			t.Errorf("FindUser by an e-mail key four users share = %v, want core.ErrAmbiguous", err)
		}
		second := NewUser("claimer2")
		second.EmailKey, second.UniqueEmailKey = claim.EmailKey, claim.UniqueEmailKey
		if err := s.CreateUser(ctx, second); !errors.Is(err, core.ErrEmailTaken) {
			t.Errorf("second unique claim of an address = %v, want core.ErrEmailTaken", err)
		}
	})

	t.Run("a rejected create stores nothing and records no event", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		first := NewUser("mallory")
		firstEvent := NewEvent(core.EventUserRegistered, first, storeEpoch)
		mustCreateUser(t, s, first, firstEvent)

		byName := NewUser("mallory")
		byName.EmailKey, byName.UniqueEmailKey = "other@example.com", "other@example.com"
		byMail := NewUser("niaj")
		byMail.EmailKey, byMail.UniqueEmailKey = first.EmailKey, first.UniqueEmailKey
		for _, dup := range []core.User{byName, byMail} {
			ev := NewEvent(core.EventUserRegistered, dup, storeEpoch)
			if err := s.CreateUser(ctx, dup, ev); err == nil {
				t.Fatalf("CreateUser(%q) colliding with an existing user succeeded", dup.ID)
			}
			if _, err := s.FindUser(ctx, core.ByID, dup.ID); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("rejected user %q: FindUser by id = %v, want core.ErrNotFound", dup.ID, err)
			}
		}
		if _, err := s.FindUser(ctx, core.ByEmailKey, "other@example.com"); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("rejected user's e-mail key: FindUser = %v, want core.ErrNotFound", err)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), firstEvent)
		checkBacklog(t, s, 1, firstEvent.OccurredAt)
	})
}

func storeOutbox(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("recorded events are pending in record order with every field intact", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		a := NewUser("olivia")
		b := NewUser("peggy")
		a1 := NewEvent(core.EventUserRegistered, a, storeEpoch)
		a2 := NewEvent("custom_signal", a, storeEpoch.Add(time.Second))
		a2.Version = 7
		a2.Request = core.RequestInfo{ID: "r-ü", RemoteAddr: "[2001:db8::1]:443", UserAgent: ""}
		b1 := NewEvent(core.EventUserRegistered, b, storeEpoch.Add(2*time.Second))
		// IDs that sort against record order, so that order by ID fails.
		a1.ID, a2.ID, b1.ID = "z-"+a1.ID, "y-"+a2.ID, "x-"+b1.ID
		mustCreateUser(t, s, a, a1, a2)
		mustCreateUser(t, s, b, b1)
		activated := a
		activated.IsActive = true
		a3 := NewEvent(core.EventUserActivated, activated, storeEpoch.Add(3*time.Second))
		a3.ID = "w-" + a3.ID
		if ok, err := s.ActivateUser(ctx, a.ID, a3); err != nil || !ok {
			t.Fatalf("ActivateUser = %v, %v; want true, nil", ok, err)
		}
		now := storeEpoch.Add(time.Minute)
		checkPending(t, s, now, a1, a2, b1, a3)

		got, err := s.PendingEvents(ctx, now, 2)
		if err != nil {
			t.Fatalf("PendingEvents(limit 2): %v", err)
		}
		checkEventList(t, got, a1, a2)
	})

	t.Run("events are pending only once available", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("rupert")
		ev := NewEvent(core.EventUserRegistered, u, storeEpoch)
		ev.AvailableAt = storeEpoch.Add(10 * time.Second)
		mustCreateUser(t, s, u, ev)
		checkPending(t, s, storeEpoch.Add(9*time.Second))
		checkPending(t, s, storeEpoch.Add(10*time.Second), ev)
	})

	t.Run("completing a user's mail releases its held events at once", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		held := NewUser("sybil")
		held.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: storeEpoch.Add(time.Minute)}
		other := NewUser("trent")
		other.Mail = held.Mail
		h1 := NewEvent(core.EventUserRegistered, held, storeEpoch)
		h1.AvailableAt = storeEpoch.Add(24 * time.Hour)
		o1 := NewEvent(core.EventUserRegistered, other, storeEpoch.Add(time.Second))
		o1.AvailableAt = storeEpoch.Add(24 * time.Hour)
		mustCreateUser(t, s, held, h1)
		mustCreateUser(t, s, other, o1)
		now := storeEpoch.Add(time.Minute)
		checkPending(t, s, now)
		if err := s.CompleteMail(ctx, held.ID, core.MailVerification, held.Mail.DueAt, now); err != nil {
			t.Fatalf("CompleteMail: %v", err)
		}
		checkPending(t, s, now, h1)
		// Giving a mail up releases the events too: the user exists.
		if err := s.CompleteMail(ctx, other.ID, core.MailVerification, other.Mail.DueAt, time.Time{}); err != nil {
			t.Fatalf("CompleteMail (given up): %v", err)
		}
		checkPending(t, s, now, h1, o1)
	})

	t.Run("published events are no longer pending", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		var events []core.Event
		for i := range 3 {
			u := NewUser(fmt.Sprintf("pub%d", i))
			ev := NewEvent(core.EventUserRegistered, u, storeEpoch.Add(time.Duration(i)*time.Second))
			mustCreateUser(t, s, u, ev)
			events = append(events, ev)
		}
		if err := s.MarkPublished(ctx, events[0].ID, events[2].ID, "unknown-event-id"); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), events[1])
		checkBacklog(t, s, 1, events[1].OccurredAt)
		if err := s.MarkPublished(ctx); err != nil {
			t.Fatalf("MarkPublished with no ids: %v", err)
		}
		if err := s.MarkPublished(ctx, events[0].ID); err != nil {
			t.Fatalf("MarkPublished of an already published event: %v", err)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), events[1])
	})

	t.Run("the backlog counts unpublished events, held ones too, and gives the oldest", func(t *testing.T) {
		s := newStore(t)
		checkBacklog(t, s, 0, time.Time{})
		late := NewUser("uma")
		early := NewUser("victor")
		lateEv := NewEvent(core.EventUserRegistered, late, storeEpoch.Add(time.Hour))
		earlyEv := NewEvent(core.EventUserRegistered, early, storeEpoch)
		earlyEv.AvailableAt = storeEpoch.Add(48 * time.Hour)
		mustCreateUser(t, s, late, lateEv)
		mustCreateUser(t, s, early, earlyEv)
		checkBacklog(t, s, 2, earlyEv.OccurredAt)
		if err := s.MarkPublished(t.Context(), earlyEv.ID, lateEv.ID); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		checkBacklog(t, s, 0, time.Time{})
	})
}

func storeActivation(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("activation releases the user's held events so they keep their order", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("ordered")
		reg := NewEvent(core.EventUserRegistered, u, storeEpoch)
		reg.AvailableAt = storeEpoch.Add(5 * time.Minute)
		other := NewUser("still-held")
		oreg := NewEvent(core.EventUserRegistered, other, storeEpoch)
		oreg.AvailableAt = storeEpoch.Add(5 * time.Minute)
		mustCreateUser(t, s, u, reg)
		mustCreateUser(t, s, other, oreg)
		at := storeEpoch.Add(time.Minute)
		act := NewEvent(core.EventUserActivated, u, at)
		if ok, err := s.ActivateUser(t.Context(), u.ID, act); err != nil || !ok {
			t.Fatalf("ActivateUser = %v, %v; want true, nil", ok, err)
		}
		checkPending(t, s, at, reg, act)
	})

	t.Run("activation succeeds once and records its events only then", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("walter")
		reg := NewEvent(core.EventUserRegistered, u, storeEpoch)
		mustCreateUser(t, s, u, reg)

		active := u
		active.IsActive = true
		first := NewEvent(core.EventUserActivated, active, storeEpoch.Add(time.Second))
		ok, err := s.ActivateUser(ctx, u.ID, first)
		if err != nil || !ok {
			t.Fatalf("first ActivateUser = %v, %v; want true, nil", ok, err)
		}
		got, err := s.FindUser(ctx, core.ByID, u.ID)
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		checkUser(t, got, active)

		second := NewEvent(core.EventUserActivated, active, storeEpoch.Add(2*time.Second))
		ok, err = s.ActivateUser(ctx, u.ID, second)
		if err != nil || ok {
			t.Fatalf("second ActivateUser = %v, %v; want false, nil", ok, err)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), reg, first)
		checkBacklog(t, s, 2, reg.OccurredAt)
	})

	t.Run("a user created active is not activated again", func(t *testing.T) {
		s := newStore(t)
		u := NewUser("xavier")
		u.IsActive = true
		mustCreateUser(t, s, u)
		ok, err := s.ActivateUser(t.Context(), u.ID, NewEvent(core.EventUserActivated, u, storeEpoch))
		if err != nil || ok {
			t.Fatalf("ActivateUser on an active user = %v, %v; want false, nil", ok, err)
		}
		checkBacklog(t, s, 0, time.Time{})
	})

	t.Run("activating an unknown user is ErrNotFound and records nothing", func(t *testing.T) {
		s := newStore(t)
		ghost := NewUser("ghost")
		ok, err := s.ActivateUser(t.Context(), ghost.ID, NewEvent(core.EventUserActivated, ghost, storeEpoch))
		if !errors.Is(err, core.ErrNotFound) || ok {
			t.Fatalf("ActivateUser on an unknown user = %v, %v; want false, core.ErrNotFound", ok, err)
		}
		checkBacklog(t, s, 0, time.Time{})
	})
}

func storeDeletion(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("deleting an inactive user removes it and its unpublished events", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		gone := NewUser("yvonne")
		kept := NewUser("zed")
		goneEv := NewEvent(core.EventUserRegistered, gone, storeEpoch)
		goneEv.AvailableAt = storeEpoch.Add(time.Hour)
		keptEv := NewEvent(core.EventUserRegistered, kept, storeEpoch.Add(time.Second))
		mustCreateUser(t, s, gone, goneEv)
		mustCreateUser(t, s, kept, keptEv)

		if err := s.DeleteInactiveUser(ctx, gone.ID); err != nil {
			t.Fatalf("DeleteInactiveUser: %v", err)
		}
		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByID, gone.ID}, {core.ByUsernameKey, gone.UsernameKey}, {core.ByEmailKey, gone.EmailKey}} {
			if _, err := s.FindUser(ctx, by.field, by.key); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("deleted user: FindUser(%s) = %v, want core.ErrNotFound", by.field, err)
			}
		}
		checkPending(t, s, storeEpoch.Add(2*time.Hour), keptEv)
		checkBacklog(t, s, 1, keptEv.OccurredAt)
		if _, err := s.FindUser(ctx, core.ByID, kept.ID); err != nil {
			t.Errorf("the other user is gone too: %v", err)
		}

		// The undone registration frees its username and e-mail again.
		again := NewUser("yvonne")
		if err := s.CreateUser(ctx, again); err != nil {
			t.Fatalf("re-registering a deleted user's username and e-mail: %v", err)
		}
		if err := s.DeleteInactiveUser(ctx, gone.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("deleting a deleted user again = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("deleting an active user is ErrNotFound and removes nothing", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("amber")
		reg := NewEvent(core.EventUserRegistered, u, storeEpoch)
		mustCreateUser(t, s, u, reg)
		active := u
		active.IsActive = true
		act := NewEvent(core.EventUserActivated, active, storeEpoch.Add(time.Second))
		if ok, err := s.ActivateUser(ctx, u.ID, act); err != nil || !ok {
			t.Fatalf("ActivateUser = %v, %v; want true, nil", ok, err)
		}
		if err := s.DeleteInactiveUser(ctx, u.ID); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("DeleteInactiveUser on an active user = %v, want core.ErrNotFound", err)
		}
		got, err := s.FindUser(ctx, core.ByID, u.ID)
		if err != nil {
			t.Fatalf("active user removed: %v", err)
		}
		checkUser(t, got, active)
		checkPending(t, s, storeEpoch.Add(time.Hour), reg, act)
	})

	t.Run("deleting an unknown user is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		if err := s.DeleteInactiveUser(t.Context(), "no-such-user"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("DeleteInactiveUser on an unknown user = %v, want core.ErrNotFound", err)
		}
	})
}

func storeMisc(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("a password hash is replaced and nothing else changes", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("bella")
		other := NewUser("cyril")
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		const newHash = "pbkdf2_sha256$1000000$bmV3c2FsdA$bmV3aGFzaA=="
		if err := s.SetPasswordHash(ctx, u.ID, newHash); err != nil {
			t.Fatalf("SetPasswordHash: %v", err)
		}
		got, err := s.FindUser(ctx, core.ByID, u.ID)
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		want := u
		want.PasswordHash = newHash
		checkUser(t, got, want)
		got, err = s.FindUser(ctx, core.ByID, other.ID)
		if err != nil {
			t.Fatalf("FindUser other: %v", err)
		}
		checkUser(t, got, other)
		if err := s.SetPasswordHash(ctx, "no-such-user", newHash); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("SetPasswordHash on an unknown user = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("token digests map to their users", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		digests := map[string]string{
			strings.Repeat("ab", 32): "user-1",
			strings.Repeat("cd", 32): "user-1",
			strings.Repeat("ef", 32): "user-2",
		}
		for d, id := range digests {
			if err := s.SaveToken(ctx, d, id, storeEpoch); err != nil {
				t.Fatalf("SaveToken: %v", err)
			}
		}
		if err := s.SaveToken(ctx, strings.Repeat("ef", 32), "user-2", storeEpoch.Add(time.Second)); err != nil {
			t.Fatalf("saving a token digest again: %v", err)
		}
		for d, want := range digests {
			got, err := s.UserIDForToken(ctx, d)
			if err != nil || got != want {
				t.Errorf("UserIDForToken(%s…) = %q, %v; want %q, nil", d[:8], got, err, want)
			}
		}
		if _, err := s.UserIDForToken(ctx, strings.Repeat("00", 32)); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("UserIDForToken of an unknown digest = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("ping succeeds on a working store", func(t *testing.T) {
		s := newStore(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func storeVerificationSent(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("the time of the last verification e-mail round-trips, and none is the zero time", func(t *testing.T) {
		s := newStore(t)
		sent := NewUser("mailed")
		sent.VerificationSentAt = storeEpoch.Add(3 * time.Second)
		never := NewUser("unmailed")
		mustCreateUser(t, s, sent)
		mustCreateUser(t, s, never)
		for _, want := range []core.User{sent, never} {
			got, err := s.FindUser(t.Context(), core.ByID, want.ID)
			if err != nil {
				t.Fatalf("FindUser(%q): %v", want.ID, err)
			}
			checkUser(t, got, want)
		}
	})

	t.Run("a verification mail is queued only when none is owed and the last is older than notBefore", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("interval")
		other := NewUser("bystander")
		other.VerificationSentAt = storeEpoch
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		queue := func(at, notBefore time.Time, want bool) {
			t.Helper()
			ok, err := s.QueueVerificationMail(ctx, u.ID, at, notBefore)
			if err != nil || ok != want {
				t.Fatalf("QueueVerificationMail(at %v, notBefore %v) = %v, %v; want %v, nil", at, notBefore, ok, err, want)
			}
		}
		expect := func(sent time.Time, mail core.PendingMail) {
			t.Helper()
			got, err := s.FindUser(ctx, core.ByID, u.ID)
			if err != nil {
				t.Fatalf("FindUser: %v", err)
			}
			want := u
			want.VerificationSentAt, want.Mail = sent, mail
			checkUser(t, got, want)
		}
		first := storeEpoch.Add(time.Minute)
		queue(first, first.Add(-time.Minute), true) // never sent before
		expect(time.Time{}, core.PendingMail{Kind: core.MailVerification, DueAt: first})
		// While it is owed, another request adds nothing.
		queue(first.Add(time.Hour), first.Add(time.Hour), false)
		expect(time.Time{}, core.PendingMail{Kind: core.MailVerification, DueAt: first})
		if err := s.CompleteMail(ctx, u.ID, core.MailVerification, first, first.Add(time.Second)); err != nil {
			t.Fatalf("CompleteMail: %v", err)
		}
		sent := first.Add(time.Second)
		expect(sent, core.PendingMail{})
		// 30 s later with a one-minute interval: too early, nothing changes.
		queue(sent.Add(30*time.Second), sent.Add(-30*time.Second), false)
		expect(sent, core.PendingMail{})
		// 2 minutes later: the previous e-mail is older than the interval.
		second := sent.Add(2 * time.Minute)
		queue(second, second.Add(-time.Minute), true)
		expect(sent, core.PendingMail{Kind: core.MailVerification, DueAt: second})

		got, err := s.FindUser(ctx, core.ByID, other.ID)
		if err != nil {
			t.Fatalf("FindUser other: %v", err)
		}
		checkUser(t, got, other)
	})

	t.Run("queueing for an unknown user is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		ok, err := s.QueueVerificationMail(t.Context(), "no-such-user", storeEpoch, storeEpoch)
		if !errors.Is(err, core.ErrNotFound) || ok {
			t.Fatalf("QueueVerificationMail on an unknown user = %v, %v; want false, core.ErrNotFound", ok, err)
		}
	})
}

func storeCancelled(t *testing.T, newStore func(t *testing.T) ports.Store) {
	s := newStore(t)
	u := NewUser("dora")
	ev := NewEvent(core.EventUserRegistered, u, storeEpoch)
	mustCreateUser(t, s, u, ev)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	fresh := NewUser("edgar")
	imported := NewUser("imported")
	calls := map[string]func() error{
		"CreateUser": func() error {
			return s.CreateUser(ctx, fresh, NewEvent(core.EventUserRegistered, fresh, storeEpoch))
		},
		"FindUser": func() error { _, err := s.FindUser(ctx, core.ByID, u.ID); return err },
		"ActivateUser": func() error {
			_, err := s.ActivateUser(ctx, u.ID, NewEvent(core.EventUserActivated, u, storeEpoch))
			return err
		},
		"DeleteInactiveUser": func() error { return s.DeleteInactiveUser(ctx, u.ID) },
		"SetPasswordHash":    func() error { return s.SetPasswordHash(ctx, u.ID, "x") },
		"QueueVerificationMail": func() error {
			_, err := s.QueueVerificationMail(ctx, u.ID, storeEpoch, storeEpoch)
			return err
		},
		"ClaimMail": func() error { _, err := s.ClaimMail(ctx, storeEpoch.Add(time.Hour), time.Minute, 10); return err },
		"CompleteMail": func() error {
			return s.CompleteMail(ctx, u.ID, core.MailVerification, storeEpoch, storeEpoch)
		},
		"DeferMail": func() error {
			return s.DeferMail(ctx, u.ID, core.MailVerification, storeEpoch, storeEpoch)
		},
		"Ping":           func() error { return s.Ping(ctx) },
		"PendingEvents":  func() error { _, err := s.PendingEvents(ctx, storeEpoch.Add(time.Hour), 10); return err },
		"MarkPublished":  func() error { return s.MarkPublished(ctx, ev.ID) },
		"Backlog":        func() error { _, _, err := s.Backlog(ctx); return err },
		"SaveToken":      func() error { return s.SaveToken(ctx, strings.Repeat("12", 32), u.ID, storeEpoch) },
		"UserIDForToken": func() error { _, err := s.UserIDForToken(ctx, strings.Repeat("12", 32)); return err },
		"FindToken":      func() error { _, _, err := s.FindToken(ctx, strings.Repeat("12", 32)); return err },
		"LatestToken":    func() error { _, err := s.LatestToken(ctx, u.ID); return err },
		"DeleteToken":    func() error { return s.DeleteToken(ctx, strings.Repeat("12", 32)) },
		"DeleteUserTokens": func() error {
			_, err := s.DeleteUserTokens(ctx, u.ID, "")
			return err
		},
		"RecordLogin": func() error {
			return s.RecordLogin(ctx, u.ID, storeEpoch, NewEvent(core.EventUserLoggedIn, u, storeEpoch))
		},
		"Logout": func() error {
			return s.Logout(ctx, strings.Repeat("12", 32), NewEvent(core.EventUserLoggedOut, u, storeEpoch))
		},
		"UpdateProfile": func() error {
			_, err := s.UpdateProfile(ctx, u.ID, core.Profile{Username: "renamed", UsernameKey: "renamed"},
				NewEvent(core.EventUserProfileUpdated, u, storeEpoch))
			return err
		},
		"ChangePassword": func() error {
			_, err := s.ChangePassword(ctx, core.PasswordChange{UserID: u.ID, OldHash: u.PasswordHash, NewHash: "x"},
				NewEvent(core.EventUserPasswordChanged, u, storeEpoch))
			return err
		},
		"ChangeEmail": func() error {
			_, err := s.ChangeEmail(ctx, core.EmailChange{UserID: u.ID, Email: "new@example.org", EmailKey: "new@example.org"},
				[]core.QueuedMail{NewQueuedMail(core.MailEmailChanged, u, storeEpoch)}, NewEvent(core.EventUserChangedEmail, u, storeEpoch))
			return err
		},
		"QueueMail": func() error { return s.QueueMail(ctx, NewQueuedMail(core.MailResetPassword, u, storeEpoch)) },
		"ClaimQueuedMail": func() error {
			_, err := s.ClaimQueuedMail(ctx, storeEpoch.Add(time.Hour), time.Minute, 10)
			return err
		},
		"DeleteQueuedMail": func() error { return s.DeleteQueuedMail(ctx, "mail", storeEpoch) },
		"DeferQueuedMail":  func() error { return s.DeferQueuedMail(ctx, "mail", storeEpoch, storeEpoch) },
		"ImportUser": func() error {
			_, err := s.ImportUser(ctx, imported)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name+" fails", func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- call() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("%s with a cancelled context returned nil", name)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s with a cancelled context did not return", name)
			}
		})
	}

	t.Run("and changes nothing", func(t *testing.T) {
		if _, err := s.FindUser(t.Context(), core.ByID, fresh.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("user created through a cancelled context: FindUser = %v, want core.ErrNotFound", err)
		}
		got, err := s.FindUser(t.Context(), core.ByID, u.ID)
		if err != nil {
			t.Fatalf("user removed through a cancelled context: %v", err)
		}
		checkUser(t, got, u)
		checkPending(t, s, storeEpoch.Add(time.Hour), ev)
		checkNotFound(t, s, imported.ID)
		if mails := claimQueued(t, s, storeEpoch.Add(time.Hour), time.Minute, 10); len(mails) != 0 {
			t.Errorf("mail queued through a cancelled context: %v", queuedIDs(mails))
		}
	})
}

func storeConcurrency(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("of 50 creates of one username exactly one wins", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const n = 50
		users := make([]core.User, n)
		events := make([]core.Event, n)
		for i := range users {
			u := NewUser(fmt.Sprintf("racer%d", i))
			u.Username, u.UsernameKey = "racer", "racer"
			users[i] = u
			events[i] = NewEvent(core.EventUserRegistered, u, storeEpoch)
		}
		errs := make([]error, n)
		runTogether(n, func(i int) { errs[i] = s.CreateUser(ctx, users[i], events[i]) })

		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("both %q and %q were created with one username key", users[winner].ID, users[i].ID)
				}
				winner = i
			case !errors.Is(err, core.ErrUsernameTaken):
				t.Errorf("losing create %d = %v, want core.ErrUsernameTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no create succeeded")
		}
		got, err := s.FindUser(ctx, core.ByUsernameKey, "racer")
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		checkUser(t, got, users[winner])
		for i, u := range users {
			if i == winner {
				continue
			}
			if _, err := s.FindUser(ctx, core.ByID, u.ID); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("losing user %q stored: FindUser = %v", u.ID, err)
			}
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), events[winner])
	})

	t.Run("of 50 activations of one user exactly one wins and records one event", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("target")
		reg := NewEvent(core.EventUserRegistered, u, storeEpoch)
		mustCreateUser(t, s, u, reg)
		active := u
		active.IsActive = true
		const n = 50
		events := make([]core.Event, n)
		for i := range events {
			events[i] = NewEvent(core.EventUserActivated, active, storeEpoch.Add(time.Second))
		}
		won := make([]bool, n)
		errs := make([]error, n)
		runTogether(n, func(i int) { won[i], errs[i] = s.ActivateUser(ctx, u.ID, events[i]) })

		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Errorf("ActivateUser %d: %v", i, errs[i])
			}
			if won[i] {
				if winner >= 0 {
					t.Fatalf("activations %d and %d both returned true", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no activation returned true")
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), reg, events[winner])
	})

	t.Run("of 50 concurrent resend requests of one user exactly one queues a mail", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("resender")
		u.VerificationSentAt = storeEpoch.Add(-time.Hour)
		mustCreateUser(t, s, u)
		const n = 50
		now := storeEpoch
		won := make([]bool, n)
		errs := make([]error, n)
		runTogether(n, func(i int) {
			won[i], errs[i] = s.QueueVerificationMail(ctx, u.ID, now.Add(time.Duration(i)*time.Millisecond), now.Add(-time.Minute))
		})
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("QueueVerificationMail %d: %v", i, errs[i])
			}
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("%d concurrent requests returned true, want exactly 1 (one e-mail per interval)", winners)
		}
	})

	t.Run("of 20 concurrent claims each due mail goes to exactly one", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const users = 30
		for i := range users {
			u := NewUser(fmt.Sprintf("claimed%d", i))
			u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: storeEpoch}
			mustCreateUser(t, s, u)
		}
		const n = 20
		got := make([][]core.User, n)
		errs := make([]error, n)
		runTogether(n, func(i int) {
			got[i], errs[i] = s.ClaimMail(ctx, storeEpoch.Add(time.Second), time.Minute, 5)
		})
		claims := map[string]int{}
		for i := range n {
			if errs[i] != nil {
				t.Errorf("ClaimMail %d: %v", i, errs[i])
			}
			for _, u := range got[i] {
				claims[u.ID]++
			}
		}
		if len(claims) != users {
			t.Errorf("%d distinct mails claimed, want all %d", len(claims), users)
		}
		for id, c := range claims {
			if c != 1 {
				t.Errorf("mail of %s claimed %d times within its lease, want once", id, c)
			}
		}
	})

	t.Run("usernames and e-mails share one namespace under concurrency", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const n = 40
		errs := make([]error, n)
		runTogether(n, func(i int) {
			// Half register the address as an e-mail, half as a username.
			u := NewUser(fmt.Sprintf("racer%d", i))
			if i%2 == 0 {
				u.Email, u.EmailKey, u.UniqueEmailKey = "shared@example.com", "shared@example.com", "shared@example.com"
			} else {
				u.Username, u.UsernameKey, u.UsernameEmailKey = "shared@example.com", fmt.Sprintf("shared@example.com#%d", i), "shared@example.com"
			}
			errs[i] = s.CreateUser(ctx, u)
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, core.ErrUsernameTaken), errors.Is(err, core.ErrEmailTaken):
			default:
				t.Errorf("create %d: %v", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d of %d creates claiming one address won, want exactly 1", wins, n)
		}
	})

	t.Run("200 concurrent creates of distinct users all succeed", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const n = 200
		users := make([]core.User, n)
		events := make([]core.Event, n)
		for i := range users {
			users[i] = NewUser(fmt.Sprintf("crowd%03d", i))
			events[i] = NewEvent(core.EventUserRegistered, users[i], storeEpoch.Add(time.Duration(i)*time.Millisecond))
		}
		errs := make([]error, n)
		runTogether(n, func(i int) { errs[i] = s.CreateUser(ctx, users[i], events[i]) })
		for i, err := range errs {
			if err != nil {
				t.Errorf("CreateUser %d: %v", i, err)
			}
		}
		for _, u := range users {
			got, err := s.FindUser(ctx, core.ByEmailKey, u.EmailKey)
			if err != nil {
				t.Fatalf("FindUser(%q): %v", u.EmailKey, err)
			}
			checkUser(t, got, u)
		}
		pending, err := s.PendingEvents(ctx, storeEpoch.Add(time.Hour), 1000)
		if err != nil {
			t.Fatalf("PendingEvents: %v", err)
		}
		seen := map[string]bool{}
		for _, ev := range pending {
			seen[ev.ID] = true
		}
		for _, ev := range events {
			if !seen[ev.ID] {
				t.Errorf("event %q not pending", ev.ID)
			}
		}
		if len(pending) != n {
			t.Errorf("%d events pending, want %d", len(pending), n)
		}
		checkBacklog(t, s, n, storeEpoch)
	})
}

// runTogether runs f(0) … f(n-1) in n goroutines released together, so that the
// calls overlap as much as the machine allows, and waits for all of them.
func runTogether(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			f(i)
		})
	}
	close(start)
	wg.Wait()
}

func mustCreateUser(t *testing.T, s ports.Store, u core.User, events ...core.Event) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u, events...); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
}

// withinSecond accepts stores that keep times to the millisecond or the
// second; the contract promises the second.
func withinSecond(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return a.Sub(b).Abs() < time.Second
}

func checkUser(t *testing.T, got, want core.User) {
	t.Helper()
	gotAt, wantAt := got.CreatedAt, want.CreatedAt
	gotSent, wantSent := got.VerificationSentAt, want.VerificationSentAt
	gotDue, wantDue := got.Mail.DueAt, want.Mail.DueAt
	gotLogin, wantLogin := got.LastLogin, want.LastLogin
	got.LastLogin, want.LastLogin = time.Time{}, time.Time{}
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	got.VerificationSentAt, want.VerificationSentAt = time.Time{}, time.Time{}
	got.Mail.DueAt, want.Mail.DueAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("user differs:\n got %+v\nwant %+v", got, want)
	}
	if !withinSecond(gotAt, wantAt) {
		t.Errorf("user %q CreatedAt = %v, want %v", want.ID, gotAt, wantAt)
	}
	if !withinSecond(gotSent, wantSent) {
		t.Errorf("user %q VerificationSentAt = %v, want %v", want.ID, gotSent, wantSent)
	}
	if !withinSecond(gotDue, wantDue) {
		t.Errorf("user %q Mail.DueAt = %v, want %v", want.ID, gotDue, wantDue)
	}
	if !withinSecond(gotLogin, wantLogin) {
		t.Errorf("user %q LastLogin = %v, want %v", want.ID, gotLogin, wantLogin)
	}
}

func checkEventList(t *testing.T, got []core.Event, want ...core.Event) {
	t.Helper()
	ids := func(evs []core.Event) []string {
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.ID
		}
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("events = %q, want %q", ids(got), ids(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID {
			t.Fatalf("events = %q, want %q (in this order)", ids(got), ids(want))
		}
		if g.Type != w.Type || g.Version != w.Version || g.User != w.User || g.Request != w.Request {
			t.Errorf("event %q differs:\n got %+v\nwant %+v", w.ID, g, w)
		}
		if !withinSecond(g.OccurredAt, w.OccurredAt) {
			t.Errorf("event %q OccurredAt = %v, want %v", w.ID, g.OccurredAt, w.OccurredAt)
		}
	}
}

func checkPending(t *testing.T, s ports.Store, now time.Time, want ...core.Event) {
	t.Helper()
	got, err := s.PendingEvents(t.Context(), now, 1000)
	if err != nil {
		t.Fatalf("PendingEvents: %v", err)
	}
	checkEventList(t, got, want...)
}

func checkBacklog(t *testing.T, s ports.Store, wantCount int, wantOldest time.Time) {
	t.Helper()
	count, oldest, err := s.Backlog(t.Context())
	if err != nil {
		t.Fatalf("Backlog: %v", err)
	}
	if count != wantCount || !withinSecond(oldest, wantOldest) {
		t.Errorf("Backlog = %d, %v; want %d, %v", count, oldest, wantCount, wantOldest)
	}
}
