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

var _ = Describe("Verification with one-time links", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(map[string]string{"REGISTER_VERIFICATION_ONE_TIME_USE": "true"})
	})

	It("verifies the first time the link is used", func() {
		p := newPerson("once")
		_, params := registerAndReadLink(srv, p)
		Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
		Expect(login(srv, p.Username, p.Password)).To(Answer(200, nil))
	})

	It("signs its links with the salt 'register:False' while the user is unverified", func() {
		p := newPerson("salt")
		id, params := registerAndReadLink(srv, p)
		ts, err := strconv.ParseInt(params["timestamp"].(string), 10, 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(params).To(Equal(signedLink(srv.SigningKey(), "register:False", id, ts)))
	})

	Context("when the link was already used", func() {
		It("answers 400 'Invalid signature'", func() {
			p := newPerson("twice")
			_, params := registerAndReadLink(srv, p)
			Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
			Expect(verify(srv, params)).To(Answer(400, detail(msgBadSignature)))
		})
	})

	Context("when the link names a user that does not exist", func() {
		It("answers 400 'User not found' whatever the signature, since the user is looked up first", func() {
			Expect(verify(srv, body{"user_id": "no-such-user-" + runTag, "timestamp": strconv.FormatInt(time.Now().Unix(), 10), "signature": "not-a-signature"})).
				To(Answer(400, detail(msgUserNotFound)))
		})
	})
})

var _ = Describe("Verification switched off", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(map[string]string{"REGISTER_VERIFICATION_ENABLED": "false"})
	})

	It("answers 404 'Not found.' on verify-registration/", func() {
		Expect(verify(srv, body{"user_id": "1", "timestamp": "1700000000", "signature": "abc"})).To(Answer(404, detail(msgNotFound)))
	})

	It("still answers 400 to a malformed JSON body", func() {
		resp := srv.PostJSON("verify-registration/", `{"user_id": `)
		Expect(resp).To(Answer(400, nil))
		Expect(resp.JSON()).To(HaveKeyWithValue("detail", HavePrefix("JSON parse error - ")))
	})

	It("registers users active, sends no e-mail, and lets them log in at once", func() {
		p := newPerson("direct")
		register(srv, p)
		Expect(login(srv, p.Username, p.Password)).To(Answer(200, nil))
		Consistently(func() []*harness.Mail { return srv.MailTo(p.Email) }).WithTimeout(time.Second).Should(BeEmpty())
	})

	It("lets users register without an e-mail address", func() {
		p := newPerson("anon")
		resp := srv.PostJSON("register/", without(p.form(), "email"))
		Expect(resp).To(Answer(201, nil))
		Expect(resp.JSON()).To(HaveKeyWithValue("email", ""))
	})
})

var _ = Describe("Verification after a key rotation", defaultCell, Ordered, func() {
	const oldKey = "e2e-previous-signing-key-retired-but-still-trusted"
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(map[string]string{
			"SECRET_KEY":           harness.SecretKey + "-rotated",
			"SECRET_KEY_FALLBACKS": oldKey,
		})
	})

	It("accepts a link signed with the previous key", func() {
		p := newPerson("rotated")
		id := register(srv, p)
		Expect(verify(srv, signedLink(oldKey, "register", id, time.Now().Unix()))).To(Answer(200, detail(msgVerified)))
	})

	It("signs new links with the current key", func() {
		p := newPerson("fresh")
		id, params := registerAndReadLink(srv, p)
		ts, err := strconv.ParseInt(params["timestamp"].(string), 10, 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(params).To(Equal(signedLink(harness.SecretKey+"-rotated", "register", id, ts)))
	})

	It("rejects a link signed with a key it never had", func() {
		id := register(srv, newPerson("stranger"))
		Expect(verify(srv, signedLink("some-other-key", "register", id, time.Now().Unix()))).To(Answer(400, detail(msgBadSignature)))
	})
})
