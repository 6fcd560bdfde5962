package e2e

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

var _ = Describe("Login", defaultCell, Ordered, func() {
	var srv *harness.Server
	var p person

	BeforeAll(func() {
		srv = harness.Start(nil)
		p = newPerson("member")
		registerAndVerify(srv, p)
	})

	Context("when the account is verified", func() {
		It("answers 200 'Login successful' with a 40-character hex token for the username", func() {
			resp := login(srv, p.Username, p.Password)
			Expect(resp).To(Answer(200, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("detail", msgLoggedIn))
			tokenOf(resp)
			Expect(resp.JSON()).To(HaveLen(2))
		})

		It("accepts the e-mail address instead of the username, in any letter case", func() {
			Expect(login(srv, strings.ToUpper(p.Email), p.Password)).To(Answer(200, nil))
		})

		It("accepts the username in another letter case", func() {
			Expect(login(srv, strings.ToUpper(p.Username), p.Password)).To(Answer(200, nil))
		})

		It("issues a new token at every login", func() {
			first := tokenOf(login(srv, p.Username, p.Password))
			second := tokenOf(login(srv, p.Username, p.Password))
			Expect(second).NotTo(Equal(first))
		})
	})

	Context("when the credentials are wrong", func() {
		It("answers 400 'Login or password invalid.' for a wrong password", func() {
			Expect(login(srv, p.Username, p.Password+"x")).To(Answer(400, detail(msgLoginInvalid)))
		})

		It("answers the same for a login nobody has", func() {
			Expect(login(srv, "nobody_"+runTag, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		})
	})

	Context("when the account was never verified", func() {
		It("answers the same 400, giving nothing away", func() {
			q := newPerson("pending")
			register(srv, q)
			Expect(login(srv, q.Username, q.Password)).To(Answer(400, detail(msgLoginInvalid)))
		})
	})

	Context("when a field is missing", func() {
		It("answers 400 'This field is required.'", func() {
			Expect(srv.PostJSON("login/", body{"login": p.Username})).To(Answer(400, body{
				"password": messages(msgRequired),
			}))
		})
	})
})
