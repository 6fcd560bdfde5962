package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// The frontend pages the password reset and e-mail change links point to.
const (
	resetURL = "https://frontend-host/reset-password/"
	emailURL = "https://frontend-host/verify-email/"
)

// recoverySettings serve the password reset and e-mail change flows and
// publish the signals on NATS under prefix.
func recoverySettings(prefix string) map[string]string {
	s := natsSettings(prefix)
	s["RESET_PASSWORD_VERIFICATION_URL"] = resetURL
	s["REGISTER_EMAIL_VERIFICATION_URL"] = emailURL
	return s
}

// awaitMailWithSubject waits for a message with subject to addr.
func awaitMailWithSubject(srv *harness.Server, addr, subject string) *harness.Mail {
	GinkgoHelper()
	var found *harness.Mail
	Eventually(func() bool {
		for _, m := range srv.MailTo(addr) {
			if m.Subject == subject {
				found = m
				return true
			}
		}
		return false
	}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(BeTrue(), "an e-mail %q to %s", subject, addr)
	return found
}

var _ = Describe("Forgot password", Label("store:sqlite", "mail:file", "events:nats"), Ordered, func() {
	var srv *harness.Server
	var events *harness.EventStream
	var p person
	var id, oldToken string
	var reset body

	BeforeAll(func() {
		events = harness.SubscribeEvents(harness.NewTopicPrefix())
		srv = harness.Start(recoverySettings(events.Prefix))
		p = newPerson("forgetful")
		id = registerAndVerify(srv, p)
		oldToken = tokenOf(login(srv, p.Username, p.Password))
	})

	It("answers the same whether or not the login names an account", func() {
		for _, name := range []string{p.Username, strings.ToUpper(p.Email), "nobody_" + runTag} {
			Expect(srv.PostJSON("send-reset-password-link/", body{"login": name})).
				To(Answer(200, detail("Reset link sent if the user exists in database")))
		}
	})

	It("mails the account a link to RESET_PASSWORD_VERIFICATION_URL, in django-rest-registration's words", func() {
		m := awaitMailWithSubject(srv, p.Email, "Reset password link was sent")
		link := m.VerificationLink()
		Expect(link.Scheme + "://" + link.Host + link.Path).To(Equal(resetURL))
		// MIME carries text lines ending in CRLF; the words are DRR's.
		Expect(crlfToLF(m.Text)).To(Equal("You can reset your password by clicking on this link:\n\n"+m.Links()[0]+"\n"), "%q", m.Text)
		reset = linkParams(link)
	})

	It("refuses a weak new password before it looks at the link", func() {
		Expect(srv.PostJSON("reset-password/", with(reset, "password", "12345678", "password_confirm", "12345678"))).
			To(Answer(400, body{"password": messages(msgTooCommon, msgNumeric), "non_field_errors": messages()}))
	})

	It("sets the new password from the link", func() {
		Expect(srv.PostJSON("reset-password/", with(reset, "password", "copper-Lantern-58-meadow", "password_confirm", "copper-Lantern-58-meadow"))).
			To(Answer(200, detail("Reset password successful")))
	})

	It("refuses the old password and accepts the new one", func() {
		Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		Expect(login(srv, p.Username, "copper-Lantern-58-meadow")).To(Answer(200, nil))
	})

	It("ends the sessions from before the reset", func() {
		Expect(withToken(srv, http.MethodGet, "profile/", oldToken, nil)).To(Answer(401, detail(msgInvalidToken)))
	})

	It("publishes user_password_reset once, as openapi/events.schema.json says", func() {
		awaitSignals(events, id, "user_registered", "user_activated", "user_logged_in", "user_logged_in", "user_password_reset")
		Expect(events.Problems()).To(Succeed())
	})

	It("never writes the link, the passwords or the signing key to its log", func() {
		expectNoSecretsInLog(srv)
		Expect(srv.Log()).NotTo(ContainSubstring(reset["signature"].(string)))
		Expect(srv.Log()).NotTo(ContainSubstring("copper-Lantern-58-meadow"))
	})
})

var _ = Describe("Changing the e-mail address", Label("store:sqlite", "mail:file", "events:nats"), Ordered, func() {
	var srv *harness.Server
	var events *harness.EventStream
	var p person
	var id, token, newEmail string
	var params body

	BeforeAll(func() {
		events = harness.SubscribeEvents(harness.NewTopicPrefix())
		srv = harness.Start(recoverySettings(events.Prefix))
		p = newPerson("mover")
		newEmail = "moved_" + p.Email
		id = registerAndVerify(srv, p)
		token = tokenOf(login(srv, p.Username, p.Password))
	})

	It("needs a token", func() {
		Expect(srv.PostJSON("register-email/", body{"email": newEmail})).
			To(Answer(401, detail(msgNotProvided)))
	})

	It("answers 'Register email link email sent' and mails a link to the new address", func() {
		Expect(withToken(srv, http.MethodPost, "register-email/", token, body{"email": newEmail})).
			To(Answer(200, detail("Register email link email sent")))
		m := awaitMailWithSubject(srv, newEmail, "Please verify new e-mail")
		link := m.VerificationLink()
		Expect(link.Scheme + "://" + link.Host + link.Path).To(Equal(emailURL))
		Expect(crlfToLF(m.Text)).To(HavePrefix("\nYou can verify the email "+newEmail+" by clicking on this link:\n\n"), "%q", m.Text)
		q := link.Query()
		params = body{"user_id": q.Get("user_id"), "email": q.Get("email"), "timestamp": q.Get("timestamp"), "signature": q.Get("signature")}
		Expect(params["email"]).To(Equal(newEmail))
	})

	It("keeps the old address until the link is used", func() {
		Expect(login(srv, newEmail, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
	})

	It("moves the account to the new address when the link is posted, without a token", func() {
		Expect(srv.PostJSON("verify-email/", params)).To(Answer(200, detail("Email verified successfully")))
		Expect(login(srv, newEmail, p.Password)).To(Answer(200, nil))
		Expect(login(srv, p.Email, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
	})

	It("tells the old address, without a link", func() {
		m := awaitMailWithSubject(srv, p.Email, "Your e-mail address was changed")
		Expect(m.Links()).To(BeEmpty())
	})

	It("shows the new address in the profile", func() {
		resp := withToken(srv, http.MethodGet, "profile/", token, nil)
		Expect(resp).To(Answer(200, nil))
		Expect(resp.JSON()).To(HaveKeyWithValue("email", newEmail))
	})

	It("publishes user_changed_email with both addresses", func() {
		awaitSignals(events, id, "user_registered", "user_activated", "user_logged_in", "user_logged_in", "user_changed_email")
		var changed map[string]any
		for _, ev := range events.For(id) {
			if ev.Body.Type == "user_changed_email" {
				Expect(json.Unmarshal(ev.Payload, &changed)).To(Succeed())
			}
		}
		Expect(changed).To(HaveKeyWithValue("old_email", p.Email))
		Expect(changed).To(HaveKeyWithValue("new_email", newEmail))
		Expect(events.Problems()).To(Succeed())
	})
})
