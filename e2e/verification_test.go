package e2e

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// verificationPeriod is REGISTER_VERIFICATION_PERIOD's default.
const verificationPeriod = 7 * 24 * time.Hour

var _ = Describe("Verification", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(nil)
	})

	Context("with the link from the e-mail", func() {
		It("answers 200 'User verified successfully' and the user can log in", func() {
			p := newPerson("verify")
			_, params := registerAndReadLink(srv, p)
			Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
			Expect(login(srv, p.Username, p.Password)).To(Answer(200, nil))
		})

		It("accepts the parameters form-encoded too", func() {
			p := newPerson("verifyform")
			_, params := registerAndReadLink(srv, p)
			v := map[string][]string{}
			for k, val := range params {
				v[k] = []string{val.(string)}
			}
			Expect(srv.PostForm("verify-registration/", v)).To(Answer(200, detail(msgVerified)))
		})

		It("accepts the timestamp written as a decimal number", func() {
			p := newPerson("decimal")
			_, params := registerAndReadLink(srv, p)
			Expect(verify(srv, with(params, "timestamp", params["timestamp"].(string)+".0"))).To(Answer(200, detail(msgVerified)))
		})
	})

	Context("when the link was already used", func() {
		It("answers 200 again, since links are reusable by default", func() {
			p := newPerson("reuse")
			_, params := registerAndReadLink(srv, p)
			Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
			Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
		})
	})

	Context("when the link was tampered with", func() {
		var params body
		var p person

		BeforeAll(func() {
			p = newPerson("tamper")
			_, params = registerAndReadLink(srv, p)
		})

		It("answers 400 'Invalid signature' for a changed signature", func() {
			sig := []byte(params["signature"].(string))
			if sig[0] == 'A' {
				sig[0] = 'B'
			} else {
				sig[0] = 'A'
			}
			Expect(verify(srv, with(params, "signature", string(sig)))).To(Answer(400, detail(msgBadSignature)))
		})

		It("answers 400 'Invalid signature' for a link moved to another user", func() {
			other := newPerson("victim")
			otherID := register(srv, other)
			Expect(verify(srv, with(params, "user_id", otherID))).To(Answer(400, detail(msgBadSignature)))
			Expect(login(srv, other.Username, other.Password)).To(Answer(400, detail(msgLoginInvalid)), "the other user stays inactive")
		})

		It("answers 400 'Invalid signature' for a changed timestamp", func() {
			ts, err := strconv.ParseInt(params["timestamp"].(string), 10, 64)
			Expect(err).NotTo(HaveOccurred())
			Expect(verify(srv, with(params, "timestamp", strconv.FormatInt(ts+3600, 10)))).To(Answer(400, detail(msgBadSignature)))
		})

		It("leaves the user inactive", func() {
			Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		})
	})

	Context("when the link has expired", func() {
		It("answers 400 'Signature expired'", func() {
			key := srv.SigningKey()
			p := newPerson("late")
			id := register(srv, p)
			old := time.Now().Add(-verificationPeriod - time.Hour).Unix()
			Expect(verify(srv, signedLink(key, "register", id, old))).To(Answer(400, detail(msgExpired)))
			Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		})

		It("checks the signature before the age: an old forged link is 'Invalid signature'", func() {
			key := srv.SigningKey()
			id := register(srv, newPerson("oldforged"))
			old := time.Now().Add(-verificationPeriod - time.Hour).Unix()
			forged := signedLink(key+"-wrong", "register", id, old)
			Expect(verify(srv, forged)).To(Answer(400, detail(msgBadSignature)))
		})

		It("still accepts a link just inside the period", func() {
			key := srv.SigningKey()
			id := register(srv, newPerson("intime"))
			recent := time.Now().Add(-verificationPeriod + time.Hour).Unix()
			Expect(verify(srv, signedLink(key, "register", id, recent))).To(Answer(200, detail(msgVerified)))
		})
	})

	Context("when the link was signed with the shared SECRET_KEY by someone else (a Django backend)", func() {
		It("verifies it like its own, and a timestamp in the future is accepted", func() {
			key := srv.SigningKey()
			p := newPerson("django")
			id := register(srv, p)
			future := time.Now().Add(24 * time.Hour).Unix()
			Expect(verify(srv, signedLink(key, "register", id, future))).To(Answer(200, detail(msgVerified)))
			Expect(login(srv, p.Username, p.Password)).To(Answer(200, nil))
		})
	})

	Context("when the link names a user that does not exist", func() {
		It("answers 400 'User not found'", func() {
			key := srv.SigningKey()
			Expect(verify(srv, signedLink(key, "register", "no-such-user-"+runTag, time.Now().Unix()))).To(Answer(400, detail(msgUserNotFound)))
		})
	})

	Context("when a field is missing or malformed", func() {
		It("answers 400 'This field is required.' for each missing field", func() {
			Expect(verify(srv, body{})).To(Answer(400, body{
				"user_id":   messages(msgRequired),
				"timestamp": messages(msgRequired),
				"signature": messages(msgRequired),
			}))
		})

		It("answers 400 'A valid integer is required.' for a timestamp that is not a number", func() {
			Expect(verify(srv, body{"user_id": "1", "timestamp": "soon", "signature": "abc"})).To(Answer(400, body{
				"timestamp": messages(msgInvalidInteger),
			}))
		})

		It("answers 400 'This field may not be blank.' for a blank signature", func() {
			Expect(verify(srv, body{"user_id": "1", "timestamp": "1700000000", "signature": "  "})).To(Answer(400, body{
				"signature": messages(msgBlank),
			}))
		})
	})
})
