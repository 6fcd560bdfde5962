package apisuite

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

// The authenticated account API (spec/account-api.md): token
// authentication, logout/, profile/ and change-password/.

// Messages of the account API that no core constant holds.
const (
	msgLogoutSuccessful   = "Logout successful"
	msgPasswordChanged    = "Password changed successfully"
	msgOldPasswordInvalid = "Old password is not correct"
)

// regexpDateTime is DRF's rendering of a UTC date-time.
var regexpDateTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$`)

// newPassword passes Django's four validators for every user in the suite.
const newPassword = "saffron-Kettle-9031"

// authenticated is the header pair that sends token.
func authenticated(token string) []string { return []string{"Authorization", "Token " + token} }

// session registers username (verification must be off) and logs in; it
// returns the token and the user.
func (e env) session(username string) (string, map[string]any) {
	e.t.Helper()
	u := e.register(newUser(username, username+"@example.com"))
	token, _ := e.login(username, password)["token"].(string)
	if !tokenFormat.MatchString(token) {
		e.t.Fatalf("login %s: no token", username)
	}
	return token, u
}

// authJSON sends a JSON body with token.
func (e env) authJSON(method, path, token, body string) response {
	e.t.Helper()
	ct := "application/json"
	if body == "" {
		ct = ""
	}
	return e.do(method, e.api(path), ct, []byte(body), authenticated(token)...)
}

// expectRefused checks a 401 with DRF's message and challenge.
func (r response) expectRefused(t *testing.T, msg string) {
	t.Helper()
	r.expect(t, http.StatusUnauthorized, detailBody(msg))
	if got := r.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != "Token" {
		t.Errorf("WWW-Authenticate %q, want Token", got)
	}
}

// expectNoStore checks that no cache may keep the answer.
func (r response) expectNoStore(t *testing.T, what string) {
	t.Helper()
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
}

var authenticatedPaths = []string{"logout/", "profile/", "change-password/", "logout", "profile", "change-password"}

func testTokenAuthentication(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	token, u := e.session("tess")
	before := e.counts()

	// No credentials: 401 before the method is looked at.
	for _, path := range authenticatedPaths {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			res := e.do(method, e.api(path), "application/json", []byte(`{}`))
			res.expectRefused(t, core.MsgAuthNotProvided)
			res.expectNoStore(t, method+" "+path)
		}
	}
	// DRF's header parsing.
	for header, msg := range map[string]string{
		"":                                core.MsgAuthNotProvided,
		"Basic dGVzczpwdw==":              core.MsgAuthNotProvided,
		"Tokens " + token:                 core.MsgAuthNotProvided,
		"Token":                           core.MsgTokenNoCredentials,
		"Token a b":                       core.MsgTokenHasSpaces,
		"Token " + token + " x":           core.MsgTokenHasSpaces,
		"Token abc":                       core.MsgTokenInvalid,
		"Token " + strings.ToUpper(token): core.MsgTokenInvalid,
		"Token \"" + token + "\"":         core.MsgTokenInvalid,
		"Bearer":                          core.MsgTokenNoCredentials,
	} {
		e.do(http.MethodGet, e.api("profile/"), "", nil, "Authorization", header).expectRefused(t, msg)
	}
	want := `{"id": "` + u["id"].(string) + `", "username": "tess", "first_name": "", "last_name": "", "email": "tess@example.com"}`
	for _, header := range []string{"Token " + token, "token " + token, "TOKEN  " + token, "Bearer " + token, "bearer\t" + token} {
		res := e.do(http.MethodGet, e.api("profile/"), "", nil, "Authorization", header)
		res.expect(t, http.StatusOK, want)
		res.expectNoStore(t, "GET profile/ with "+strings.Fields(header)[0])
	}
	// With a token, a wrong method is a 405 that lists the methods.
	res := e.authJSON(http.MethodDelete, "profile/", token, "")
	res.expect(t, http.StatusMethodNotAllowed, detailBody(`Method "DELETE" not allowed.`))
	if allow := res.Header.Get("Allow"); allow != "GET, POST, PUT, PATCH, HEAD, OPTIONS" {
		t.Errorf("Allow %q", allow)
	}
	e.authJSON(http.MethodGet, "logout/", token, "").expect(t, http.StatusMethodNotAllowed, detailBody(`Method "GET" not allowed.`))

	// An unknown token fails on open endpoints too, valid credentials or not.
	unknown := "Token " + strings.Repeat("0", 40)
	e.do(http.MethodPost, e.api("login/"), "application/json", []byte(`{"login": "tess", "password": "`+password+`"}`), "Authorization", unknown).
		expectRefused(t, core.MsgTokenInvalid)
	e.do(http.MethodPost, e.api("register/"), "application/json", []byte(`{}`), "Authorization", "Token").
		expectRefused(t, core.MsgTokenNoCredentials)
	e.do(http.MethodGet, e.api("login/"), "", nil, "Authorization", unknown).expectRefused(t, core.MsgTokenInvalid)
	// A valid token on an open endpoint: the answer is not cached.
	res = e.do(http.MethodPost, e.api("login/"), "application/json", []byte(`{"login": "tess", "password": "`+password+`"}`), authenticated(token)...)
	if res.Status != http.StatusOK {
		t.Errorf("login with a valid token: %d %s", res.Status, res.Body)
	}
	res.expectNoStore(t, "login/ with a valid token")
	if c := e.counts(); !is(c.users, before.users) || c.mails != before.mails {
		t.Errorf("authentication changed state: %+v → %+v", before, c)
	}
}

func testTokenExpiry(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationEnabled = false
		s.AuthTokenTTL = time.Hour
	})
	now := time.Now()
	e.setNow(now)
	token, _ := e.session("tim")
	e.setNow(now.Add(59 * time.Minute))
	if res := e.authJSON(http.MethodGet, "profile/", token, ""); res.Status != http.StatusOK {
		t.Errorf("a token younger than AUTH_TOKEN_TTL: %d %s", res.Status, res.Body)
	}
	e.setNow(now.Add(61 * time.Minute))
	e.authJSON(http.MethodGet, "profile/", token, "").expectRefused(t, core.MsgTokenInvalid)
}

func testLogout(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	token, u := e.session("lou")
	res := e.authJSON(http.MethodPost, "logout/", token, `{}`)
	res.expect(t, http.StatusOK, detailBody(msgLogoutSuccessful))
	res.expectNoStore(t, "logout/")
	// Without revoke_token the token keeps working, as in DRR.
	if res := e.authJSON(http.MethodGet, "profile/", token, ""); res.Status != http.StatusOK {
		t.Errorf("token after logout without revoke_token: %d", res.Status)
	}
	e.authJSON(http.MethodPost, "logout/", token, `{"revoke_token": "maybe"}`).
		expect(t, http.StatusBadRequest, fieldBody(map[string][]string{"revoke_token": {"Must be a valid boolean."}}))
	e.authJSON(http.MethodPost, "logout/", token, `{"revoke_token": null}`).
		expect(t, http.StatusBadRequest, fieldBody(map[string][]string{"revoke_token": {core.MsgNull}}))
	e.authJSON(http.MethodPost, "logout/", token, `[]`).expect(t, http.StatusBadRequest, nonObject("list"))
	e.authJSON(http.MethodPost, "logout/", token, `{"revoke_token": `).
		expect(t, http.StatusBadRequest, detailBody("JSON parse error - Expecting value: line 1 column 18 (char 17)"))
	other := e.login("lou", password)["token"].(string)
	e.do(http.MethodPost, e.api("logout"), "application/x-www-form-urlencoded", []byte(url.Values{"revoke_token": {"on"}}.Encode()), authenticated(token)...).
		expect(t, http.StatusOK, detailBody(msgLogoutSuccessful))
	e.authJSON(http.MethodGet, "profile/", token, "").expectRefused(t, core.MsgTokenInvalid)
	e.authJSON(http.MethodPost, "logout/", token, `{}`).expectRefused(t, core.MsgTokenInvalid)
	// Revoking one session leaves the others.
	if res := e.authJSON(http.MethodGet, "profile/", other, ""); res.Status != http.StatusOK {
		t.Errorf("another session after a revoke: %d", res.Status)
	}
	e.authJSON(http.MethodPost, "logout/", other, `{"revoke_token": true}`).expect(t, http.StatusOK, detailBody(msgLogoutSuccessful))
	e.authJSON(http.MethodGet, "profile/", other, "").expectRefused(t, core.MsgTokenInvalid)
	if n, seen := e.eventsOf(core.EventUserLoggedOut, u["id"].(string)); seen && n != 3 {
		t.Errorf("user_logged_out events = %d, want 3", n)
	}
	if n, seen := e.eventsOf(core.EventUserLoggedIn, u["id"].(string)); seen && n != 2 {
		t.Errorf("user_logged_in events = %d, want 2", n)
	}
}

func testProfile(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	token, u := e.session("pat")
	e.session("quinn")
	id := u["id"].(string)
	profile := func(username, first, last string) string {
		b, _ := json.Marshal(map[string]string{"id": id, "username": username, "first_name": first, "last_name": last, "email": "pat@example.com"})
		return string(b)
	}
	e.authJSON(http.MethodGet, "profile/", token, "").expect(t, http.StatusOK, profile("pat", "", ""))
	e.authJSON(http.MethodGet, "profile", token, "").expect(t, http.StatusOK, profile("pat", "", ""))

	// Text is trimmed, numbers become text; unknown, read-only and
	// privileged keys are ignored; PATCH is partial.
	res := e.authJSON(http.MethodPatch, "profile/", token,
		`{"first_name": "  Pat ", "last_name": 123, "email": "x@example.com", "id": "1", "is_active": false, "is_staff": true, "password": "x"}`)
	res.expect(t, http.StatusOK, profile("pat", "Pat", "123"))
	res.expectNoStore(t, "PATCH profile/")
	e.authJSON(http.MethodGet, "profile/", token, "").expect(t, http.StatusOK, profile("pat", "Pat", "123"))
	if n, seen := e.eventsOf(core.EventUserProfileUpdated, id); seen && n != 1 {
		t.Errorf("user_profile_updated events = %d, want 1", n)
	}

	before := e.counts()
	notString := []string{core.MsgNotString}
	for _, c := range []struct{ method, body, want string }{
		{http.MethodPut, `{"first_name": "P"}`, fieldBody(map[string][]string{"username": {core.MsgRequired}})},
		{http.MethodPost, `{}`, fieldBody(map[string][]string{"username": {core.MsgRequired}})},
		{http.MethodPatch, `{"first_name": true, "last_name": ["a"], "username": {"a": 1}}`,
			fieldBody(map[string][]string{"first_name": notString, "last_name": notString, "username": notString})},
		{http.MethodPut, `{"username": "QUINN"}`, fieldBody(map[string][]string{"username": {core.MsgUsernameExists}})},
		{http.MethodPut, `{"username": "quinn@example.com"}`, fieldBody(map[string][]string{"username": {core.MsgUsernameExists}})},
		{http.MethodPatch, `{"username": "a b"}`, fieldBody(map[string][]string{"username": {core.MsgInvalidUsername}})},
		{http.MethodPatch, `{"username": null}`, fieldBody(map[string][]string{"username": {core.MsgNull}})},
		{http.MethodPatch, `{"username": "  "}`, fieldBody(map[string][]string{"username": {core.MsgBlank}})},
		{http.MethodPatch, `{"first_name": "` + strings.Repeat("x", 151) + `"}`, fieldBody(map[string][]string{"first_name": {msgTooLong150}})},
		{http.MethodPatch, `42`, nonObject("int")},
	} {
		e.authJSON(c.method, "profile/", token, c.body).expect(t, http.StatusBadRequest, c.want)
	}
	e.unchanged(before, "rejected profile updates")
	e.authJSON(http.MethodGet, "profile/", token, "").expect(t, http.StatusOK, profile("pat", "Pat", "123"))

	// PUT and POST replace; the new name logs in, the old one is free.
	e.authJSON(http.MethodPut, "profile/", token, `{"username": "ｐａｔ２", "first_name": "", "last_name": "Lee"}`).
		expect(t, http.StatusOK, profile("pat2", "", "Lee"))
	e.authJSON(http.MethodPost, "profile/", token, `{"username": "Pat2"}`).expect(t, http.StatusOK, profile("Pat2", "", "Lee"))
	e.do(http.MethodPatch, e.api("profile/"), "application/x-www-form-urlencoded", []byte("first_name=Pat"), authenticated(token)...).
		expect(t, http.StatusOK, profile("Pat2", "Pat", "Lee"))
	e.login("pat2", password)
	e.register(newUser("pat", "pat-again@example.com"))

	// USER_PUBLIC_FIELDS as DRR reads it: the model's order, the address
	// always shown.
	fields := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationEnabled = false
		s.UserPublicFields = []string{"first_name", "last_login", "username"}
		s.UserEditableFields = []string{"first_name"}
	})
	token, _ = fields.session("ray")
	res = fields.authJSON(http.MethodGet, "profile/", token, "")
	var got map[string]any
	if err := json.Unmarshal(res.Body, &got); err != nil || res.Status != http.StatusOK {
		t.Fatalf("profile with USER_PUBLIC_FIELDS: %d %s", res.Status, res.Body)
	}
	lastLogin, _ := got["last_login"].(string)
	if len(got) != 4 || got["username"] != "ray" || got["first_name"] != "" || got["email"] != "ray@example.com" ||
		!regexpDateTime.MatchString(lastLogin) {
		t.Errorf("profile with USER_PUBLIC_FIELDS: %s", res.Body)
	}
	if keys := jsonKeys(res.Body); !slices.Equal(keys, []string{"last_login", "username", "first_name", "email"}) {
		t.Errorf("fields in order %v, want the model's order", keys)
	}
	hidden := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationEnabled = false
		s.UserHiddenFields = []string{"email", "last_name"}
	})
	salToken, _ := hidden.session("sal")
	res = hidden.authJSON(http.MethodGet, "profile/", salToken, "")
	if keys := jsonKeys(res.Body); !slices.Equal(keys, []string{"id", "last_login", "username", "first_name", "is_active", "date_joined"}) {
		t.Errorf("with USER_HIDDEN_FIELDS=email,last_name: %s", res.Body)
	}
	hidden.authJSON(http.MethodPatch, "profile/", salToken, `{"last_name": "Hidden", "is_active": false}`)
	if res := hidden.authJSON(http.MethodGet, "profile/", salToken, ""); !strings.Contains(string(res.Body), `"is_active":true`) {
		t.Errorf("is_active was written: %s", res.Body)
	}
	// username is read-only here: PUT does not need it and ignores it.
	res = fields.authJSON(http.MethodPut, "profile/", token, `{"username": "other", "first_name": "Ray"}`)
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"username":"ray"`) || !strings.Contains(string(res.Body), `"first_name":"Ray"`) {
		t.Errorf("PUT with a read-only username: %d %s", res.Status, res.Body)
	}
}

func testChangePassword(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	token, u := e.session("cass")
	other := e.login("cass", password)["token"].(string)
	before := e.counts()
	for _, c := range []struct{ body, want string }{
		{`{}`, fieldBody(map[string][]string{"old_password": {core.MsgRequired}, "password": {core.MsgRequired}, "password_confirm": {core.MsgRequired}})},
		{`{"old_password": "wrong", "password": "", "password_confirm": "x"}`,
			fieldBody(map[string][]string{"old_password": {msgOldPasswordInvalid}, "password": {core.MsgBlank}})},
		{`{"old_password": "` + password + `", "password": "cass1", "password_confirm": "different"}`,
			fieldBody(map[string][]string{"password": {"The password is too similar to the username.",
				"This password is too short. It must contain at least 8 characters."}})},
		{`{"old_password": "` + password + `", "password": "12345678901", "password_confirm": "12345678901"}`,
			fieldBody(map[string][]string{"password": {"This password is too common.", "This password is entirely numeric."}})},
		{`{"old_password": "` + password + `", "password": "` + newPassword + `", "password_confirm": "` + newPassword + `x"}`,
			fieldBody(map[string][]string{"password_confirm": {core.MsgPasswordsMismatch}})},
		{`{"old_password": "` + password + `", "password": true, "password_confirm": null}`,
			fieldBody(map[string][]string{"password": {core.MsgNotString}, "password_confirm": {core.MsgNull}})},
	} {
		res := e.authJSON(http.MethodPost, "change-password/", token, c.body)
		res.expect(t, http.StatusBadRequest, c.want)
		res.expectNoStore(t, "rejected change-password/")
	}
	e.unchanged(before, "rejected password changes")

	// Passwords are trimmed (the old one too).
	res := e.authJSON(http.MethodPost, "change-password/", token,
		`{"old_password": " `+password+` ", "password": "`+newPassword+` ", "password_confirm": " `+newPassword+`"}`)
	res.expect(t, http.StatusOK, detailBody(msgPasswordChanged))
	res.expectNoStore(t, "change-password/")
	// The calling session keeps working; the others stop.
	if res := e.authJSON(http.MethodGet, "profile/", token, ""); res.Status != http.StatusOK {
		t.Errorf("the calling token after the change: %d", res.Status)
	}
	e.authJSON(http.MethodGet, "profile/", other, "").expectRefused(t, core.MsgTokenInvalid)
	e.post("login/", map[string]any{"login": "cass", "password": password}).expect(t, http.StatusBadRequest, detailBody(core.MsgLoginInvalid))
	e.login("cass", newPassword)
	e.authJSON(http.MethodPost, "change-password/", token, `{"old_password": "`+password+`", "password": "`+newPassword+`2", "password_confirm": "`+newPassword+`2"}`).
		expect(t, http.StatusBadRequest, fieldBody(map[string][]string{"old_password": {msgOldPasswordInvalid}}))
	if n, seen := e.eventsOf(core.EventUserPasswordChanged, u["id"].(string)); seen && n != 1 {
		t.Errorf("user_password_changed events = %d, want 1", n)
	}
	for _, ev := range e.events() {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), newPassword) || strings.Contains(string(b), password) {
			t.Errorf("an event carries a password: %s", b)
		}
	}
}

// testDRRCompatibility runs the DRR column of account-api.md's settings
// table: one token per user, passwords changes that keep sessions, logins by
// username only, no password confirmation.
func testDRRCompatibility(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationEnabled = false
		s.AuthTokenPerLogin = false
		s.ChangePasswordRevokeTokens = false
		s.ChangePasswordSerializerPasswordConfirm = false
		s.UserLoginFields = []string{"username"}
		s.UsernameCaseInsensitive = false
		s.UserEmailUnique = false
	})
	token, _ := e.session("drew")
	for range 2 {
		if again := e.login("drew", password)["token"]; again != token {
			t.Fatalf("AUTH_TOKEN_PER_LOGIN=false: login answered %v, want the user's one token %s", again, token)
		}
	}
	e.post("login/", map[string]any{"login": "drew@example.com", "password": password}).expect(t, http.StatusBadRequest, detailBody(core.MsgLoginInvalid))
	e.post("login/", map[string]any{"login": "DREW", "password": password}).expect(t, http.StatusBadRequest, detailBody(core.MsgLoginInvalid))
	e.authJSON(http.MethodPost, "change-password/", token, `{"old_password": "`+password+`", "password": "`+newPassword+`", "password_confirm": "ignored"}`).
		expect(t, http.StatusOK, detailBody(msgPasswordChanged))
	if again := e.login("drew", newPassword)["token"]; again != token {
		t.Errorf("after a password change the one token changed: %v", again)
	}
	e.authJSON(http.MethodPost, "logout/", token, `{"revoke_token": true}`).expect(t, http.StatusOK, detailBody(msgLogoutSuccessful))
	fresh := e.login("drew", newPassword)["token"]
	if fresh == token || !tokenFormat.MatchString(fresh.(string)) {
		t.Errorf("after revoking, login answered %v", fresh)
	}
	if again := e.login("drew", newPassword)["token"]; again != fresh {
		t.Errorf("the new token is not reused: %v, want %v", again, fresh)
	}
}

func testAccountCORS(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationEnabled = false
		s.HTTP.CORSAllowedOrigins = []string{AllowedOrigin}
	})
	pre := e.do(http.MethodOptions, e.api("profile/"), "", nil,
		"Origin", AllowedOrigin, "Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "authorization, content-type")
	if pre.Status != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != AllowedOrigin ||
		pre.Header.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, PATCH, OPTIONS" ||
		pre.Header.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization" {
		t.Errorf("preflight of profile/: %d %v", pre.Status, pre.Header)
	}
	token, _ := e.session("cora")
	res := e.do(http.MethodGet, e.api("profile/"), "", nil, "Origin", AllowedOrigin, "Authorization", "Token "+token)
	if res.Status != http.StatusOK || res.Header.Get("Access-Control-Allow-Origin") != AllowedOrigin {
		t.Errorf("GET profile/ from the allowed origin: %d %v", res.Status, res.Header)
	}
	res = e.do(http.MethodGet, e.api("profile/"), "", nil, "Origin", "https://elsewhere.example", "Authorization", "Token "+token)
	for k := range res.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("CORS header %s sent to another origin", k)
		}
	}
}

// jsonKeys lists an object's keys in the order they appear.
func jsonKeys(b []byte) []string {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}
