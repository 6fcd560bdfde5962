package apisuite

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

func nonObject(typeName string) string {
	return `{"non_field_errors": ["Invalid data. Expected a dictionary, but got ` + typeName + `."]}`
}

func detailBody(msg string) string {
	b, _ := json.Marshal(map[string]string{"detail": msg})
	return string(b)
}

func fieldBody(fields map[string][]string) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

func testProbes(t *testing.T, start Start) {
	e := startEnv(t, start)
	e.do(http.MethodGet, e.BaseURL+"/healthz", "", nil).expect(t, http.StatusOK, `{"status": "ok"}`)
	// A composition may add the outbox backlog to the readiness answer.
	ready := e.do(http.MethodGet, e.BaseURL+"/readyz", "", nil)
	var readyBody struct {
		Status string `json:"status"`
		Outbox *struct {
			Pending *int `json:"pending"`
		} `json:"outbox"`
	}
	if err := json.Unmarshal(ready.Body, &readyBody); ready.Status != http.StatusOK || err != nil ||
		readyBody.Status != "ready" || (readyBody.Outbox != nil && readyBody.Outbox.Pending == nil) {
		t.Errorf("/readyz: %d %s", ready.Status, ready.Body)
	}
	for path, version := range map[string]string{"/openapi.json": "3.1.0", "/openapi-3.0.json": "3.0.3"} {
		res := e.do(http.MethodGet, e.BaseURL+path, "", nil)
		var doc struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		if res.Status != http.StatusOK || json.Unmarshal(res.Body, &doc) != nil {
			t.Fatalf("GET %s: %d %.200s", path, res.Status, res.Body)
		}
		if doc.OpenAPI != version || doc.Paths[strings.TrimRight(e.Settings.HTTP.BasePath, "/")+"/register/"]["post"] == nil {
			t.Errorf("GET %s: version %q, paths %v", path, doc.OpenAPI, doc.Paths)
		}
	}
	for path, version := range map[string]string{"/openapi.yaml": "openapi: 3.1.0", "/openapi-3.0.yaml": "openapi: 3.0.3"} {
		if res := e.do(http.MethodGet, e.BaseURL+path, "", nil); res.Status != http.StatusOK || !strings.Contains(string(res.Body), version) {
			t.Errorf("GET %s: %d, no %q", path, res.Status, version)
		}
	}
}

func testMalformed(t *testing.T, start Start) {
	e := startEnv(t, start)
	for _, path := range []string{"register/", "verify-registration/", "login/", "resend-verification/",
		"register", "verify-registration", "login", "resend-verification",
		"send-reset-password-link/", "reset-password/", "verify-email/", "reset-password"} {
		t.Run(path, func(t *testing.T) {
			e := env{Env: e.Env, t: t}
			e.rejected(path, `{"username": }`, 400, detailBody("JSON parse error - Expecting value: line 1 column 14 (char 13)"))
			e.rejected(path, `{"username": "ann",}`, 400, detailBody("JSON parse error - Expecting property name enclosed in double quotes: line 1 column 20 (char 19)"))
			e.rejected(path, `[{"username": "ann"}]`, 400, nonObject("list"))
			e.rejected(path, `42`, 400, nonObject("int"))
			e.rejected(path, `4.2`, 400, nonObject("float"))
			e.rejected(path, `"ann"`, 400, nonObject("str"))
			e.rejected(path, `true`, 400, nonObject("bool"))
			e.rejected(path, `null`, 400, `{"non_field_errors": ["No data provided"]}`)

			before := e.counts()
			for _, ct := range []string{"text/plain", "multipart/form-data; boundary=xyz", "application/xml"} {
				e.do(http.MethodPost, e.api(path), ct, []byte("username=ann")).
					expect(t, http.StatusUnsupportedMediaType, detailBody(`Unsupported media type "`+ct+`" in request.`))
			}
			for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
				res := e.do(method, e.api(path), "application/json", []byte(`{}`))
				res.expect(t, http.StatusMethodNotAllowed, detailBody(`Method "`+method+`" not allowed.`))
				if !strings.Contains(res.Header.Get("Allow"), "POST") {
					t.Errorf("%s %s: Allow %q", method, path, res.Header.Get("Allow"))
				}
			}
			limit := int(e.Settings.HTTP.MaxBodyBytes)
			big := `{"username": "` + strings.Repeat("a", limit) + `"}`
			e.do(http.MethodPost, e.api(path), "application/json", []byte(big)).
				expect(t, http.StatusRequestEntityTooLarge, detailBody(msgTooLarge))
			e.unchanged(before, "415, 405 and 413 answers")
		})
	}
	e.rejected("nope/", `{}`, http.StatusNotFound, detailBody(msgNotFound))
	e.do(http.MethodGet, e.BaseURL+"/nope", "", nil).expect(t, http.StatusNotFound, detailBody(msgNotFound))
	if c := e.counts(); !is(c.users, 0) || c.mails != 0 || !is(c.events, 0) {
		t.Errorf("malformed requests left state behind: %+v", c)
	}
}

func testSwitchedOff(t *testing.T, start Start) {
	reg, _ := json.Marshal(newUser("ann", "ann@example.com"))
	e := startEnv(t, start, func(s *Settings) { s.RegisterFlowEnabled = false })
	e.rejected("register/", string(reg), http.StatusNotFound, detailBody(msgNotFound))
	e.rejected("register", string(reg), http.StatusNotFound, detailBody(msgNotFound))
	e.rejected("register/", `[]`, http.StatusNotFound, detailBody(msgNotFound))
	e.rejected("register/", `{"username": }`, 400, detailBody("JSON parse error - Expecting value: line 1 column 14 (char 13)"))

	v := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	sig := v.sign("some-user", time.Now().Unix(), false)
	body, _ := json.Marshal(sig.body())
	v.rejected("verify-registration/", string(body), http.StatusNotFound, detailBody(msgNotFound))
	v.rejected("verify-registration", `{}`, http.StatusNotFound, detailBody(msgNotFound))
	v.rejected("verify-registration/", `{"user_id": `, 400, detailBody("JSON parse error - Expecting value: line 1 column 13 (char 12)"))
}

func testRegisterFields(t *testing.T, start Start) {
	e := startEnv(t, start)
	required := []string{core.MsgRequired}
	null := []string{core.MsgNull}
	blank := []string{core.MsgBlank}
	e.rejected("register/", `{}`, 400, fieldBody(map[string][]string{"username": required, "password": required, "password_confirm": required}))
	e.rejected("register/", `{"username": null, "email": null, "first_name": null, "last_name": null, "password": null, "password_confirm": null}`, 400,
		fieldBody(map[string][]string{"username": null, "email": null, "first_name": null, "last_name": null, "password": null, "password_confirm": null}))
	e.rejected("register/", `{"username": "   ", "email": "", "first_name": "", "last_name": "  ", "password": "", "password_confirm": " "}`, 400,
		fieldBody(map[string][]string{"username": blank, "password": blank, "password_confirm": blank}))

	long := func(n int) string { return strings.Repeat("a", n) }
	tooLong, _ := json.Marshal(registration{
		"username": long(151), "first_name": long(151), "last_name": long(151),
		"email": long(255-len("@example.com")) + "@example.com", "password": password, "password_confirm": password,
	})
	e.rejected("register/", string(tooLong), 400, fieldBody(map[string][]string{
		"username": {msgTooLong150}, "first_name": {msgTooLong150}, "last_name": {msgTooLong150}, "email": {msgTooLong254},
	}))
	atLimit := newUser(long(150), long(254-len("@example.com"))+"@example.com")
	atLimit["first_name"], atLimit["last_name"] = long(150), long(150)
	before := e.counts()
	e.register(atLimit)
	if after := e.counts(); !is(after.users, before.users+1) {
		t.Errorf("a registration at every length limit did not store a user")
	}

	for _, bad := range []string{"not-an-email", "ann@", "@example.com", "ann@example..com", "ann example@example.com"} {
		r, _ := json.Marshal(newUser("ann", bad))
		e.rejected("register/", string(r), 400, fieldBody(map[string][]string{"email": {core.MsgInvalidEmail}}))
	}
	for _, bad := range []string{"ann smith", "ann!", "ann#1", "<ann>"} {
		r, _ := json.Marshal(newUser(bad, "ann@example.com"))
		e.rejected("register/", string(r), 400, fieldBody(map[string][]string{"username": {core.MsgInvalidUsername}}))
	}
	e.rejected("register/", `{"username": true, "email": ["a@example.com"], "password": {}, "password_confirm": 1}`, 400,
		fieldBody(map[string][]string{"username": {core.MsgNotString}, "email": {core.MsgNotString}, "password": {core.MsgNotString}}))
	// Every failing field at once; a stage-2 problem is not reported yet.
	e.rejected("register/", `{"username": "ann smith", "email": "bad", "password": "123", "password_confirm": "456"}`, 400,
		fieldBody(map[string][]string{"username": {core.MsgInvalidUsername}, "email": {core.MsgInvalidEmail}}))
}

// passwordCases are answers of Django's own validators (Django 3.2).
var passwordCases = []struct {
	username, email, first, last, password string
	errors                                 []string
}{
	{"alice", "alice@example.com", "Alice", "Smith", "1234567", []string{
		"This password is too short. It must contain at least 8 characters.", "This password is too common.", "This password is entirely numeric."}},
	{"alice", "alice@example.com", "Alice", "Smith", "alice123", []string{"The password is too similar to the username.", "This password is too common."}},
	{"alice", "alice@example.com", "Alice", "Smith", "aliceexample", []string{"The password is too similar to the email address."}},
	{"alice", "alice@example.com", "Alice", "Smith", "98765432109876", []string{"This password is entirely numeric."}},
	{"Ünïcødé_user", "uni@example.com", "Zoë", "Ångström", "ångström1", []string{"The password is too similar to the last name."}},
}

func testRegisterPasswords(t *testing.T, start Start) {
	e := startEnv(t, start)
	for _, c := range passwordCases {
		r, _ := json.Marshal(registration{"username": c.username, "email": c.email, "first_name": c.first, "last_name": c.last,
			"password": c.password, "password_confirm": c.password})
		e.rejected("register/", string(r), 400, fieldBody(map[string][]string{"password": c.errors, "non_field_errors": {}}))
	}
	mismatch := newUser("alice", "alice@example.com")
	mismatch["password_confirm"] = password + "!"
	r, _ := json.Marshal(mismatch)
	e.rejected("register/", string(r), 400, fieldBody(map[string][]string{"password_confirm": {core.MsgPasswordsMismatch}, "non_field_errors": {}}))
	both := registration{"username": "alice", "email": "alice@example.com", "password": "1234567", "password_confirm": "7654321"}
	r, _ = json.Marshal(both)
	e.rejected("register/", string(r), 400, fieldBody(map[string][]string{
		"password": passwordCases[0].errors, "password_confirm": {core.MsgPasswordsMismatch}, "non_field_errors": {}}))

	tooLong := strings.Repeat("Tr0ub4dor&3-", 342)[:4097]
	r, _ = json.Marshal(registration{"username": "alice", "email": "alice@example.com", "password": tooLong, "password_confirm": tooLong})
	e.rejected("register/", string(r), 400, fieldBody(map[string][]string{"password": {core.MsgPasswordTooLong}, "non_field_errors": {}}))
	longest := tooLong[:4096]
	e.register(registration{"username": "longest", "email": "longest@example.com", "password": longest, "password_confirm": longest})

	noConfirm := startEnv(t, start, func(s *Settings) { s.RegisterSerializerPasswordConfirm = false })
	noConfirm.register(registration{"username": "ann", "email": "ann@example.com", "password": password})
	noConfirm.register(registration{"username": "bea", "email": "bea@example.com", "password": password, "password_confirm": "ignored"})
}

func testRegisterNoEmail(t *testing.T, start Start) {
	e := startEnv(t, start)
	for _, email := range []any{nil, "", "   "} {
		r := newUser("ann", "")
		if email == nil {
			delete(r, "email")
		} else {
			r["email"] = email
		}
		b, _ := json.Marshal(r)
		e.rejected("register/", string(b), 400, detailBody(core.MsgNoEmail))
	}
	// The e-mail stage comes after the password stage.
	r := newUser("ann", "")
	r["password"], r["password_confirm"] = "1234567", "1234567"
	b, _ := json.Marshal(r)
	e.rejected("register/", string(b), 400, fieldBody(map[string][]string{"password": passwordCases[0].errors, "non_field_errors": {}}))
}

func testRegisterSuccess(t *testing.T, start Start) {
	e := startEnv(t, start)
	before := e.counts()
	res := e.post("register/", registration{
		"username": "alice", "email": "  Alice@EXAMPLE.COM ", "first_name": "Alice", "last_name": "Liddell",
		"password": password, "password_confirm": password,
		// A client can never choose its id or make itself active or privileged.
		"id": "chosen-id", "is_active": true, "is_staff": true, "is_superuser": true, "groups": []int{1},
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", res.Status, res.Body)
	}
	u := res.object(t)
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"email", "first_name", "id", "last_name", "username"}) {
		t.Errorf("201 body keys %v", keys)
	}
	id, _ := u["id"].(string)
	if id == "" || id == "chosen-id" {
		t.Errorf("id %v", u["id"])
	}
	want := map[string]any{"username": "alice", "email": "Alice@example.com", "first_name": "Alice", "last_name": "Liddell"}
	for k, v := range want {
		if u[k] != v {
			t.Errorf("%s = %v, want %v", k, u[k], v)
		}
	}
	after := e.counts()
	if !is(after.users, before.users+1) || after.mails != before.mails+1 {
		t.Errorf("after one registration: %+v (before %+v)", after, before)
	}
	if n, seen := e.eventsOf(core.EventUserRegistered, id); seen && n != 1 {
		t.Errorf("%d user_registered events, want 1", n)
	}
	for _, ev := range e.events() {
		if ev.User.ID == id && ev.User.IsActive {
			t.Errorf("event %s shows the new user active", ev.Type)
		}
	}

	mail := e.Mails()[len(e.Mails())-1]
	if !slices.ContainsFunc(mail.To, func(to string) bool { return strings.Contains(to, "Alice@example.com") }) {
		t.Errorf("e-mail to %v", mail.To)
	}
	if !strings.Contains(mail.From, FromEmail) {
		t.Errorf("e-mail from %q", mail.From)
	}
	if l := e.parseLink(mail); l.userID != id {
		t.Errorf("link user_id %q, want %q", l.userID, id)
	}
	// Neither the password nor its hash leaves the server.
	evJSON, _ := json.Marshal(e.events())
	for _, where := range []string{string(res.Body), mail.Text, mail.HTML, mail.Subject, string(evJSON)} {
		for _, secret := range []string{password, "$argon2", "pbkdf2_sha256$"} {
			if strings.Contains(where, secret) {
				t.Errorf("%q found in a response, e-mail or event", secret)
			}
		}
	}
	// is_active in the request was ignored: the user cannot log in yet.
	e.post("login/", map[string]any{"login": "alice", "password": password}).expect(t, 400, detailBody(core.MsgLoginInvalid))

	form := url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "password": {password}, "password_confirm": {password}, "is_active": {"true"}}
	res = e.postForm("register", form)
	res.expect(t, http.StatusCreated, fmt.Sprintf(`{"id": %q, "username": "bob", "email": "bob@example.com", "first_name": "", "last_name": ""}`, res.object(t)["id"]))

	num := e.postJSON("register/", `{"username": 20240101, "email": "num@example.com", "password": "`+password+`", "password_confirm": "`+password+`"}`)
	if num.Status != http.StatusCreated || num.object(t)["username"] != "20240101" {
		t.Errorf("numeric username: %d %s", num.Status, num.Body)
	}
}

func testUsernames(t *testing.T, start Start) {
	e := startEnv(t, start)
	if u := e.register(newUser("ｆｕｌｌｗｉｄｔｈ", "fw@example.com")); u["username"] != "fullwidth" {
		t.Errorf("NFKC: stored %q, want fullwidth", u["username"])
	}
	if u := e.register(newUser("ﬁsh", "fish@example.com")); u["username"] != "fish" {
		t.Errorf("NFKC: stored %q, want fish", u["username"])
	}
	e.register(newUser("Zoë_Ångström-1.2+3@x", "zoe@example.com"))
	e.register(newUser("Bob", "bob@example.com"))
	exists := fieldBody(map[string][]string{"username": {core.MsgUsernameExists}})
	for _, dup := range []string{"bob", "BOB", "fullwidth", "FullWidth", "FISH"} {
		r, _ := json.Marshal(newUser(dup, strings.ToLower(dup)+"2@example.com"))
		e.rejected("register/", string(r), 400, exists)
	}

	cs := startEnv(t, start, func(s *Settings) { s.UsernameCaseInsensitive = false })
	cs.register(newUser("Bob", "bob1@example.com"))
	cs.register(newUser("bob", "bob2@example.com"))
	r, _ := json.Marshal(newUser("Bob", "bob3@example.com"))
	cs.rejected("register/", string(r), 400, exists)
}

func testEmailUniqueness(t *testing.T, start Start) {
	e := startEnv(t, start)
	e.register(newUser("ann", "Ann@Example.com"))
	taken := fieldBody(map[string][]string{"email": {core.MsgEmailExists}})
	for _, dup := range []string{"ann@example.com", "ANN@EXAMPLE.COM", " ann@example.COM "} {
		r, _ := json.Marshal(newUser("other", dup))
		e.rejected("register/", string(r), 400, taken)
	}
	r, _ := json.Marshal(newUser("ANN", "ann@example.com"))
	e.rejected("register/", string(r), 400, fieldBody(map[string][]string{"username": {core.MsgUsernameExists}, "email": {core.MsgEmailExists}}))

	shared := startEnv(t, start, func(s *Settings) { s.UserEmailUnique = false })
	shared.register(newUser("ann", "shared@example.com"))
	shared.register(newUser("bob", "Shared@Example.com"))
}

func testVerificationOff(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	dora := e.register(registration{"username": "dora", "password": password, "password_confirm": password})
	eve := e.register(registration{"username": "eve", "email": "", "password": password, "password_confirm": password})
	if dora["email"] != "" || eve["email"] != "" {
		t.Errorf("users without e-mail: %v %v", dora, eve)
	}
	if n := len(e.Mails()); n != 0 {
		t.Errorf("%d e-mails sent with verification off", n)
	}
	for _, u := range []map[string]any{dora, eve} {
		if n, seen := e.eventsOf(core.EventUserRegistered, u["id"].(string)); seen && n != 1 {
			t.Errorf("%d user_registered events for %v", n, u["username"])
		}
	}
	// Stored active: login works at once.
	if res := e.login("dora", password); res["detail"] != core.MsgLoginSuccessful {
		t.Errorf("login: %v", res)
	}
}

func testVerify(t *testing.T, start Start) {
	e := startEnv(t, start)
	frank := e.register(newUser("frank", "frank@example.com"))
	id := frank["id"].(string)
	grace := e.register(newUser("grace", "grace@example.com"))
	l := e.lastLink("frank@example.com")
	if l.userID != id {
		t.Fatalf("link user_id %q, want %q", l.userID, id)
	}
	// Not verified yet: login fails like a wrong password.
	e.post("login/", map[string]any{"login": "frank", "password": password}).expect(t, 400, detailBody(core.MsgLoginInvalid))

	required := []string{core.MsgRequired}
	e.rejected("verify-registration/", `{}`, 400, fieldBody(map[string][]string{"user_id": required, "timestamp": required, "signature": required}))
	e.rejected("verify-registration/", `{"user_id": null, "timestamp": "abc", "signature": "  "}`, 400,
		fieldBody(map[string][]string{"user_id": {core.MsgNull}, "timestamp": {core.MsgInvalidInteger}, "signature": {core.MsgBlank}}))
	e.rejected("verify-registration/", `{"user_id": "x", "timestamp": true, "signature": ["s"]}`, 400,
		fieldBody(map[string][]string{"timestamp": {core.MsgInvalidInteger}, "signature": {core.MsgNotString}}))
	e.rejected("verify-registration/", `{"user_id": "x", "timestamp": "12a", "signature": "s"}`, 400,
		fieldBody(map[string][]string{"timestamp": {core.MsgInvalidInteger}}))

	invalid := detailBody(core.MsgInvalidSignature)
	tampered := func(mutate func(m map[string]any)) string {
		m := l.body()
		mutate(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	flip := func(s string) string {
		if strings.HasSuffix(s, "A") {
			return s[:len(s)-1] + "B"
		}
		return s[:len(s)-1] + "A"
	}
	e.rejected("verify-registration/", tampered(func(m map[string]any) { m["signature"] = flip(l.signature) }), 400, invalid)
	e.rejected("verify-registration/", tampered(func(m map[string]any) { m["user_id"] = grace["id"] }), 400, invalid)
	e.rejected("verify-registration/", tampered(func(m map[string]any) { m["timestamp"] = l.timestamp + "1" }), 400, invalid)
	e.rejected("verify-registration/", tampered(func(m map[string]any) { m["signature"] = "not-a-signature" }), 400, invalid)
	unknown, _ := json.Marshal(e.sign("no-such-user", time.Now().Unix(), false).body())
	e.rejected("verify-registration/", string(unknown), 400, detailBody(core.MsgUserNotFound))
	if n, seen := e.eventsOf(core.EventUserActivated, id); seen && n != 0 {
		t.Fatalf("%d user_activated events before any valid verification", n)
	}

	before := e.counts()
	e.post("verify-registration/", l.body()).expect(t, 200, detailBody(core.MsgUserVerified))
	after := e.counts()
	if !is(after.users, before.users) || after.mails != before.mails {
		t.Errorf("verification changed users or mails: %+v → %+v", before, after)
	}
	if n, seen := e.eventsOf(core.EventUserActivated, id); seen && n != 1 {
		t.Errorf("%d user_activated events, want 1", n)
	}
	if res := e.login("frank", password); res["detail"] != core.MsgLoginSuccessful {
		t.Errorf("login after verification: %v", res)
	}

	// A link stays valid (reusable mode), in any accepted form.
	e.post("verify-registration/", l.body()).expect(t, 200, detailBody(core.MsgUserVerified))
	e.postForm("verify-registration", url.Values{"user_id": {l.userID}, "timestamp": {l.timestamp}, "signature": {l.signature}}).
		expect(t, 200, detailBody(core.MsgUserVerified))
	spaced := l.body()
	spaced["user_id"] = "  " + l.userID + " "
	e.post("verify-registration/", spaced).expect(t, 200, detailBody(core.MsgUserVerified))
	if n, seen := e.eventsOf(core.EventUserActivated, id); seen && n != 1 {
		t.Errorf("%d user_activated events after reusing the link, want 1", n)
	}
}

func testVerifyTimestamps(t *testing.T, start Start) {
	e := startEnv(t, start)
	period := e.Settings.RegisterVerificationPeriod

	e.setNow(time.Unix(1700000000, 0))
	hank := e.register(newUser("hank", "hank@example.com"))
	l := e.lastLink("hank@example.com")
	if l.timestamp != "1700000000" {
		t.Fatalf("link timestamp %q, want 1700000000", l.timestamp)
	}
	asText := l.body()
	asText["timestamp"] = "1700000000.0"
	e.post("verify-registration/", asText).expect(t, 200, detailBody(core.MsgUserVerified))
	for _, literal := range []string{"1700000000", "1700000000.0"} {
		e.postJSON("verify-registration/", fmt.Sprintf(`{"user_id": %q, "timestamp": %s, "signature": %q}`, l.userID, literal, l.signature)).
			expect(t, 200, detailBody(core.MsgUserVerified))
	}
	if n, seen := e.eventsOf(core.EventUserActivated, hank["id"].(string)); seen && n != 1 {
		t.Errorf("%d user_activated events, want 1", n)
	}

	t0 := time.Now().Truncate(time.Second)
	e.setNow(t0)
	ivan := e.register(newUser("ivan", "ivan@example.com"))
	li := e.lastLink("ivan@example.com")
	e.setNow(t0.Add(period + time.Minute))
	b, _ := json.Marshal(li.body())
	e.rejected("verify-registration/", string(b), 400, detailBody(core.MsgSignatureExpired))
	if n, seen := e.eventsOf(core.EventUserActivated, ivan["id"].(string)); seen && n != 0 {
		t.Errorf("an expired link activated the user")
	}
	e.setNow(t0.Add(period - time.Minute))
	e.post("verify-registration/", li.body()).expect(t, 200, detailBody(core.MsgUserVerified))

	// Only the server can sign, so a link from the future is genuine.
	e.setNow(t0.Add(24 * time.Hour))
	e.register(newUser("judy", "judy@example.com"))
	lj := e.lastLink("judy@example.com")
	e.setNow(t0)
	e.post("verify-registration/", lj.body()).expect(t, 200, detailBody(core.MsgUserVerified))
}

func testVerifyNumericUserID(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.UserVerificationIDField = "username" })
	e.register(newUser("12345", "num@example.com"))
	l := e.lastLink("num@example.com")
	if l.userID != "12345" {
		t.Fatalf("link user_id %q, want the username", l.userID)
	}
	e.postJSON("verify-registration/", fmt.Sprintf(`{"user_id": 12345, "timestamp": %s, "signature": %q}`, l.timestamp, l.signature)).
		expect(t, 200, detailBody(core.MsgUserVerified))
}

func testVerifyOneTime(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationOneTimeUse = true })
	kate := e.register(newUser("kate", "kate@example.com"))
	liam := e.register(newUser("liam", "liam@example.com"))
	l := e.lastLink("kate@example.com")
	// An unverified user's one-time link is signed with Django's salt
	// "register:False", so a Django backend sharing the key accepts it.
	if want := signWith(e.Settings.SecretKey, "register:False", l.userID, l.timestamp); l.signature != want {
		t.Errorf("one-time link signature %q, want %q (salt register:False)", l.signature, want)
	}

	// In one-time mode the user is looked up first.
	for _, body := range []map[string]any{
		{"user_id": "no-such-user", "timestamp": l.timestamp, "signature": "garbage"},
		e.sign("no-such-user", time.Now().Unix(), false).body(),
	} {
		b, _ := json.Marshal(body)
		e.rejected("verify-registration/", string(b), 400, detailBody(core.MsgUserNotFound))
	}
	other := l.body()
	other["user_id"] = liam["id"]
	b, _ := json.Marshal(other)
	e.rejected("verify-registration/", string(b), 400, detailBody(core.MsgInvalidSignature))

	e.post("verify-registration/", l.body()).expect(t, 200, detailBody(core.MsgUserVerified))
	b, _ = json.Marshal(l.body())
	e.rejected("verify-registration/", string(b), 400, detailBody(core.MsgInvalidSignature))
	if n, seen := e.eventsOf(core.EventUserActivated, kate["id"].(string)); seen && n != 1 {
		t.Errorf("%d user_activated events, want 1", n)
	}
}

// testKeyRotation: after SECRET_KEY changes, links signed with a key in
// SECRET_KEY_FALLBACKS still verify, new links are signed with the new key,
// and a key the server never had is refused.
func testKeyRotation(t *testing.T, start Start) {
	const oldKey = "apisuite-previous-signing-key-retired-but-trusted-5d0c9e2a"
	newKey := SecretKey + "-rotated"
	e := startEnv(t, start, func(s *Settings) {
		s.SecretKey = newKey
		s.SecretKeyFallbacks = []string{oldKey}
	})
	e.register(newUser("nina", "nina@example.com"))
	l := e.lastLink("nina@example.com")
	if want := signWith(newKey, "register", l.userID, l.timestamp); l.signature != want {
		t.Errorf("new link signed %q, want %q (the current key)", l.signature, want)
	}
	now := fmt.Sprint(time.Now().Unix())
	stranger := map[string]any{"user_id": l.userID, "timestamp": now, "signature": signWith("some-key-this-server-never-had-1f7a3c", "register", l.userID, now)}
	b, _ := json.Marshal(stranger)
	e.rejected("verify-registration/", string(b), 400, detailBody(core.MsgInvalidSignature))
	old := map[string]any{"user_id": l.userID, "timestamp": now, "signature": signWith(oldKey, "register", l.userID, now)}
	e.post("verify-registration/", old).expect(t, 200, detailBody(core.MsgUserVerified))
}

func testAutoLogin(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationAutoLogin = true })
	e.register(newUser("leo", "leo@example.com"))
	res := e.post("verify-registration/", e.lastLink("leo@example.com").body())
	if res.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", res.Status, res.Body)
	}
	body := res.object(t)
	token, _ := body["token"].(string)
	if body["detail"] != core.MsgUserVerified || !tokenFormat.MatchString(token) || len(body) != 2 {
		t.Errorf("auto-login answer %v", body)
	}
	// A cached answer would hand the token to the next user of the cache.
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("auto-login answer Cache-Control %q, want no-store", cc)
	}
	if cc := e.post("login/", map[string]any{"login": "leo", "password": password}).Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login answer Cache-Control %q, want no-store", cc)
	}
	again := e.login("leo", password)
	if again["token"] == token || !tokenFormat.MatchString(fmt.Sprint(again["token"])) {
		t.Errorf("login after auto-login: %v (auto-login token %s)", again, token)
	}

	off := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationAutoLogin = true
		s.LoginRetrieveToken = false
	})
	off.register(newUser("mia", "mia@example.com"))
	off.post("verify-registration/", off.lastLink("mia@example.com").body()).expect(t, 200, detailBody(core.MsgUserVerified))
}

func testLogin(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationEnabled = false })
	u := e.register(newUser("mallory", "Mallory@Example.com"))
	tokens := map[string]bool{}
	for _, login := range []string{"mallory", "MALLORY", "mallory@example.com", "MALLORY@EXAMPLE.COM"} {
		res := e.login(login, password)
		token, _ := res["token"].(string)
		if res["detail"] != core.MsgLoginSuccessful || !tokenFormat.MatchString(token) || len(res) != 2 {
			t.Errorf("login %s: %v", login, res)
		}
		if tokens[token] {
			t.Errorf("login %s reused a token", login)
		}
		tokens[token] = true
	}
	res := e.postForm("login", url.Values{"login": {"mallory"}, "password": {password}})
	if res.Status != http.StatusOK || res.object(t)["detail"] != core.MsgLoginSuccessful {
		t.Errorf("form login: %d %s", res.Status, res.Body)
	}
	// Each login is recorded (Django's user_logged_in); failures record nothing.
	if n, seen := e.eventsOf(core.EventUserLoggedIn, u["id"].(string)); seen && n != 5 {
		t.Errorf("user_logged_in events = %d, want 5", n)
	}

	before := e.counts()
	invalid := detailBody(core.MsgLoginInvalid)
	e.post("login/", map[string]any{"login": "mallory", "password": password + "x"}).expect(t, 400, invalid)
	e.post("login/", map[string]any{"login": "nobody", "password": password}).expect(t, 400, invalid)
	e.post("login/", map[string]any{"login": "nobody@example.com", "password": password}).expect(t, 400, invalid)
	e.post("login/", map[string]any{"login": "mallory", "password": strings.Repeat("p", 4097)}).expect(t, 400, invalid)
	required := []string{core.MsgRequired}
	e.postJSON("login/", `{}`).expect(t, 400, fieldBody(map[string][]string{"login": required, "password": required}))
	e.postJSON("login/", `{"login": "mallory", "password": ""}`).expect(t, 400, fieldBody(map[string][]string{"password": {core.MsgBlank}}))
	e.postJSON("login/", `{"login": null, "password": 5}`).expect(t, 400, fieldBody(map[string][]string{"login": {core.MsgNull}}))
	e.unchanged(before, "logins")

	plain := startEnv(t, start, func(s *Settings) {
		s.RegisterVerificationEnabled = false
		s.LoginRetrieveToken = false
	})
	plain.register(newUser("nora", "nora@example.com"))
	plain.post("login/", map[string]any{"login": "nora", "password": password}).expect(t, 200, detailBody(core.MsgLoginSuccessful))
}

func testCORS(t *testing.T, start Start) {
	e := startEnv(t, start, func(s *Settings) { s.HTTP.CORSAllowedOrigins = []string{AllowedOrigin} })
	pre := e.do(http.MethodOptions, e.api("register/"), "", nil,
		"Origin", AllowedOrigin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if pre.Status != http.StatusNoContent {
		t.Errorf("preflight: %d", pre.Status)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":  AllowedOrigin,
		"Access-Control-Allow-Methods": "POST, OPTIONS",
		"Access-Control-Allow-Headers": "Content-Type, Authorization",
		"Access-Control-Max-Age":       "86400",
	} {
		if got := pre.Header.Get(k); got != v {
			t.Errorf("preflight %s = %q, want %q", k, got, v)
		}
	}
	if !slices.Contains(pre.Header.Values("Vary"), "Origin") || pre.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight headers %v", pre.Header)
	}
	actual := e.do(http.MethodPost, e.api("login/"), "application/json", []byte(`{}`), "Origin", AllowedOrigin)
	if actual.Header.Get("Access-Control-Allow-Origin") != AllowedOrigin || !slices.Contains(actual.Header.Values("Vary"), "Origin") {
		t.Errorf("actual response headers %v", actual.Header)
	}
	for _, res := range []response{
		e.do(http.MethodOptions, e.api("register/"), "", nil, "Origin", "https://elsewhere.example", "Access-Control-Request-Method", "POST"),
		e.do(http.MethodPost, e.api("login/"), "application/json", []byte(`{}`), "Origin", "https://elsewhere.example"),
	} {
		for k := range res.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("CORS header %s sent to another origin", k)
			}
		}
	}

	creds := startEnv(t, start, func(s *Settings) {
		s.HTTP.CORSAllowedOrigins = []string{AllowedOrigin}
		s.HTTP.CORSAllowCredentials = true
	})
	for _, res := range []response{
		creds.do(http.MethodOptions, creds.api("verify-registration/"), "", nil, "Origin", AllowedOrigin, "Access-Control-Request-Method", "POST"),
		creds.do(http.MethodPost, creds.api("verify-registration/"), "application/json", []byte(`{}`), "Origin", AllowedOrigin),
	} {
		if res.Header.Get("Access-Control-Allow-Credentials") != "true" || res.Header.Get("Access-Control-Allow-Origin") != AllowedOrigin {
			t.Errorf("with credentials: %v", res.Header)
		}
	}
}

// parallel sends n copies of one request at once and returns the answers.
func (e env) parallel(n int, path string, body []byte) []response {
	e.t.Helper()
	answers := make([]response, n)
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	startGun := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-startGun
			answers[i], errs[i] = e.send(http.MethodPost, e.api(path), "application/json", body)
		}()
	}
	ready.Wait()
	close(startGun)
	done.Wait()
	for _, err := range errs {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return answers
}

// tally counts answers by status and body.
func tally(answers []response) map[string]int {
	m := map[string]int{}
	for _, a := range answers {
		var v any
		_ = json.Unmarshal(a.Body, &v)
		b, _ := json.Marshal(v)
		m[fmt.Sprintf("%d %s", a.Status, b)]++
	}
	return m
}

const concurrency = 50

func testConcurrentRegistrations(t *testing.T, start Start) {
	e := startEnv(t, start)
	answers := make([]response, 0, concurrency)
	var mu sync.Mutex
	var wg sync.WaitGroup
	gun := make(chan struct{})
	errs := make(chan error, concurrency)
	for i := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(newUser("racer", fmt.Sprintf("racer%d@example.com", i)))
			<-gun
			res, err := e.send(http.MethodPost, e.api("register/"), "application/json", b)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			answers = append(answers, res)
			mu.Unlock()
		}()
	}
	close(gun)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	created, exists := 0, 0
	for _, a := range answers {
		switch {
		case a.Status == http.StatusCreated:
			created++
		case a.Status == http.StatusBadRequest && string(mustCanon(a.Body)) == string(mustCanon([]byte(fieldBody(map[string][]string{"username": {core.MsgUsernameExists}})))):
			exists++
		}
	}
	if created != 1 || exists != concurrency-1 {
		t.Fatalf("answers %v, want one 201 and %d 'already exists'", tally(answers), concurrency-1)
	}
	if c := e.counts(); !is(c.users, 1) || c.mails != 1 {
		t.Errorf("after the race: %+v, want one user and one e-mail", c)
	}
	registered := 0
	for _, ev := range e.events() {
		if ev.Type == core.EventUserRegistered {
			registered++
		}
	}
	if e.Events != nil && registered != 1 {
		t.Errorf("%d user_registered events, want 1", registered)
	}
}

func mustCanon(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(v)
	return out
}

func testConcurrentVerifications(t *testing.T, start Start) {
	for _, oneTime := range []bool{true, false} {
		t.Run(fmt.Sprintf("one-time=%v", oneTime), func(t *testing.T) {
			e := startEnv(t, start, func(s *Settings) { s.RegisterVerificationOneTimeUse = oneTime })
			u := e.register(newUser("quinn", "quinn@example.com"))
			body, _ := json.Marshal(e.lastLink("quinn@example.com").body())
			got := tally(e.parallel(concurrency, "verify-registration/", body))
			ok := fmt.Sprintf("200 %s", mustCanon([]byte(detailBody(core.MsgUserVerified))))
			invalid := fmt.Sprintf("400 %s", mustCanon([]byte(detailBody(core.MsgInvalidSignature))))
			want := map[string]int{ok: concurrency}
			if oneTime {
				want = map[string]int{ok: 1, invalid: concurrency - 1}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("answers %v, want %v", got, want)
			}
			if n, seen := e.eventsOf(core.EventUserActivated, u["id"].(string)); seen && n != 1 {
				t.Errorf("%d user_activated events, want exactly 1", n)
			}
		})
	}
}
