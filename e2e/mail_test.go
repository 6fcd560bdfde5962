package e2e

import (
	"html"
	"net/mail"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// expectAddress checks a parsed address header.
func expectAddress(got []*mail.Address, want string) {
	GinkgoHelper()
	w, err := mail.ParseAddress(want)
	Expect(err).NotTo(HaveOccurred())
	Expect(got).To(HaveLen(1))
	Expect(got[0].Address).To(Equal(w.Address))
	Expect(got[0].Name).To(Equal(w.Name))
}

// crlfToLF normalises line ends, which RFC 5322 transports as CRLF.
func crlfToLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

var _ = Describe("The verification e-mail", defaultCell, Ordered, func() {
	const replyTo = "Support <support@example.test>"
	var srv *harness.Server
	var p person
	var id string
	var m *harness.Mail

	BeforeAll(func() {
		srv = harness.Start(map[string]string{"VERIFICATION_REPLY_TO_EMAIL": replyTo})
		p = newPerson("reader")
		p.FirstName = `<script>alert("x")</script>`
		p.LastName = "Claim-your-refund-at-evil.example"
		id = register(srv, p)
		m = awaitMail(srv, p.Email)
	})

	It("has the subject 'Please verify your account'", func() {
		Expect(m.Subject).To(Equal("Please verify your account"))
	})

	It("comes from VERIFICATION_FROM_EMAIL, answers to VERIFICATION_REPLY_TO_EMAIL, and goes to the user", func() {
		expectAddress(m.From, harness.FromEmail)
		expectAddress(m.ReplyTo, replyTo)
		Expect(m.To).To(HaveLen(1))
		Expect(m.To[0].Address).To(Equal(p.Email))
	})

	It("has a text part first and an HTML alternative", func() {
		Expect(m.MediaType).To(Equal("multipart/alternative"))
		Expect(m.PartTypes).To(Equal([]string{"text/plain", "text/html"}))
	})

	It("says what django-rest-registration says, with the link, in the text part", func() {
		link := m.VerificationLink()
		Expect(crlfToLF(m.Text)).To(Equal("Please verify your account by clicking on this link:\n\n" + link.String() + "\n\n"))
	})

	It("links to REGISTER_VERIFICATION_URL with user_id, timestamp and signature in that order", func() {
		link := m.VerificationLink()
		Expect(link.String()).To(HavePrefix(harness.VerificationURL + "?user_id="))
		Expect(link.RawQuery).To(MatchRegexp(`^user_id=[^&]+&timestamp=[0-9]+&signature=[A-Za-z0-9_-]{43}$`))
		params := linkParams(link)
		Expect(params["user_id"]).To(Equal(id))
		ts, err := strconv.ParseInt(params["timestamp"].(string), 10, 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(time.Unix(ts, 0)).To(BeTemporally("~", time.Now(), 2*time.Minute))
		Expect(params["signature"]).To(Equal(signedLink(harness.SecretKey, "register", id, ts)["signature"]),
			"the link is signed as Django signs it")
	})

	It("shows the same link in the HTML part, as a button and as text", func() {
		link := m.VerificationLink().String()
		escaped := html.EscapeString(link)
		Expect(m.HTML).To(ContainSubstring(`href="` + escaped + `"`))
		Expect(strings.Count(m.HTML, escaped)).To(BeNumerically(">=", 2))
	})

	It("carries none of the names the registration chose, escaped or not", func() {
		for _, part := range []string{m.Subject, m.Text, m.HTML} {
			Expect(part).NotTo(ContainSubstring("script"))
			Expect(part).NotTo(ContainSubstring("alert"))
			Expect(part).NotTo(ContainSubstring(p.LastName))
		}
	})

	It("never carries the password", func() {
		Expect(string(m.Raw)).NotTo(ContainSubstring(p.Password))
	})

	It("is sent once, even when the link is used", func() {
		Expect(verify(srv, linkParams(m.VerificationLink()))).To(Answer(200, detail(msgVerified)))
		Consistently(func() []*harness.Mail { return srv.MailTo(p.Email) }).WithTimeout(time.Second).Should(HaveLen(1))
	})
})

var _ = Describe("The verification e-mail without a Reply-To setting", defaultCell, Ordered, func() {
	It("answers to the From address", func() {
		srv := harness.Start(map[string]string{"VERIFICATION_FROM_EMAIL": "noreply@example.test"})
		p := newPerson("replyto")
		register(srv, p)
		m := awaitMail(srv, p.Email)
		expectAddress(m.From, "noreply@example.test")
		expectAddress(m.ReplyTo, "noreply@example.test")
	})
})
