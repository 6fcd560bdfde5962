package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

const (
	msgResendAnswer = "If the account exists and is not verified, a new verification e-mail has been sent."
	subjectExisting = "Someone tried to register with your e-mail address"
)

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
