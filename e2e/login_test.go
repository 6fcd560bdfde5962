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

var _ = Describe("Login without tokens", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(map[string]string{"LOGIN_RETRIEVE_TOKEN": "false"})
	})

	It("answers 200 'Login successful' without a token", func() {
		p := newPerson("tokenless")
		registerAndVerify(srv, p)
		Expect(login(srv, p.Username, p.Password)).To(Answer(200, detail(msgLoggedIn)))
	})
})

var _ = Describe("Auto-login after verification", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(map[string]string{
			"REGISTER_VERIFICATION_AUTO_LOGIN":   "true",
			"REGISTER_VERIFICATION_ONE_TIME_USE": "true",
		})
	})

	It("answers the verification with a login token", func() {
		p := newPerson("auto")
		_, params := registerAndReadLink(srv, p)
		resp := verify(srv, params)
		Expect(resp).To(Answer(200, nil))
		Expect(resp.JSON()).To(HaveKeyWithValue("detail", msgVerified))
		token := tokenOf(resp)
		Expect(tokenOf(login(srv, p.Username, p.Password))).NotTo(Equal(token))
	})

	Context("when the one-time link was already used", func() {
		It("answers 400 'Invalid signature' and hands out no second token", func() {
			p := newPerson("autotwice")
			_, params := registerAndReadLink(srv, p)
			Expect(verify(srv, params)).To(Answer(200, nil))
			Expect(verify(srv, params)).To(Answer(400, detail(msgBadSignature)))
		})
	})
})
