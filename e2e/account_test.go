package e2e

import (
	"encoding/json"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// Messages of the authenticated account API, word for word.
const (
	msgNotProvided     = "Authentication credentials were not provided."
	msgInvalidToken    = "Invalid token."
	msgLoggedOut       = "Logout successful"
	msgPasswordChanged = "Password changed successfully"
)

// withToken sends a JSON body (nil: none) with an Authorization header.
func withToken(srv *harness.Server, method, path, token string, b body) *harness.Response {
	GinkgoHelper()
	var raw []byte
	ct := ""
	if b != nil {
		var err error
		raw, err = json.Marshal(b)
		Expect(err).NotTo(HaveOccurred())
		ct = "application/json"
	}
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Token "+token)
	}
	return srv.Send(method, srv.API(path), ct, raw, header)
}

var _ = Describe("The account of a verified user", Label("store:sqlite", "mail:file", "events:nats"), Ordered, func() {
	var srv *harness.Server
	var events *harness.EventStream
	var p person
	var id, token, otherToken string
	const newPassword = "saffron-Kettle-9031"

	BeforeAll(func() {
		events = harness.SubscribeEvents(harness.NewTopicPrefix())
		srv = harness.Start(natsSettings(events.Prefix))
		p = newPerson("holder")
		id = registerAndVerify(srv, p)
		token = tokenOf(login(srv, p.Username, p.Password))
		otherToken = tokenOf(login(srv, p.Email, p.Password))
	})

	It("refuses the profile without a token, before looking at the method", func() {
		resp := withToken(srv, http.MethodGet, "profile/", "", nil)
		Expect(resp).To(Answer(401, detail(msgNotProvided)))
		Expect(resp.Header.Get("WWW-Authenticate")).To(Equal("Token"))
		Expect(withToken(srv, http.MethodDelete, "profile/", "", nil)).To(Answer(401, detail(msgNotProvided)))
		Expect(withToken(srv, http.MethodGet, "logout/", "", nil)).To(Answer(401, detail(msgNotProvided)))
	})

	It("shows the profile to the token's holder, never cached", func() {
		resp := withToken(srv, http.MethodGet, "profile/", token, nil)
		Expect(resp).To(Answer(200, body{"id": id, "username": p.Username, "first_name": p.FirstName, "last_name": p.LastName, "email": p.Email}))
		Expect(resp.Header.Get("Cache-Control")).To(Equal("no-store"))
	})

	It("changes the names and ignores the read-only fields", func() {
		resp := withToken(srv, http.MethodPatch, "profile/", token, body{"first_name": "  Grace ", "email": "other@example.com", "id": "x"})
		Expect(resp).To(Answer(200, body{"id": id, "username": p.Username, "first_name": "Grace", "last_name": p.LastName, "email": p.Email}))
	})

	It("changes the password; the calling session stays, the others end", func() {
		Expect(withToken(srv, http.MethodPost, "change-password/", token, body{
			"old_password": p.Password + "x", "password": newPassword, "password_confirm": newPassword,
		})).To(Answer(400, body{"old_password": messages("Old password is not correct")}))
		Expect(withToken(srv, http.MethodPost, "change-password/", token, body{
			"old_password": p.Password, "password": newPassword, "password_confirm": newPassword,
		})).To(Answer(200, detail(msgPasswordChanged)))
		Expect(withToken(srv, http.MethodGet, "profile/", otherToken, nil)).To(Answer(401, detail(msgInvalidToken)))
		Expect(withToken(srv, http.MethodGet, "profile/", token, nil)).To(Answer(200, nil))
		Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		tokenOf(login(srv, p.Username, newPassword))
	})

	It("logs out and, with revoke_token, the token stops working", func() {
		Expect(withToken(srv, http.MethodPost, "logout/", token, body{})).To(Answer(200, detail(msgLoggedOut)))
		Expect(withToken(srv, http.MethodGet, "profile/", token, nil)).To(Answer(200, nil))
		Expect(withToken(srv, http.MethodPost, "logout/", token, body{"revoke_token": true})).To(Answer(200, detail(msgLoggedOut)))
		Expect(withToken(srv, http.MethodGet, "profile/", token, nil)).To(Answer(401, detail(msgInvalidToken)))
	})

	It("refuses an unknown token even where none is needed", func() {
		resp := srv.Send(http.MethodPost, srv.API("login/"), "application/json",
			[]byte(`{"login": "`+p.Username+`", "password": "`+newPassword+`"}`), http.Header{"Authorization": {"Token " + token}})
		Expect(resp).To(Answer(401, detail(msgInvalidToken)))
	})

	It("publishes every step as a signal that matches openapi/events.schema.json", func() {
		awaitSignals(events, id, "user_registered", "user_activated",
			"user_logged_in", "user_logged_in", "user_logged_in",
			"user_profile_updated", "user_password_changed", "user_logged_out", "user_logged_out")
		for _, ev := range events.For(id) {
			Expect(string(ev.Payload)).NotTo(ContainSubstring(p.Password))
			Expect(string(ev.Payload)).NotTo(ContainSubstring(newPassword))
		}
		Expect(events.Problems()).To(Succeed())
	})

	It("never writes a password, a token or the signing key to its log", func() {
		expectNoSecretsInLog(srv)
		Expect(srv.Log()).NotTo(ContainSubstring(token))
		Expect(srv.Log()).NotTo(ContainSubstring(newPassword))
	})
})
