package usecase_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// activeFixture is a fixture whose registrations are active at once.
func activeFixture(t *testing.T, configure func(*core.Settings)) *fixture {
	t.Helper()
	return newFixture(t, func(s *core.Settings) {
		s.RegisterVerificationEnabled = false
		if configure != nil {
			configure(s)
		}
	})
}

// session registers username (active) and logs in; it returns the token.
func (f *fixture) session(t *testing.T, username string) string {
	t.Helper()
	if _, err := f.store.FindUser(context.Background(), core.ByUsernameKey, username); errors.Is(err, core.ErrNotFound) {
		if _, err := f.reg.Handle(context.Background(), registration(username)); err != nil {
			t.Fatalf("register %s: %v", username, err)
		}
	}
	res, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str(username), Password: core.Str("correct horse battery")})
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return res.Token
}

// principal authenticates token and fails the test when it is refused.
func (f *fixture) principal(t *testing.T, token string) usecase.Principal {
	t.Helper()
	p, err := f.auth.Key(context.Background(), token)
	if err != nil {
		t.Fatalf("token refused: %v", err)
	}
	return p
}

// refused reports the message a token is refused with ("" when accepted).
func (f *fixture) refused(token string) string {
	_, err := f.auth.Key(context.Background(), token)
	var a *core.AuthError
	if errors.As(err, &a) {
		return a.Detail
	}
	return ""
}

func accountFieldErrors(t *testing.T, err error) map[string][]string {
	t.Helper()
	var v *core.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v, want a *core.ValidationError", err)
	}
	if len(v.NonFieldErrors) > 0 || v.ShowNonFieldErrors {
		t.Errorf("non_field_errors shown: %+v", v)
	}
	return v.Fields
}

func TestLoginRecordsLastLoginAndUserLoggedIn(t *testing.T) {
	f := activeFixture(t, nil)
	f.session(t, "ann")
	u, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "ann")
	if err != nil || !u.LastLogin.Equal(f.clock.Now()) {
		t.Fatalf("last_login = %v (%v), want %v", u.LastLogin, err, f.clock.Now())
	}
	if n := eventsOfType(t, f, core.EventUserLoggedIn); n != 1 {
		t.Fatalf("user_logged_in events = %d, want 1", n)
	}
	// A failed login records nothing.
	if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("ann"), Password: core.Str("wrong password")}); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if n := eventsOfType(t, f, core.EventUserLoggedIn); n != 1 {
		t.Fatalf("user_logged_in events after a failed login = %d, want 1", n)
	}
}

func TestAutoLoginIsALogin(t *testing.T) {
	f := newFixture(t, func(s *core.Settings) { s.RegisterVerificationAutoLogin = true })
	if _, err := f.reg.Handle(context.Background(), registration("ann")); err != nil {
		t.Fatal(err)
	}
	res, err := f.verify.Handle(context.Background(), linkInput(t, f.mailer.Messages()[0]))
	if err != nil || res.Token == "" {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if p := f.principal(t, res.Token); p.User.Username != "ann" || p.User.LastLogin.IsZero() {
		t.Fatalf("auto-login principal %+v", p.User)
	}
	if n := eventsOfType(t, f, core.EventUserLoggedIn); n != 1 {
		t.Fatalf("user_logged_in events = %d, want 1", n)
	}
}

func TestEveryLoginGetsAFreshTokenByDefault(t *testing.T) {
	f := activeFixture(t, nil)
	first, second := f.session(t, "ann"), f.session(t, "ann")
	if first == second || !tokenFormat(first) || !tokenFormat(second) {
		t.Fatalf("tokens %q and %q, want two different 40-hex keys", first, second)
	}
	if f.principal(t, first).User.Username != "ann" || f.principal(t, second).User.Username != "ann" {
		t.Fatal("a token does not name its user")
	}
}

func tokenFormat(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// With AUTH_TOKEN_PER_LOGIN=false every login answers DRF's one token per
// user, derived again from what the store keeps (digests only).
func TestOneTokenPerUserIsDerivedAgainOnEveryLogin(t *testing.T) {
	f := activeFixture(t, func(s *core.Settings) { s.AuthTokenPerLogin = false })
	first := f.session(t, "ann")
	f.clock.Advance(time.Hour)
	if again := f.session(t, "ann"); again != first || !tokenFormat(first) {
		t.Fatalf("second login answered %q, want the first token %q", again, first)
	}
	if other := f.session(t, "bob"); other == first {
		t.Fatal("two users share a token")
	}

	// SECRET_KEY changed: the key cannot be derived again, so a new one is
	// issued, and the old one keeps working.
	f.settings.SecretKey = "another-secret-key-after-rotation-0123456789abcdef"
	f.build(t)
	f.clock.Advance(time.Millisecond)
	rotated := f.session(t, "ann")
	if rotated == first || f.refused(first) != "" || f.refused(rotated) != "" {
		t.Fatalf("after the rotation: %q (first %q), refused first %q", rotated, first, f.refused(first))
	}
	if again := f.session(t, "ann"); again != rotated {
		t.Fatalf("the new token is not reused: %q, want %q", again, rotated)
	}

	// A newer token that was not derived (imported from Django) is not
	// reused either, and stays valid.
	u, _ := f.store.FindUser(context.Background(), core.ByUsernameKey, "ann")
	f.clock.Advance(time.Second)
	imported := "8f3a9c21d4e5b6a7980112233445566778899aab"
	if err := f.store.SaveToken(context.Background(), usecase.TokenDigest(imported), u.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	afterImport := f.session(t, "ann")
	if afterImport == imported || afterImport == rotated || f.refused(imported) != "" {
		t.Fatalf("after an imported token: %q", afterImport)
	}
}

func TestTokensExpireAfterAuthTokenTTL(t *testing.T) {
	f := activeFixture(t, func(s *core.Settings) { s.AuthTokenTTL = time.Hour; s.AuthTokenPerLogin = false })
	token := f.session(t, "ann")
	f.clock.Advance(time.Hour - time.Second)
	if msg := f.refused(token); msg != "" {
		t.Fatalf("a token younger than the TTL is refused: %s", msg)
	}
	f.clock.Advance(time.Second)
	if msg := f.refused(token); msg != core.MsgTokenInvalid {
		t.Fatalf("an expired token: %q, want %q", msg, core.MsgTokenInvalid)
	}
	// One-token-per-user mode hands out a fresh one instead of the expired.
	if fresh := f.session(t, "ann"); fresh == token || f.refused(fresh) != "" {
		t.Fatalf("login after expiry answered %q", fresh)
	}
}

func TestLogoutKeepsTheTokenUnlessRevoked(t *testing.T) {
	f := activeFixture(t, nil)
	token := f.session(t, "ann")
	if err := f.logout.Handle(context.Background(), usecase.LogoutInput{Principal: f.principal(t, token)}); err != nil {
		t.Fatal(err)
	}
	if msg := f.refused(token); msg != "" {
		t.Fatalf("logout without revoke_token revoked the token: %s", msg)
	}
	if err := f.logout.Handle(context.Background(), usecase.LogoutInput{Principal: f.principal(t, token), RevokeToken: core.Str("true")}); err != nil {
		t.Fatal(err)
	}
	if msg := f.refused(token); msg != core.MsgTokenInvalid {
		t.Fatalf("revoked token: %q", msg)
	}
	if n := eventsOfType(t, f, core.EventUserLoggedOut); n != 2 {
		t.Fatalf("user_logged_out events = %d, want 2", n)
	}
}

func TestRevokeTokenIsDRFsBooleanField(t *testing.T) {
	f := activeFixture(t, nil)
	for _, c := range []struct {
		v      core.Value
		revoke bool
		err    string
	}{
		{core.Value{}, false, ""},
		{core.Value{Present: true, NotText: true, Bool: true, Text: "true"}, true, ""},
		{core.Value{Present: true, NotText: true, Bool: true, Text: "false"}, false, ""},
		{core.Num("1"), true, ""},
		{core.Num("0"), false, ""},
		{core.Num("1.0"), true, ""},
		{core.Num("2"), false, usecase.MsgInvalidBoolean},
		{core.Str("yes"), true, ""},
		{core.Str("on"), true, ""},
		{core.Str("TRUE"), true, ""},
		{core.Str("1"), true, ""},
		{core.Str("off"), false, ""},
		{core.Str("False"), false, ""},
		{core.Str(""), false, usecase.MsgInvalidBoolean},
		{core.Str(" true"), false, usecase.MsgInvalidBoolean},
		{core.Str("tRuE"), false, usecase.MsgInvalidBoolean},
		{core.Value{Present: true, Null: true}, false, core.MsgNull},
		{core.Value{Present: true, NotText: true}, false, usecase.MsgInvalidBoolean},
	} {
		token := f.session(t, "ann")
		err := f.logout.Handle(context.Background(), usecase.LogoutInput{Principal: f.principal(t, token), RevokeToken: c.v})
		if c.err != "" {
			if got := accountFieldErrors(t, err); !reflect.DeepEqual(got, map[string][]string{"revoke_token": {c.err}}) {
				t.Errorf("%+v: errors %v, want %q", c.v, got, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", c.v, err)
		}
		if revoked := f.refused(token) != ""; revoked != c.revoke {
			t.Errorf("%+v: revoked %v, want %v", c.v, revoked, c.revoke)
		}
	}
}

func TestProfileShowsDRRsPublicFields(t *testing.T) {
	for _, c := range []struct {
		name      string
		configure func(*core.Settings)
		public    []string
		editable  []string
	}{
		{"defaults", nil, []string{"id", "username", "first_name", "last_name", "email"}, []string{"username", "first_name", "last_name"}},
		{"hidden", func(s *core.Settings) { s.UserHiddenFields = []string{"email", "first_name"} },
			[]string{"id", "last_login", "username", "last_name", "is_active", "date_joined"}, []string{"username", "last_name"}},
		// USER_PUBLIC_FIELDS: the model's order, the address always, the
		// hidden fields not consulted.
		{"public", func(s *core.Settings) {
			s.UserPublicFields = []string{"last_name", "username", "date_joined"}
			s.UserHiddenFields = []string{"username"}
		}, []string{"username", "last_name", "email", "date_joined"}, []string{"username", "last_name"}},
		{"editable", func(s *core.Settings) { s.UserEditableFields = []string{"first_name", "email", "id"} },
			[]string{"id", "username", "first_name", "last_name", "email"}, []string{"first_name"}},
		{"editable and hidden", func(s *core.Settings) {
			s.UserEditableFields = []string{"first_name", "last_name"}
			s.UserHiddenFields = []string{"last_name", "last_login", "is_active", "date_joined"}
		}, []string{"id", "username", "first_name", "email"}, []string{"first_name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := testSettings()
			if c.configure != nil {
				c.configure(&s)
			}
			got := usecase.NewProfileFields(s)
			if !slices.Equal(got.Public, c.public) || !slices.Equal(got.Editable, c.editable) {
				t.Errorf("public %v editable %v, want %v %v", got.Public, got.Editable, c.public, c.editable)
			}
		})
	}
}

func TestProfileUpdateFollowsDRFsSerializer(t *testing.T) {
	f := activeFixture(t, nil)
	token := f.session(t, "ann")
	ann := f.principal(t, token)
	f.session(t, "bob")
	// Each request authenticates anew, so it sees the user as stored.
	update := func(partial bool, fields map[string]core.Value) (usecase.ProfileResult, error) {
		return f.profile.Handle(context.Background(), usecase.ProfileInput{Principal: f.principal(t, token), Partial: partial, Fields: fields})
	}
	notText := core.Value{Present: true, NotText: true}

	// PUT needs the username; PATCH does not.
	if _, err := update(false, map[string]core.Value{"first_name": core.Str("Ann")}); !reflect.DeepEqual(accountFieldErrors(t, err), map[string][]string{"username": {core.MsgRequired}}) {
		t.Errorf("PUT without username: %v", err)
	}
	res, err := update(true, map[string]core.Value{
		"first_name": core.Str("  Ann  "), "last_name": core.Num("123"),
		"email": core.Str("evil@example.com"), "id": core.Str("x"), "is_active": core.Str("false"), "is_staff": core.Str("true"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if u := res.User; u.FirstName != "Ann" || u.LastName != "123" || u.Email != "ann@example.com" || u.ID != ann.User.ID || !u.IsActive {
		t.Fatalf("after PATCH: %+v", u)
	}
	if n := eventsOfType(t, f, core.EventUserProfileUpdated); n != 1 {
		t.Fatalf("user_profile_updated events = %d, want 1", n)
	}
	// Nothing changes: nothing is written, no event.
	if _, err := update(true, map[string]core.Value{"first_name": core.Str("Ann")}); err != nil {
		t.Fatal(err)
	}
	if n := eventsOfType(t, f, core.EventUserProfileUpdated); n != 1 {
		t.Fatalf("an update that changed nothing recorded an event (%d)", n)
	}

	// Field errors, all at once, nothing written.
	errs := func(fields map[string]core.Value) map[string][]string {
		_, err := update(false, fields)
		return accountFieldErrors(t, err)
	}
	for name, c := range map[string]struct {
		fields map[string]core.Value
		want   map[string][]string
	}{
		"not strings": {map[string]core.Value{"username": notText, "first_name": {Present: true, NotText: true, Bool: true, Text: "true"}},
			map[string][]string{"username": {core.MsgNotString}, "first_name": {core.MsgNotString}}},
		"taken":                  {map[string]core.Value{"username": core.Str("BOB")}, map[string][]string{"username": {core.MsgUsernameExists}}},
		"another user's address": {map[string]core.Value{"username": core.Str("bob@example.com")}, map[string][]string{"username": {core.MsgUsernameExists}}},
		"invalid":                {map[string]core.Value{"username": core.Str("a b")}, map[string][]string{"username": {core.MsgInvalidUsername}}},
		"blank":                  {map[string]core.Value{"username": core.Str("   ")}, map[string][]string{"username": {core.MsgBlank}}},
		"null":                   {map[string]core.Value{"username": {Present: true, Null: true}, "last_name": {Present: true, Null: true}}, map[string][]string{"username": {core.MsgNull}, "last_name": {core.MsgNull}}},
		"too long": {map[string]core.Value{"username": core.Str("ann"), "first_name": core.Str(longName)},
			map[string][]string{"first_name": {"Ensure this field has no more than 150 characters."}}},
	} {
		if got := errs(c.fields); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if n := eventsOfType(t, f, core.EventUserProfileUpdated); n != 1 {
		t.Fatalf("a rejected update recorded an event (%d)", n)
	}

	// The user's own name in another case, and the user's own address as
	// username, are not taken; the new name is NFKC-normalised and logs in.
	res, err = update(false, map[string]core.Value{"username": core.Str("ANN")})
	if err != nil || res.User.Username != "ANN" {
		t.Fatalf("renaming to ANN: %+v %v", res.User, err)
	}
	res, err = update(false, map[string]core.Value{"username": core.Str("ann@example.com")})
	if err != nil || res.User.Username != "ann@example.com" {
		t.Fatalf("renaming to the own address: %+v %v", res.User, err)
	}
	res, err = update(false, map[string]core.Value{"username": core.Str("ｎｅｗ")})
	if err != nil || res.User.Username != "new" {
		t.Fatalf("renaming to a fullwidth name: %+v %v", res.User, err)
	}
	if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("NEW"), Password: core.Str("correct horse battery")}); err != nil {
		t.Fatalf("login with the new name: %v", err)
	}
	if _, err := f.reg.Handle(context.Background(), registration("new")); err == nil {
		t.Fatal("the new name can still be registered")
	}
}

const longName = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestProfileReadOnlyUsernameIsNotRequired(t *testing.T) {
	f := activeFixture(t, func(s *core.Settings) { s.UserEditableFields = []string{"first_name"} })
	ann := f.principal(t, f.session(t, "ann"))
	res, err := f.profile.Handle(context.Background(), usecase.ProfileInput{Principal: ann, Fields: map[string]core.Value{
		"username": core.Str("renamed"), "first_name": core.Str("Ann")}})
	if err != nil || res.User.Username != "ann" || res.User.FirstName != "Ann" {
		t.Fatalf("PUT with a read-only username: %+v %v", res.User, err)
	}
}

func TestChangePasswordFollowsDRRsSerializer(t *testing.T) {
	f := activeFixture(t, nil)
	token := f.session(t, "ann")
	ann := f.principal(t, token)
	change := func(old, pw, confirm core.Value) error {
		return f.changePassword.Handle(context.Background(), usecase.ChangePasswordInput{Principal: ann, OldPassword: old, Password: pw, PasswordConfirm: confirm})
	}
	const good = "violet-Anchor-7412"
	for name, c := range map[string]struct {
		old, pw, confirm core.Value
		want             map[string][]string
	}{
		"missing": {core.Value{}, core.Value{}, core.Value{}, map[string][]string{
			"old_password": {core.MsgRequired}, "password": {core.MsgRequired}, "password_confirm": {core.MsgRequired}}},
		"wrong old password, blank new": {core.Str("wrong"), core.Str(" "), core.Str(good), map[string][]string{
			"old_password": {usecase.MsgOldPasswordIncorrect}, "password": {core.MsgBlank}}},
		"policy, confirmation skipped": {core.Str("correct horse battery"), core.Str("ann12"), core.Str("different"), map[string][]string{
			"password": {"The password is too similar to the username.", "This password is too short. It must contain at least 8 characters."}}},
		"mismatch": {core.Str("correct horse battery"), core.Str(good), core.Str(good + "x"), map[string][]string{
			"password_confirm": {core.MsgPasswordsMismatch}}},
	} {
		if got := accountFieldErrors(t, change(c.old, c.pw, c.confirm)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	if n := eventsOfType(t, f, core.EventUserPasswordChanged); n != 0 {
		t.Fatalf("rejected changes recorded %d events", n)
	}

	other := f.session(t, "ann")
	// Passwords are trimmed, the old one too.
	if err := change(core.Str(" correct horse battery "), core.Str(" "+good), core.Str(good+" ")); err != nil {
		t.Fatalf("change: %v", err)
	}
	if n := eventsOfType(t, f, core.EventUserPasswordChanged); n != 1 {
		t.Fatalf("user_password_changed events = %d, want 1", n)
	}
	if f.refused(token) != "" || f.refused(other) != core.MsgTokenInvalid {
		t.Fatalf("after the change: own token refused %q, other token refused %q", f.refused(token), f.refused(other))
	}
	if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("ann"), Password: core.Str(good)}); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("ann"), Password: core.Str("correct horse battery")}); err == nil {
		t.Fatal("the old password still logs in")
	}
	// The principal still holds the old hash: the change is refused, as a
	// wrong old password, and changes nothing.
	if got := accountFieldErrors(t, change(core.Str("correct horse battery"), core.Str(good+"2"), core.Str(good+"2"))); !reflect.DeepEqual(got,
		map[string][]string{"old_password": {usecase.MsgOldPasswordIncorrect}}) {
		t.Fatalf("change from a stale hash: %v", got)
	}
}

func TestChangePasswordKeepsOtherTokensInDRRMode(t *testing.T) {
	f := activeFixture(t, func(s *core.Settings) {
		s.ChangePasswordRevokeTokens = false
		s.ChangePasswordSerializerPasswordConfirm = false
	})
	token, other := f.session(t, "ann"), f.session(t, "ann")
	err := f.changePassword.Handle(context.Background(), usecase.ChangePasswordInput{Principal: f.principal(t, token),
		OldPassword: core.Str("correct horse battery"), Password: core.Str("violet-Anchor-7412")})
	if err != nil {
		t.Fatal(err)
	}
	if f.refused(token) != "" || f.refused(other) != "" {
		t.Fatal("a token stopped working with CHANGE_PASSWORD_REVOKE_TOKENS=false")
	}
}

// Of concurrent changes from one password exactly one applies.
func TestConcurrentPasswordChangesApplyOnce(t *testing.T) {
	f := activeFixture(t, nil)
	ann := f.principal(t, f.session(t, "ann"))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := core.Str("violet-Anchor-741" + string(rune('0'+i)))
			errs[i] = f.changePassword.Handle(context.Background(), usecase.ChangePasswordInput{Principal: ann,
				OldPassword: core.Str("correct horse battery"), Password: pw, PasswordConfirm: pw})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok != 1 || eventsOfType(t, f, core.EventUserPasswordChanged) != 1 {
		t.Fatalf("%d changes applied (%v), want exactly 1", ok, errs)
	}
}

func TestChangePasswordIsThrottledPerAccount(t *testing.T) {
	f := activeFixture(t, func(s *core.Settings) { s.ThrottleChangePasswordAccount = "2/hour" })
	f.limiter = memlimit.New(memlimit.Options{})
	f.build(t)
	ann := f.principal(t, f.session(t, "ann"))
	var last error
	for range 3 {
		last = f.changePassword.Handle(context.Background(), usecase.ChangePasswordInput{Principal: ann, OldPassword: core.Str("wrong")})
	}
	var thr *core.ThrottledError
	if !errors.As(last, &thr) {
		t.Fatalf("third change within the hour: %v, want throttled", last)
	}
}
