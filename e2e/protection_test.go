package e2e

import (
	"regexp"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

const (
	msgResendAnswer = "If the account exists and is not verified, a new verification e-mail has been sent."
	subjectExisting = "Someone tried to register with your e-mail address"
)

// throttled is DRF's answer to a throttled request.
var throttled = regexp.MustCompile(`^Request was throttled\. Expected available in [1-9][0-9]* seconds?\.$`)

// mailsTo waits until the server has sent n messages to addr and returns them.
func mailsTo(srv *harness.Server, addr string, n int) []*harness.Mail {
	GinkgoHelper()
	var got []*harness.Mail
	Eventually(func() []*harness.Mail {
		got = srv.MailTo(addr)
		return got
	}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(HaveLen(n), "%d e-mails to %s", n, addr)
	return got
}

// expectThrottled checks a 429 in DRF's words with a matching Retry-After.
func expectThrottled(resp *harness.Response) {
	GinkgoHelper()
	Expect(resp).To(Answer(429, nil))
	Expect(resp.JSON()["detail"]).To(MatchRegexp(throttled.String()))
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	Expect(err).NotTo(HaveOccurred(), "Retry-After must be a number of seconds: %s", resp)
	Expect(retry).To(BeNumerically(">", 0))
}

var _ = Describe("Resending the verification e-mail", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(map[string]string{"RESEND_VERIFICATION_INTERVAL": "1s"})
	})

	resend := func(login string) *harness.Response {
		GinkgoHelper()
		return srv.PostJSON("resend-verification/", body{"login": login})
	}

	Context("when the account is not verified yet", func() {
		It("mails a fresh link that verifies the account", func() {
			p := newPerson("resend")
			_, first := registerAndReadLink(srv, p)
			time.Sleep(1100 * time.Millisecond) // RESEND_VERIFICATION_INTERVAL
			Expect(resend(p.Email)).To(Answer(200, detail(msgResendAnswer)))
			mails := mailsTo(srv, p.Email, 2)
			var fresh body
			for _, m := range mails {
				if params := linkParams(m.VerificationLink()); params["signature"] != first["signature"] {
					fresh = params
				}
			}
			Expect(fresh).NotTo(BeNil(), "the second e-mail carries a new link")
			Expect(verify(srv, fresh)).To(Answer(200, detail(msgVerified)))
			Expect(login(srv, p.Username, p.Password)).To(Answer(200, nil))
		})
	})

	Context("when asked again within RESEND_VERIFICATION_INTERVAL", func() {
		It("answers the same 200 and sends one e-mail only", func() {
			p := newPerson("hasty")
			registerAndReadLink(srv, p)
			time.Sleep(1100 * time.Millisecond)
			Expect(resend(p.Username)).To(Answer(200, detail(msgResendAnswer)))
			Expect(resend(p.Username)).To(Answer(200, detail(msgResendAnswer)))
			mailsTo(srv, p.Email, 2)
			Consistently(func() []*harness.Mail { return srv.MailTo(p.Email) }).
				WithTimeout(700 * time.Millisecond).WithPolling(100 * time.Millisecond).Should(HaveLen(2))
		})
	})

	Context("when nobody has that login, or the account is verified", func() {
		It("answers exactly the same and sends nothing", func() {
			Expect(resend("nobody_" + runTag + "@mail.example.test")).To(Answer(200, detail(msgResendAnswer)))
			p := newPerson("done")
			registerAndVerify(srv, p)
			time.Sleep(1100 * time.Millisecond)
			Expect(resend(p.Email)).To(Answer(200, detail(msgResendAnswer)))
			Consistently(func() []*harness.Mail { return srv.MailTo(p.Email) }).
				WithTimeout(700 * time.Millisecond).WithPolling(100 * time.Millisecond).Should(HaveLen(1))
		})
	})

	Context("when RESEND_VERIFICATION_ENABLED is false", func() {
		It("answers 404 'Not found.'", func() {
			off := harness.Start(map[string]string{"RESEND_VERIFICATION_ENABLED": "false"})
			Expect(off.PostJSON("resend-verification/", body{"login": "anyone"})).To(Answer(404, detail(msgNotFound)))
		})
	})
})

var _ = Describe("Rate limiting", defaultCell, func() {
	Context("when one address registers more often than THROTTLE_REGISTER_IP allows", func() {
		It("answers 429 in DRF's words with Retry-After", func() {
			srv := harness.Start(map[string]string{"RATE_LIMIT_BACKEND": "memory", "THROTTLE_REGISTER_IP": "2/hour"})
			register(srv, newPerson("first"))
			register(srv, newPerson("second"))
			third := newPerson("third")
			expectThrottled(srv.PostJSON("register/", third.form()))
			Expect(login(srv, third.Username, third.Password)).To(Answer(400, detail(msgLoginInvalid)), "nothing was stored")
		})
	})

	Context("when one account is tried more often than THROTTLE_LOGIN_ACCOUNT allows", func() {
		It("answers 429 even to the right password, so guessing stops", func() {
			srv := harness.Start(map[string]string{"RATE_LIMIT_BACKEND": "memory", "THROTTLE_LOGIN_ACCOUNT": "2/hour"})
			p := newPerson("guarded")
			registerAndVerify(srv, p)
			Expect(login(srv, p.Username, "wrong-1")).To(Answer(400, detail(msgLoginInvalid)))
			Expect(login(srv, p.Username, "wrong-2")).To(Answer(400, detail(msgLoginInvalid)))
			expectThrottled(login(srv, p.Username, p.Password))
			other := newPerson("other")
			registerAndVerify(srv, other)
			Expect(login(srv, other.Username, other.Password)).To(Answer(200, nil), "other accounts are not affected")
		})
	})
})

var _ = Describe("Enumeration-safe registration", defaultCell, func() {
	Context("when REGISTER_ENUMERATION_SAFE is true and the e-mail address has an account", func() {
		It("answers like a new registration, holds the username alike, and tells the owner by e-mail", func() {
			srv := harness.Start(map[string]string{"REGISTER_ENUMERATION_SAFE": "true"})
			owner := newPerson("owner")
			registerAndVerify(srv, owner)

			intruder := newPerson("intruder")
			intruder.Email = owner.Email
			resp := srv.PostJSON("register/", intruder.form())
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("username", intruder.Username))
			Expect(resp.JSON()).To(HaveKeyWithValue("email", owner.Email))
			Expect(resp.JSON()).To(HaveKey("id"))

			mails := mailsTo(srv, owner.Email, 2)
			var notice *harness.Mail
			for _, m := range mails {
				if m.Subject == subjectExisting {
					notice = m
				}
			}
			Expect(notice).NotTo(BeNil(), "the owner is told someone tried to register with the address")
			Expect(notice.Links()).To(BeEmpty(), "the notice carries no verification link")

			Expect(login(srv, intruder.Username, intruder.Password)).To(Answer(400, detail(msgLoginInvalid)), "no account can log in")
			Expect(login(srv, owner.Username, owner.Password)).To(Answer(200, nil), "the owner's account is untouched")

			By("holding the username as a new registration would, so a second try tells nothing")
			again := intruder
			again.Email = newPerson("fresh").Email
			Expect(srv.PostJSON("register/", again.form())).To(Answer(400, body{"username": []any{msgUsernameTaken}}))
			fresh := newPerson("fresh")
			Expect(srv.PostJSON("register/", fresh.form())).To(Answer(201, nil))
			freshAgain := fresh
			freshAgain.Email = newPerson("other").Email
			Expect(srv.PostJSON("register/", freshAgain.form())).To(Answer(400, body{"username": []any{msgUsernameTaken}}))
		})
	})
})
