package porttest

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// storeAccount checks the account flows after registration: logins and
// logouts, profile, password and e-mail changes, the account mail queue
// and imports.
func storeAccount(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("logins", func(t *testing.T) { storeLogins(t, newStore) })
	t.Run("profile", func(t *testing.T) { storeProfile(t, newStore) })
	t.Run("password", func(t *testing.T) { storePassword(t, newStore) })
	t.Run("e-mail", func(t *testing.T) { storeEmail(t, newStore) })
	t.Run("account mail queue", func(t *testing.T) { storeAccountMail(t, newStore) })
	t.Run("import", func(t *testing.T) { storeImport(t, newStore) })
}

// tokenDigest returns a distinct 64-hex-digit digest per seed.
func tokenDigest(seed string) string { return strings.Repeat(seed, 64/len(seed)) }

// NewQueuedMail returns a mail of kind about u with a unique ID, created at
// storeEpoch and due at due.
func NewQueuedMail(kind core.MailKind, u core.User, due time.Time) core.QueuedMail {
	n := storeSeq.Add(1)
	return core.QueuedMail{
		ID:        fmt.Sprintf("mail-%d-%s", n, kind),
		Kind:      kind,
		UserID:    u.ID,
		Login:     u.Username,
		Address:   "Ünïcode+" + u.Username + "@Example.org",
		CreatedAt: storeEpoch,
		DueAt:     due,
	}
}

func storeLogins(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("a login sets LastLogin, read back by every lookup, and records its events", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("logger")
		u.Username, u.UsernameKey, u.UsernameEmailKey = "Logger@Example.org", "logger@example.org", "logger@example.org"
		u.IsActive = true
		other := NewUser("bystander")
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		checkFound(t, s, u) // never logged in: zero LastLogin

		at := storeEpoch.Add(time.Hour)
		ev := NewEvent(core.EventUserLoggedIn, u, at)
		if err := s.RecordLogin(ctx, u.ID, at, ev); err != nil {
			t.Fatalf("RecordLogin: %v", err)
		}
		want := u
		want.LastLogin = at
		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByID, u.ID}, {core.ByUsernameKey, u.UsernameKey}, {core.ByEmailKey, u.EmailKey}, {core.ByUsernameEmailKey, u.UsernameEmailKey}} {
			got, err := s.FindUser(ctx, by.field, by.key)
			if err != nil {
				t.Fatalf("FindUser(%s, %q): %v", by.field, by.key, err)
			}
			checkUser(t, got, want)
		}
		checkFound(t, s, other)

		later := at.Add(24 * time.Hour)
		ev2 := NewEvent(core.EventUserLoggedIn, u, later)
		if err := s.RecordLogin(ctx, u.ID, later, ev2); err != nil {
			t.Fatalf("second RecordLogin: %v", err)
		}
		want.LastLogin = later
		checkFound(t, s, want)
		checkPending(t, s, later.Add(time.Hour), ev, ev2)
	})

	t.Run("a login of an unknown user is ErrNotFound and records nothing", func(t *testing.T) {
		s := newStore(t)
		ghost := NewUser("ghost")
		err := s.RecordLogin(t.Context(), ghost.ID, storeEpoch, NewEvent(core.EventUserLoggedIn, ghost, storeEpoch))
		if !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("RecordLogin of an unknown user = %v, want core.ErrNotFound", err)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour))
	})

	t.Run("a logout removes exactly its token and records its events", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("leaver")
		u.IsActive = true
		other := NewUser("stayer")
		other.IsActive = true
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		saveTokens(t, s, u.ID, "a1", "a2")
		saveTokens(t, s, other.ID, "b1")

		ev := NewEvent(core.EventUserLoggedOut, u, storeEpoch)
		if err := s.Logout(ctx, tokenDigest("a1"), ev); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		checkTokens(t, s, []string{"a2", "b1"}, []string{"a1"})

		// "" removes none; the events are recorded all the same.
		ev2 := NewEvent(core.EventUserLoggedOut, u, storeEpoch.Add(time.Second))
		if err := s.Logout(ctx, "", ev2); err != nil {
			t.Fatalf("Logout with no token: %v", err)
		}
		checkTokens(t, s, []string{"a2", "b1"}, nil)

		// An unknown or already removed token is ignored.
		ev3 := NewEvent(core.EventUserLoggedOut, u, storeEpoch.Add(2*time.Second))
		if err := s.Logout(ctx, tokenDigest("a1"), ev3); err != nil {
			t.Fatalf("Logout of a removed token: %v", err)
		}
		checkTokens(t, s, []string{"a2", "b1"}, nil)
		checkPending(t, s, storeEpoch.Add(time.Hour), ev, ev2, ev3)
		checkFound(t, s, u)
	})
}

func storeProfile(t *testing.T, newStore func(t *testing.T) ports.Store) {
	profileOf := func(u core.User) core.Profile {
		return core.Profile{Username: u.Username, UsernameKey: u.UsernameKey, UsernameEmailKey: u.UsernameEmailKey,
			FirstName: u.FirstName, LastName: u.LastName}
	}
	apply := func(u core.User, p core.Profile) core.User {
		u.Username, u.UsernameKey, u.UsernameEmailKey = p.Username, p.UsernameKey, p.UsernameEmailKey
		u.FirstName, u.LastName = p.FirstName, p.LastName
		return u
	}

	t.Run("a profile update changes names and keys, returns the user and records its events", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("before")
		u.IsActive = true
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: storeEpoch}
		mustCreateUser(t, s, u)
		if err := s.RecordLogin(ctx, u.ID, storeEpoch.Add(time.Minute)); err != nil {
			t.Fatalf("RecordLogin: %v", err)
		}
		u.LastLogin = storeEpoch.Add(time.Minute)
		p := core.Profile{Username: "Äfter@Example.org", UsernameKey: "äfter@example.org", UsernameEmailKey: "äfter@example.org",
			FirstName: "Nëw 🦊", LastName: ""}
		want := apply(u, p)
		ev := NewEvent(core.EventUserProfileUpdated, want, storeEpoch.Add(time.Second))
		got, err := s.UpdateProfile(ctx, u.ID, p, ev)
		if err != nil {
			t.Fatalf("UpdateProfile: %v", err)
		}
		checkUser(t, got, want)
		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByID, u.ID}, {core.ByUsernameKey, p.UsernameKey}, {core.ByEmailKey, u.EmailKey}, {core.ByUsernameEmailKey, p.UsernameEmailKey}} {
			found, err := s.FindUser(ctx, by.field, by.key)
			if err != nil {
				t.Fatalf("FindUser(%s, %q): %v", by.field, by.key, err)
			}
			checkUser(t, found, want)
		}
		if _, err := s.FindUser(ctx, core.ByUsernameKey, u.UsernameKey); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("FindUser by the old username key = %v, want core.ErrNotFound", err)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), ev)

		// Back to a username without "@": the username e-mail key goes.
		p2 := profileOf(u)
		want2 := apply(want, p2)
		if got, err := s.UpdateProfile(ctx, u.ID, p2); err != nil {
			t.Fatalf("second UpdateProfile: %v", err)
		} else {
			checkUser(t, got, want2)
		}
		if _, err := s.FindUser(ctx, core.ByUsernameEmailKey, p.UsernameEmailKey); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("FindUser by the dropped username e-mail key = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("a profile update keeps the login namespace and a refused one changes nothing", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("mover")
		byName := NewUser("holder")
		byMail := NewUser("mailer")
		byUsernameMail := NewUser("named")
		byUsernameMail.Username, byUsernameMail.UsernameKey, byUsernameMail.UsernameEmailKey = "Named@Example.net", "named@example.net", "named@example.net"
		for _, x := range []core.User{u, byName, byMail, byUsernameMail} {
			mustCreateUser(t, s, x)
		}
		for name, p := range map[string]core.Profile{
			"another user's username": {Username: "HOLDER", UsernameKey: byName.UsernameKey, FirstName: "x"},
			"another user's e-mail": {Username: byMail.Email, UsernameKey: byMail.EmailKey,
				UsernameEmailKey: byMail.UniqueEmailKey, FirstName: "x"},
			"another user's e-mail-shaped username, under another username key": {Username: "named@EXAMPLE.net",
				UsernameKey: "named@EXAMPLE.net", UsernameEmailKey: byUsernameMail.UsernameEmailKey},
		} {
			ev := NewEvent(core.EventUserProfileUpdated, u, storeEpoch)
			_, err := s.UpdateProfile(ctx, u.ID, p, ev)
			if !errors.Is(err, core.ErrUsernameTaken) {
				t.Errorf("UpdateProfile to %s = %v, want core.ErrUsernameTaken", name, err)
			}
			if errors.Is(err, core.ErrEmailTaken) {
				t.Errorf("UpdateProfile to %s also reports core.ErrEmailTaken", name)
			}
		}
		for _, x := range []core.User{u, byName, byMail, byUsernameMail} {
			checkFound(t, s, x)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour))
		if _, err := s.UpdateProfile(ctx, "no-such-user", profileOf(u)); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("UpdateProfile of an unknown user = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("a user may take its own address as username, and its old keys are free afterwards", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("self")
		u.Username, u.UsernameKey, u.UsernameEmailKey = "Old@Elsewhere.org", "old@elsewhere.org", "old@elsewhere.org"
		mustCreateUser(t, s, u)
		own := core.Profile{Username: u.Email, UsernameKey: u.EmailKey, UsernameEmailKey: u.UniqueEmailKey, FirstName: "me"}
		got, err := s.UpdateProfile(ctx, u.ID, own)
		if err != nil {
			t.Fatalf("UpdateProfile to its own address: %v", err)
		}
		checkUser(t, got, apply(u, own))

		// The old username and its e-mail key are free for others now.
		heir := NewUser("heir")
		heir.Email, heir.EmailKey, heir.UniqueEmailKey = "old@elsewhere.org", "old@elsewhere.org", "old@elsewhere.org"
		heir.UsernameKey = "old@elsewhere.org#name"
		mustCreateUser(t, s, heir)
		named := NewUser("named")
		named.UsernameKey = "old@elsewhere.org"
		named.Email, named.EmailKey, named.UniqueEmailKey = "", "", ""
		mustCreateUser(t, s, named)

		// Its address stays its own when the username moves away from it.
		plain := core.Profile{Username: "plain", UsernameKey: "plain"}
		if _, err := s.UpdateProfile(ctx, u.ID, plain); err != nil {
			t.Fatalf("UpdateProfile away from its address: %v", err)
		}
		dup := NewUser("dup")
		dup.EmailKey, dup.UniqueEmailKey = u.EmailKey, u.UniqueEmailKey
		if err := s.CreateUser(ctx, dup); !errors.Is(err, core.ErrEmailTaken) {
			t.Errorf("CreateUser with the address of a user that renamed itself = %v, want core.ErrEmailTaken", err)
		}
		squatter := NewUser("squatter")
		squatter.Email, squatter.EmailKey, squatter.UniqueEmailKey = "", "", ""
		squatter.Username, squatter.UsernameKey, squatter.UsernameEmailKey = u.Email, u.EmailKey, u.UniqueEmailKey
		if err := s.CreateUser(ctx, squatter); !errors.Is(err, core.ErrUsernameTaken) {
			t.Errorf("CreateUser with a username equal to a renamed user's address = %v, want core.ErrUsernameTaken", err)
		}
	})
}

func storePassword(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("a change from a stale hash writes nothing; from the current one it applies", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("pw")
		u.IsActive = true
		mustCreateUser(t, s, u)
		saveTokens(t, s, u.ID, "c1", "c2")

		stale := core.PasswordChange{UserID: u.ID, OldHash: u.PasswordHash + "-stale", NewHash: "pbkdf2_sha256$870000$x$y", RevokeTokens: true}
		ok, err := s.ChangePassword(ctx, stale, NewEvent(core.EventUserPasswordChanged, u, storeEpoch))
		if err != nil || ok {
			t.Fatalf("ChangePassword from a stale hash = %v, %v; want false, nil", ok, err)
		}
		checkFound(t, s, u)
		checkTokens(t, s, []string{"c1", "c2"}, nil)
		checkPending(t, s, storeEpoch.Add(time.Hour))

		// Without RevokeTokens every token stays.
		c := core.PasswordChange{UserID: u.ID, OldHash: u.PasswordHash, NewHash: "pbkdf2_sha256$870000$salt$new"}
		ev := NewEvent(core.EventUserPasswordChanged, u, storeEpoch.Add(time.Second))
		if ok, err := s.ChangePassword(ctx, c, ev); err != nil || !ok {
			t.Fatalf("ChangePassword = %v, %v; want true, nil", ok, err)
		}
		want := u
		want.PasswordHash = c.NewHash
		checkFound(t, s, want)
		checkTokens(t, s, []string{"c1", "c2"}, nil)
		checkPending(t, s, storeEpoch.Add(time.Hour), ev)

		// The old hash is stale now.
		if ok, err := s.ChangePassword(ctx, c); err != nil || ok {
			t.Fatalf("ChangePassword repeated = %v, %v; want false, nil", ok, err)
		}
		checkFound(t, s, want)
	})

	t.Run("revoking tokens keeps the given one and other users' tokens", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("revoker")
		u.IsActive = true
		other := NewUser("untouched")
		other.IsActive = true
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, other)
		saveTokens(t, s, u.ID, "d1", "d2", "d3")
		saveTokens(t, s, other.ID, "e1")
		c := core.PasswordChange{UserID: u.ID, OldHash: u.PasswordHash, NewHash: "!new", RevokeTokens: true, KeepToken: tokenDigest("d2")}
		if ok, err := s.ChangePassword(ctx, c); err != nil || !ok {
			t.Fatalf("ChangePassword = %v, %v; want true, nil", ok, err)
		}
		checkTokens(t, s, []string{"d2", "e1"}, []string{"d1", "d3"})

		// Keeping none removes them all.
		c2 := core.PasswordChange{UserID: u.ID, OldHash: c.NewHash, NewHash: "!newer", RevokeTokens: true}
		if ok, err := s.ChangePassword(ctx, c2); err != nil || !ok {
			t.Fatalf("ChangePassword keeping no token = %v, %v; want true, nil", ok, err)
		}
		checkTokens(t, s, []string{"e1"}, []string{"d2"})
	})

	t.Run("a change of an unknown user is ErrNotFound", func(t *testing.T) {
		s := newStore(t)
		ok, err := s.ChangePassword(t.Context(), core.PasswordChange{UserID: "no-such-user", OldHash: "a", NewHash: "b"})
		if !errors.Is(err, core.ErrNotFound) || ok {
			t.Fatalf("ChangePassword of an unknown user = %v, %v; want false, core.ErrNotFound", ok, err)
		}
	})
}

func storeEmail(t *testing.T, newStore func(t *testing.T) ports.Store) {
	change := func(u core.User, email string) core.EmailChange {
		key := strings.ToLower(email)
		return core.EmailChange{UserID: u.ID, Email: email, EmailKey: key, UniqueEmailKey: key}
	}
	apply := func(u core.User, c core.EmailChange) core.User {
		u.Email, u.EmailKey, u.UniqueEmailKey = c.Email, c.EmailKey, c.UniqueEmailKey
		return u
	}

	t.Run("an e-mail change moves the address and writes its mail and events", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("changer")
		u.IsActive = true
		mustCreateUser(t, s, u)
		c := change(u, "Nëw.Address@example.org")
		want := apply(u, c)
		notice := NewQueuedMail(core.MailEmailChanged, u, storeEpoch)
		notice.Address = u.Email
		ev := NewEvent(core.EventUserChangedEmail, want, storeEpoch)
		ev.OldEmail, ev.NewEmail = u.Email, c.Email
		got, err := s.ChangeEmail(ctx, c, []core.QueuedMail{notice}, ev)
		if err != nil {
			t.Fatalf("ChangeEmail: %v", err)
		}
		checkUser(t, got, want)
		found, err := s.FindUser(ctx, core.ByEmailKey, c.EmailKey)
		if err != nil {
			t.Fatalf("FindUser by the new e-mail key: %v", err)
		}
		checkUser(t, found, want)
		if _, err := s.FindUser(ctx, core.ByEmailKey, u.EmailKey); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("FindUser by the old e-mail key = %v, want core.ErrNotFound", err)
		}
		pending, err := s.PendingEvents(ctx, storeEpoch.Add(time.Hour), 10)
		if err != nil {
			t.Fatalf("PendingEvents: %v", err)
		}
		checkEventList(t, pending, ev)
		if pending[0].OldEmail != ev.OldEmail || pending[0].NewEmail != ev.NewEmail {
			t.Errorf("event addresses = %q → %q, want %q → %q", pending[0].OldEmail, pending[0].NewEmail, ev.OldEmail, ev.NewEmail)
		}
		claimed := claimQueued(t, s, storeEpoch.Add(time.Second), time.Minute, 10)
		checkQueuedIDs(t, claimed, notice)

		// The old address is free for another account now.
		heir := NewUser("heir")
		heir.Email, heir.EmailKey, heir.UniqueEmailKey = u.Email, u.EmailKey, u.UniqueEmailKey
		mustCreateUser(t, s, heir)
	})

	t.Run("an address another user holds is ErrEmailTaken and nothing is written", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("wanter")
		byMail := NewUser("owner")
		byName := NewUser("name")
		byName.Username, byName.UsernameKey, byName.UsernameEmailKey = "Name@Example.net", "name@example.net", "name@example.net"
		for _, x := range []core.User{u, byMail, byName} {
			mustCreateUser(t, s, x)
		}
		for name, c := range map[string]core.EmailChange{
			"another user's e-mail":              change(u, byMail.Email),
			"another user's e-mail-shaped login": change(u, "NAME@example.net"),
		} {
			ev := NewEvent(core.EventUserChangedEmail, u, storeEpoch)
			_, err := s.ChangeEmail(ctx, c, []core.QueuedMail{NewQueuedMail(core.MailEmailChanged, u, storeEpoch)}, ev)
			if !errors.Is(err, core.ErrEmailTaken) {
				t.Errorf("ChangeEmail to %s = %v, want core.ErrEmailTaken", name, err)
			}
		}
		for _, x := range []core.User{u, byMail, byName} {
			checkFound(t, s, x)
		}
		checkPending(t, s, storeEpoch.Add(time.Hour))
		if got := claimQueued(t, s, storeEpoch.Add(time.Hour), time.Minute, 10); len(got) != 0 {
			t.Errorf("refused changes queued mail: %v", queuedIDs(got))
		}
		if _, err := s.ChangeEmail(ctx, change(core.User{ID: "no-such-user"}, "x@example.org"), nil); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("ChangeEmail of an unknown user = %v, want core.ErrNotFound", err)
		}
	})

	t.Run("its own login and a non-unique address are free to take", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("own")
		u.Username, u.UsernameKey, u.UsernameEmailKey = "Own@Example.net", "own@example.net", "own@example.net"
		shared := NewUser("sharer")
		shared.UniqueEmailKey = ""
		mustCreateUser(t, s, u)
		mustCreateUser(t, s, shared)
		c := change(u, "own@example.net")
		got, err := s.ChangeEmail(ctx, c, nil)
		if err != nil {
			t.Fatalf("ChangeEmail to its own username: %v", err)
		}
		u = apply(u, c)
		checkUser(t, got, u)

		// Without unique e-mails an address may be shared.
		nonUnique := core.EmailChange{UserID: u.ID, Email: shared.Email, EmailKey: shared.EmailKey}
		got, err = s.ChangeEmail(ctx, nonUnique, nil)
		if err != nil {
			t.Fatalf("ChangeEmail to a shared address without uniqueness: %v", err)
		}
		u = apply(u, nonUnique)
		checkUser(t, got, u)
		if _, err := s.FindUser(ctx, core.ByEmailKey, shared.EmailKey); !errors.Is(err, core.ErrAmbiguous) {
			t.Errorf("FindUser by a shared e-mail key = %v, want core.ErrAmbiguous", err)
		}
		// The username still holds its e-mail key.
		dup := NewUser("dup")
		dup.Email, dup.EmailKey, dup.UniqueEmailKey = "own@example.net", "own@example.net", "own@example.net"
		if err := s.CreateUser(ctx, dup); !errors.Is(err, core.ErrEmailTaken) {
			t.Errorf("CreateUser with another user's e-mail-shaped username as address = %v, want core.ErrEmailTaken", err)
		}
	})

	t.Run("deleting an inactive user removes its queued mail", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		gone := NewUser("gone")
		kept := NewUser("kept")
		mustCreateUser(t, s, gone)
		mustCreateUser(t, s, kept)
		goneMail := NewQueuedMail(core.MailResetPassword, gone, storeEpoch)
		keptMail := NewQueuedMail(core.MailResetPassword, kept, storeEpoch)
		for _, m := range []core.QueuedMail{goneMail, keptMail} {
			if err := s.QueueMail(ctx, m); err != nil {
				t.Fatalf("QueueMail: %v", err)
			}
		}
		if err := s.DeleteInactiveUser(ctx, gone.ID); err != nil {
			t.Fatalf("DeleteInactiveUser: %v", err)
		}
		checkQueuedIDs(t, claimQueued(t, s, storeEpoch.Add(time.Second), time.Minute, 10), keptMail)
	})
}

func storeAccountMail(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("due mails are claimed earliest first, leased, counted and intact", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("reader")
		late := NewQueuedMail(core.MailRegisterEmail, u, storeEpoch.Add(2*time.Second))
		early := NewQueuedMail(core.MailResetPassword, u, storeEpoch)
		early.UserID, early.Login = "", "Somebody@Exämple.org"
		middle := NewQueuedMail(core.MailEmailChanged, u, storeEpoch.Add(time.Second))
		future := NewQueuedMail(core.MailResetPassword, u, storeEpoch.Add(time.Hour))
		// IDs that sort against due order, so that order by ID fails.
		early.ID, middle.ID, late.ID = "z-"+early.ID, "y-"+middle.ID, "x-"+late.ID
		for _, m := range []core.QueuedMail{late, early, future, middle} {
			if err := s.QueueMail(ctx, m); err != nil {
				t.Fatalf("QueueMail: %v", err)
			}
		}
		now := storeEpoch.Add(time.Minute)
		lease := 30 * time.Second
		got := claimQueued(t, s, now, lease, 2)
		checkQueuedIDs(t, got, early, middle)
		for i, want := range []core.QueuedMail{early, middle} {
			want.DueAt, want.Attempts = now.Add(lease), 1
			checkQueued(t, got[i], want)
		}
		// Leased: nobody else gets them until the lease ends.
		checkQueuedIDs(t, claimQueued(t, s, now.Add(29*time.Second), lease, 10), late)
		if got := claimQueued(t, s, now.Add(29*time.Second), lease, 10); len(got) != 0 {
			t.Fatalf("ClaimQueuedMail within the leases = %v, want none", queuedIDs(got))
		}
		if got := claimQueued(t, s, now, lease, 0); len(got) != 0 {
			t.Fatalf("ClaimQueuedMail with limit 0 = %v, want none", queuedIDs(got))
		}
		// A lease that ended hands the mail out again, on its 2nd attempt.
		// Both are due at one instant now, so their order is free.
		again := claimQueued(t, s, now.Add(31*time.Second), lease, 10)
		sort.Slice(again, func(i, j int) bool { return again[i].ID < again[j].ID })
		checkQueuedIDs(t, again, middle, early)
		for _, m := range again {
			if m.Attempts != 2 {
				t.Errorf("mail %s reclaimed with %d attempts, want 2", m.ID, m.Attempts)
			}
		}
	})

	t.Run("delete and defer act only on the claim that still holds the mail", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("owner")
		a := NewQueuedMail(core.MailResetPassword, u, storeEpoch)
		b := NewQueuedMail(core.MailResetPassword, u, storeEpoch.Add(time.Millisecond))
		for _, m := range []core.QueuedMail{a, b} {
			if err := s.QueueMail(ctx, m); err != nil {
				t.Fatalf("QueueMail: %v", err)
			}
		}
		now := storeEpoch.Add(time.Second)
		first := claimQueued(t, s, now, time.Minute, 10)
		checkQueuedIDs(t, first, a, b)
		// A claim whose lease ended was taken over: its delete is stale.
		second := claimQueued(t, s, now.Add(2*time.Minute), time.Minute, 10)
		checkQueuedIDs(t, second, a, b)
		if err := s.DeleteQueuedMail(ctx, a.ID, first[0].DueAt); err != nil {
			t.Fatalf("stale DeleteQueuedMail: %v", err)
		}
		if err := s.DeferQueuedMail(ctx, b.ID, first[1].DueAt, now); err != nil {
			t.Fatalf("stale DeferQueuedMail: %v", err)
		}
		// Both still leased by the second claim: nothing due before it ends.
		if got := claimQueued(t, s, now.Add(2*time.Minute+59*time.Second), time.Minute, 10); len(got) != 0 {
			t.Fatalf("stale delete or defer changed the mails: claimed %v", queuedIDs(got))
		}
		if err := s.DeleteQueuedMail(ctx, a.ID, second[0].DueAt); err != nil {
			t.Fatalf("DeleteQueuedMail: %v", err)
		}
		next := now.Add(10 * time.Minute)
		if err := s.DeferQueuedMail(ctx, b.ID, second[1].DueAt, next); err != nil {
			t.Fatalf("DeferQueuedMail: %v", err)
		}
		if got := claimQueued(t, s, next.Add(-time.Second), time.Minute, 10); len(got) != 0 {
			t.Fatalf("ClaimQueuedMail before the deferred time = %v, want none", queuedIDs(got))
		}
		third := claimQueued(t, s, next, time.Minute, 10)
		checkQueuedIDs(t, third, b)
		if third[0].Attempts != 3 {
			t.Errorf("deferred mail claimed with %d attempts, want 3", third[0].Attempts)
		}
		// Unknown ids are ignored.
		if err := s.DeleteQueuedMail(ctx, "no-such-mail", storeEpoch); err != nil {
			t.Errorf("DeleteQueuedMail of an unknown mail: %v", err)
		}
		if err := s.DeferQueuedMail(ctx, "no-such-mail", storeEpoch, next); err != nil {
			t.Errorf("DeferQueuedMail of an unknown mail: %v", err)
		}
	})
}

func storeImport(t *testing.T, newStore func(t *testing.T) ports.Store) {
	imported := func(name string) core.User {
		u := NewUser(name)
		u.PasswordHash = "pbkdf2_sha256$870000$c2FsdA$" + name + "="
		u.IsActive = true
		u.CreatedAt = time.Date(2019, time.July, 4, 10, 11, 12, 345678000, time.UTC)
		u.LastLogin = time.Date(2024, time.December, 31, 23, 59, 58, 999999000, time.UTC)
		return u
	}

	t.Run("an import creates the user with its id, fields and tokens and records no event", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := imported("django")
		u.Username, u.UsernameKey, u.UsernameEmailKey = "Django@Example.com", "django@example.com", "django@example.com"
		tok := core.Token{Digest: tokenDigest("f1"), UserID: u.ID, CreatedAt: time.Date(2023, time.May, 6, 7, 8, 9, 0, time.UTC)}
		created, err := s.ImportUser(ctx, u, tok)
		if err != nil || !created {
			t.Fatalf("ImportUser = %v, %v; want true, nil", created, err)
		}
		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByID, u.ID}, {core.ByUsernameKey, u.UsernameKey}, {core.ByEmailKey, u.EmailKey}, {core.ByUsernameEmailKey, u.UsernameEmailKey}} {
			got, err := s.FindUser(ctx, by.field, by.key)
			if err != nil {
				t.Fatalf("FindUser(%s, %q): %v", by.field, by.key, err)
			}
			checkUser(t, got, u)
			// Django's times are exact; every store keeps milliseconds.
			for _, at := range [][2]time.Time{{got.CreatedAt, u.CreatedAt}, {got.LastLogin, u.LastLogin}} {
				if d := at[0].Sub(at[1]).Abs(); d >= time.Millisecond {
					t.Errorf("imported time read back as %v, want %v", at[0], at[1])
				}
			}
		}
		gotTok, gotUser, err := s.FindToken(ctx, tok.Digest)
		if err != nil {
			t.Fatalf("FindToken of an imported token: %v", err)
		}
		if gotTok.UserID != u.ID || !withinSecond(gotTok.CreatedAt, tok.CreatedAt) {
			t.Errorf("imported token = %+v, want %+v", gotTok, tok)
		}
		checkUser(t, gotUser, u)
		checkPending(t, s, storeEpoch.Add(time.Hour))
		if n, _, err := s.Backlog(ctx); err != nil || n != 0 {
			t.Errorf("Backlog after an import = %d, %v; want 0", n, err)
		}
		// An imported inactive user with an unusable password round-trips.
		v := imported("inactive")
		v.IsActive, v.PasswordHash, v.LastLogin = false, core.UnusablePassword, time.Time{}
		if created, err := s.ImportUser(ctx, v); err != nil || !created {
			t.Fatalf("ImportUser (inactive) = %v, %v; want true, nil", created, err)
		}
		checkFound(t, s, v)
	})

	t.Run("a second import of one id updates it once, keeps its mail and events, and adds new tokens", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("existing")
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: storeEpoch}
		reg := NewEvent(core.EventUserRegistered, u, storeEpoch)
		mustCreateUser(t, s, u, reg)
		first := core.Token{Digest: tokenDigest("a7"), UserID: u.ID, CreatedAt: storeEpoch}
		if created, err := s.ImportUser(ctx, withMail(u, core.PendingMail{}), first); err != nil || created {
			t.Fatalf("ImportUser over an existing user = %v, %v; want false, nil", created, err)
		}

		again := imported("renamed")
		again.ID = u.ID
		again.Username, again.UsernameKey, again.UsernameEmailKey = "Renamed@Example.org", "renamed@example.org", "renamed@example.org"
		second := core.Token{Digest: tokenDigest("b7"), UserID: u.ID, CreatedAt: storeEpoch.Add(time.Hour)}
		firstAgain := first
		firstAgain.CreatedAt = storeEpoch.Add(48 * time.Hour)
		created, err := s.ImportUser(ctx, again, firstAgain, second)
		if err != nil || created {
			t.Fatalf("second ImportUser = %v, %v; want false, nil", created, err)
		}
		want := again
		want.Mail = u.Mail
		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByID, u.ID}, {core.ByUsernameKey, again.UsernameKey}, {core.ByEmailKey, again.EmailKey}, {core.ByUsernameEmailKey, again.UsernameEmailKey}} {
			got, err := s.FindUser(ctx, by.field, by.key)
			if err != nil {
				t.Fatalf("FindUser(%s, %q): %v", by.field, by.key, err)
			}
			checkUser(t, got, want)
		}
		for _, by := range []struct {
			field core.LookupField
			key   string
		}{{core.ByUsernameKey, u.UsernameKey}, {core.ByEmailKey, u.EmailKey}} {
			if _, err := s.FindUser(ctx, by.field, by.key); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("FindUser(%s, %q) by a replaced key = %v, want core.ErrNotFound", by.field, by.key, err)
			}
		}
		checkPending(t, s, storeEpoch.Add(time.Hour), reg)
		// A token stored once keeps its first record.
		tok, _, err := s.FindToken(ctx, first.Digest)
		if err != nil || !withinSecond(tok.CreatedAt, first.CreatedAt) {
			t.Errorf("FindToken of a token imported twice = %+v, %v; want created %v", tok, err, first.CreatedAt)
		}
		latest, err := s.LatestToken(ctx, u.ID)
		if err != nil || latest.Digest != second.Digest {
			t.Errorf("LatestToken = %+v, %v; want the token added by the second import", latest, err)
		}
		// The replaced address is free again.
		heir := NewUser("heir")
		heir.Email, heir.EmailKey, heir.UniqueEmailKey = u.Email, u.EmailKey, u.UniqueEmailKey
		mustCreateUser(t, s, heir)
	})

	t.Run("an import colliding with another user's keys writes nothing", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		holder := NewUser("holder")
		named := NewUser("named")
		named.Username, named.UsernameKey, named.UsernameEmailKey = "Named@Example.net", "named@example.net", "named@example.net"
		mustCreateUser(t, s, holder)
		mustCreateUser(t, s, named)
		byName := imported("x1")
		byName.UsernameKey = holder.UsernameKey
		byMail := imported("x2")
		byMail.EmailKey, byMail.UniqueEmailKey = holder.EmailKey, holder.UniqueEmailKey
		byLogin := imported("x3")
		byLogin.EmailKey, byLogin.UniqueEmailKey = named.UsernameEmailKey, named.UsernameEmailKey
		byUsernameMail := imported("x4")
		byUsernameMail.Username, byUsernameMail.UsernameKey, byUsernameMail.UsernameEmailKey = holder.Email, holder.EmailKey, holder.UniqueEmailKey
		for _, c := range []struct {
			u    core.User
			want error
		}{{byName, core.ErrUsernameTaken}, {byMail, core.ErrEmailTaken}, {byLogin, core.ErrEmailTaken}, {byUsernameMail, core.ErrUsernameTaken}} {
			tok := core.Token{Digest: tokenDigest(fmt.Sprintf("%02x", storeSeq.Add(1)%256)), UserID: c.u.ID, CreatedAt: storeEpoch}
			if _, err := s.ImportUser(ctx, c.u, tok); !errors.Is(err, c.want) {
				t.Errorf("ImportUser of %s = %v, want %v", c.u.ID, err, c.want)
			}
			checkNotFound(t, s, c.u.ID)
			if _, _, err := s.FindToken(ctx, tok.Digest); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("token of a refused import: FindToken = %v, want core.ErrNotFound", err)
			}
		}
		// A re-import of an existing user onto another's keys changes nothing.
		moved := named
		moved.UsernameKey = holder.UsernameKey
		if _, err := s.ImportUser(ctx, moved); !errors.Is(err, core.ErrUsernameTaken) {
			t.Errorf("re-import onto another user's username = %v, want core.ErrUsernameTaken", err)
		}
		checkFound(t, s, holder)
		checkFound(t, s, named)
	})
}

// withMail returns u owing m.
func withMail(u core.User, m core.PendingMail) core.User {
	u.Mail = m
	return u
}

// storeAccountConcurrency holds the account cases that need atomic
// conditional writes.
func storeAccountConcurrency(t *testing.T, newStore func(t *testing.T) ports.Store) {
	t.Run("of 20 password changes from one hash exactly one applies", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("contended")
		u.IsActive = true
		mustCreateUser(t, s, u)
		const n = 20
		won := make([]bool, n)
		errs := make([]error, n)
		events := make([]core.Event, n)
		for i := range events {
			events[i] = NewEvent(core.EventUserPasswordChanged, u, storeEpoch)
		}
		runTogether(n, func(i int) {
			won[i], errs[i] = s.ChangePassword(ctx, core.PasswordChange{UserID: u.ID, OldHash: u.PasswordHash,
				NewHash: fmt.Sprintf("hash-%d", i)}, events[i])
		})
		winner := -1
		for i := range n {
			if errs[i] != nil {
				t.Errorf("ChangePassword %d: %v", i, errs[i])
			}
			if won[i] {
				if winner >= 0 {
					t.Fatalf("password changes %d and %d both applied from one hash", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no password change applied")
		}
		want := u
		want.PasswordHash = fmt.Sprintf("hash-%d", winner)
		checkFound(t, s, want)
		checkPending(t, s, storeEpoch.Add(time.Hour), events[winner])
	})

	t.Run("of two users changing to one address concurrently exactly one gets it", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		users := []core.User{NewUser("first"), NewUser("second")}
		for _, u := range users {
			mustCreateUser(t, s, u)
		}
		const n = 20
		errs := make([]error, n)
		runTogether(n, func(i int) {
			_, errs[i] = s.ChangeEmail(ctx, core.EmailChange{UserID: users[i%2].ID, Email: "Prize@example.com",
				EmailKey: "prize@example.com", UniqueEmailKey: "prize@example.com"}, nil)
		})
		won := map[string]bool{}
		for i, err := range errs {
			switch {
			case err == nil:
				won[users[i%2].ID] = true
			case !errors.Is(err, core.ErrEmailTaken):
				t.Errorf("ChangeEmail %d = %v, want nil or core.ErrEmailTaken", i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d users got one unique address, want exactly 1", len(won))
		}
		got, err := s.FindUser(ctx, core.ByEmailKey, "prize@example.com")
		if err != nil || !won[got.ID] {
			t.Fatalf("FindUser by the contended address = %q, %v; want the winner", got.ID, err)
		}
	})

	t.Run("of two users renaming to one username concurrently exactly one gets it", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		users := []core.User{NewUser("left"), NewUser("right")}
		for _, u := range users {
			mustCreateUser(t, s, u)
		}
		const n = 20
		errs := make([]error, n)
		runTogether(n, func(i int) {
			_, errs[i] = s.UpdateProfile(ctx, users[i%2].ID, core.Profile{Username: "Crown@example.com",
				UsernameKey: "crown@example.com", UsernameEmailKey: "crown@example.com"})
		})
		won := map[string]bool{}
		for i, err := range errs {
			switch {
			case err == nil:
				won[users[i%2].ID] = true
			case !errors.Is(err, core.ErrUsernameTaken):
				t.Errorf("UpdateProfile %d = %v, want nil or core.ErrUsernameTaken", i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d users got one username, want exactly 1", len(won))
		}
		for _, field := range []core.LookupField{core.ByUsernameKey, core.ByUsernameEmailKey} {
			got, err := s.FindUser(ctx, field, "crown@example.com")
			if err != nil || !won[got.ID] {
				t.Errorf("FindUser(%s) of the contended username = %q, %v; want the winner", field, got.ID, err)
			}
		}
	})

	t.Run("of 20 concurrent claims each queued mail goes to exactly one", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		u := NewUser("mailed")
		const mails = 30
		for i := range mails {
			if err := s.QueueMail(ctx, NewQueuedMail(core.MailResetPassword, u, storeEpoch.Add(time.Duration(i)*time.Millisecond))); err != nil {
				t.Fatalf("QueueMail: %v", err)
			}
		}
		const n = 20
		got := make([][]core.QueuedMail, n)
		errs := make([]error, n)
		runTogether(n, func(i int) {
			got[i], errs[i] = s.ClaimQueuedMail(ctx, storeEpoch.Add(time.Second), time.Minute, 5)
		})
		claims := map[string]int{}
		for i := range n {
			if errs[i] != nil {
				t.Errorf("ClaimQueuedMail %d: %v", i, errs[i])
			}
			for _, m := range got[i] {
				claims[m.ID]++
			}
		}
		if len(claims) != mails {
			t.Errorf("%d distinct mails claimed, want all %d", len(claims), mails)
		}
		for id, c := range claims {
			if c != 1 {
				t.Errorf("mail %s claimed %d times within its lease, want once", id, c)
			}
		}
	})
}

func saveTokens(t *testing.T, s ports.Store, userID string, seeds ...string) {
	t.Helper()
	for i, seed := range seeds {
		if err := s.SaveToken(t.Context(), tokenDigest(seed), userID, storeEpoch.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("SaveToken: %v", err)
		}
	}
}

// checkTokens asserts the tokens of the seeds in present are found and
// those in absent are not.
func checkTokens(t *testing.T, s ports.Store, present, absent []string) {
	t.Helper()
	for _, seed := range present {
		if _, _, err := s.FindToken(t.Context(), tokenDigest(seed)); err != nil {
			t.Errorf("token %s: FindToken = %v, want found", seed, err)
		}
	}
	for _, seed := range absent {
		if _, _, err := s.FindToken(t.Context(), tokenDigest(seed)); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("token %s: FindToken = %v, want core.ErrNotFound", seed, err)
		}
	}
}

func claimQueued(t *testing.T, s ports.Store, now time.Time, lease time.Duration, limit int) []core.QueuedMail {
	t.Helper()
	got, err := s.ClaimQueuedMail(t.Context(), now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimQueuedMail: %v", err)
	}
	return got
}

func queuedIDs(ms []core.QueuedMail) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// checkQueuedIDs asserts got holds the mails of want, in that order.
func checkQueuedIDs(t *testing.T, got []core.QueuedMail, want ...core.QueuedMail) {
	t.Helper()
	if strings.Join(queuedIDs(got), " ") != strings.Join(queuedIDs(want), " ") {
		t.Fatalf("claimed mails = %q, want %q (in this order)", queuedIDs(got), queuedIDs(want))
	}
}

func checkQueued(t *testing.T, got, want core.QueuedMail) {
	t.Helper()
	gotTimes := [2]time.Time{got.CreatedAt, got.DueAt}
	wantTimes := [2]time.Time{want.CreatedAt, want.DueAt}
	got.CreatedAt, got.DueAt, want.CreatedAt, want.DueAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("queued mail differs:\n got %+v\nwant %+v", got, want)
	}
	for i, name := range []string{"CreatedAt", "DueAt"} {
		if !withinSecond(gotTimes[i], wantTimes[i]) {
			t.Errorf("mail %s %s = %v, want %v", want.ID, name, gotTimes[i], wantTimes[i])
		}
	}
}
