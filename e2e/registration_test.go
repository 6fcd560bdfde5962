package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

var _ = Describe("Registration", defaultCell, Ordered, func() {
	var srv *harness.Server

	BeforeAll(func() {
		srv = harness.Start(nil)
	})

	Context("when every field is valid", func() {
		It("answers 201 with the new user's public fields and nothing else", func() {
			p := newPerson("ann")
			resp := srv.PostJSON("register/", p.form())
			Expect(resp).To(Answer(201, nil))
			got := resp.JSON()
			Expect(got).To(HaveKeyWithValue("id", Not(BeEmpty())))
			Expect(without(got, "id")).To(Equal(body{
				"username":   p.Username,
				"email":      p.Email,
				"first_name": p.FirstName,
				"last_name":  p.LastName,
			}))
			Expect(string(resp.Body)).NotTo(ContainSubstring(p.Password))
		})

		It("keeps the user inactive until the link is used", func() {
			p := newPerson("inactive")
			register(srv, p)
			Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		})

		It("sends exactly one verification e-mail, to the address given", func() {
			p := newPerson("mailme")
			register(srv, p)
			m := awaitMail(srv, p.Email)
			Expect(m.VerificationLink().Query().Get("signature")).NotTo(BeEmpty())
			Expect(m.Text + m.HTML).NotTo(ContainSubstring(p.Password))
		})

		It("accepts a form-encoded body, as a plain HTML form sends it", func() {
			p := newPerson("form")
			v := url.Values{}
			for k, val := range p.form() {
				v.Set(k, val.(string))
			}
			resp := srv.PostForm("register/", v)
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("username", p.Username))
		})

		It("accepts the path without its final slash", func() {
			p := newPerson("noslash")
			Expect(srv.PostJSON("register", p.form())).To(Answer(201, nil))
		})

		It("trims the e-mail address and lower-cases its domain, keeping the local part as typed", func() {
			p := newPerson("Case")
			local := strings.Split(p.Email, "@")[0]
			resp := srv.PostJSON("register/", with(p.form(), "email", "  "+local+"@Mail.EXAMPLE.test  "))
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("email", local+"@mail.example.test"))
		})

		It("stores empty first and last names when none are given", func() {
			p := newPerson("nameless")
			resp := srv.PostJSON("register/", without(p.form(), "first_name", "last_name"))
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(And(HaveKeyWithValue("first_name", ""), HaveKeyWithValue("last_name", "")))
		})
	})

	Context("when required fields are missing, null or blank", func() {
		It("answers 400 with 'This field is required.' for each missing field, and only those", func() {
			p := newPerson("missing")
			Expect(srv.PostJSON("register/", body{"email": p.Email})).To(Answer(400, body{
				"username":         messages(msgRequired),
				"password":         messages(msgRequired),
				"password_confirm": messages(msgRequired),
			}))
		})

		It("answers 400 'This field may not be null.' for a null username", func() {
			p := newPerson("null")
			Expect(srv.PostJSON("register/", with(p.form(), "username", nil))).To(Answer(400, body{
				"username": messages(msgNull),
			}))
		})

		It("answers 400 'This field may not be blank.' for an all-blank username", func() {
			p := newPerson("blank")
			Expect(srv.PostJSON("register/", with(p.form(), "username", "   "))).To(Answer(400, body{
				"username": messages(msgBlank),
			}))
		})
	})

	Context("when a value is too long or malformed", func() {
		It("answers 400 for a username longer than 150 characters", func() {
			p := newPerson("long")
			Expect(srv.PostJSON("register/", with(p.form(), "username", strings.Repeat("a", 151)))).To(Answer(400, body{
				"username": messages("Ensure this field has no more than 150 characters."),
			}))
		})

		It("answers 400 for a first name longer than 150 characters", func() {
			p := newPerson("longname")
			Expect(srv.PostJSON("register/", with(p.form(), "first_name", strings.Repeat("é", 151)))).To(Answer(400, body{
				"first_name": messages("Ensure this field has no more than 150 characters."),
			}))
		})

		It("answers 400 'Enter a valid email address.' for a malformed address", func() {
			p := newPerson("bademail")
			Expect(srv.PostJSON("register/", with(p.form(), "email", "not-an-address"))).To(Answer(400, body{
				"email": messages(msgInvalidEmail),
			}))
		})

		It("answers 400 for a username with a space or a symbol outside @/./+/-/_", func() {
			p := newPerson("badname")
			for _, name := range []string{p.Username + " smith", p.Username + "!", "<" + p.Username + ">"} {
				Expect(srv.PostJSON("register/", with(p.form(), "username", name))).To(Answer(400, body{
					"username": messages(msgInvalidName),
				}), "username %q", name)
			}
		})

		It("reports every failing field of this stage at once", func() {
			p := newPerson("several")
			Expect(srv.PostJSON("register/", with(p.form(), "username", p.Username+" x", "email", "nope", "password", "1"))).To(Answer(400, body{
				"username": messages(msgInvalidName),
				"email":    messages(msgInvalidEmail),
			}), "field checks come first; the password policy is not consulted yet")
		})
	})

	Context("when the username or the e-mail address is already taken", func() {
		var taken person

		BeforeAll(func() {
			taken = newPerson("taken")
			register(srv, taken)
		})

		It("answers 400 'A user with that username already exists.', whatever the letter case", func() {
			other := newPerson("other")
			Expect(srv.PostJSON("register/", with(other.form(), "username", strings.ToUpper(taken.Username)))).To(Answer(400, body{
				"username": messages(msgUsernameTaken),
			}))
		})

		It("answers 400 'A user with that email address already exists.', whatever the letter case", func() {
			other := newPerson("other")
			Expect(srv.PostJSON("register/", with(other.form(), "email", strings.ToUpper(taken.Email)))).To(Answer(400, body{
				"email": messages(msgEmailTaken),
			}))
		})

		It("reports a taken username together with the other field errors", func() {
			other := newPerson("other")
			Expect(srv.PostJSON("register/", with(other.form(), "username", taken.Username, "email", "nope"))).To(Answer(400, body{
				"username": messages(msgUsernameTaken),
				"email":    messages(msgInvalidEmail),
			}))
		})

		It("does not look at the password while the username is taken", func() {
			other := newPerson("other")
			Expect(srv.PostJSON("register/", with(other.form(), "username", taken.Username, "password", "123", "password_confirm", "321"))).To(Answer(400, body{
				"username": messages(msgUsernameTaken),
			}))
		})
	})

	Context("when the password is weak or not confirmed", func() {
		It("answers 400 with every policy message in validator order, plus an empty non_field_errors", func() {
			p := newPerson("weak")
			Expect(srv.PostJSON("register/", with(p.form(), "password", "1234567", "password_confirm", "1234567"))).To(Answer(400, body{
				"password":         messages(msgTooShort, msgTooCommon, msgNumeric),
				"non_field_errors": messages(),
			}))
		})

		It("answers 400 when the password is too similar to the username", func() {
			p := newPerson("margaret")
			Expect(srv.PostJSON("register/", with(p.form(), "password", p.Username, "password_confirm", p.Username))).To(Answer(400, body{
				"password":         messages(msgSimilarName),
				"non_field_errors": messages(),
			}))
		})

		It("answers 400 \"Passwords don't match\" when the confirmation differs", func() {
			p := newPerson("mismatch")
			Expect(srv.PostJSON("register/", with(p.form(), "password_confirm", p.Password+"!"))).To(Answer(400, body{
				"password_confirm": messages(msgMismatch),
				"non_field_errors": messages(),
			}))
		})

		It("reports the policy and the confirmation together", func() {
			p := newPerson("both")
			Expect(srv.PostJSON("register/", with(p.form(), "password", "12345678", "password_confirm", "87654321"))).To(Answer(400, body{
				"password":         messages(msgTooCommon, msgNumeric),
				"password_confirm": messages(msgMismatch),
				"non_field_errors": messages(),
			}))
		})
	})

	Context("when verification is on and no e-mail address is given", func() {
		It("answers 400 'User without email cannot be verified'", func() {
			p := newPerson("noemail")
			Expect(srv.PostJSON("register/", without(p.form(), "email"))).To(Answer(400, detail(msgNoEmail)))
		})
	})

	Context("when the request tries to set privileged fields", func() {
		It("ignores id, is_active, is_staff and is_superuser: the user is an ordinary one awaiting verification", func() {
			p := newPerson("sneaky")
			resp := srv.PostJSON("register/", with(p.form(),
				"id", "chosen-by-the-client", "is_active", true, "is_staff", true, "is_superuser", true))
			Expect(resp).To(Answer(201, nil))
			got := resp.JSON()
			Expect(got["id"]).NotTo(Equal("chosen-by-the-client"))
			Expect(got).NotTo(HaveKey("is_active"))
			Expect(got).NotTo(HaveKey("is_staff"))
			Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)), "the user must still be inactive")
		})
	})

	Context("when the username is written with Unicode", func() {
		It("stores it NFKC-normalised, so full-width letters become their ASCII twins", func() {
			p := newPerson("wide")
			resp := srv.PostJSON("register/", with(p.form(), "username", fullWidth(p.Username)))
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("username", p.Username))

			other := newPerson("other")
			Expect(srv.PostJSON("register/", with(other.form(), "username", p.Username))).To(Answer(400, body{
				"username": messages(msgUsernameTaken),
			}), "the ASCII spelling names the same user")
		})

		It("stores a ligature as the letters it stands for", func() {
			p := newPerson("finn")
			resp := srv.PostJSON("register/", with(p.form(), "username", "\ufb01"+p.Username))
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("username", "fi"+p.Username))
		})

		It("accepts letters of any script", func() {
			p := newPerson("script")
			name := "名前Ψυχή_" + p.Username
			resp := srv.PostJSON("register/", with(p.form(), "username", name))
			Expect(resp).To(Answer(201, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("username", name))
		})
	})

	Context("when many requests race for one username", func() {
		It("creates exactly one user and tells every other request the username is taken", func() {
			const racers = 8
			name := newPerson("race").Username
			statuses := make([]int, racers)
			bodies := make([]string, racers)
			var wg sync.WaitGroup
			for i := range racers {
				wg.Add(1)
				go func() {
					defer GinkgoRecover()
					defer wg.Done()
					p := newPerson("racer")
					resp := srv.PostJSON("register/", with(p.form(), "username", name))
					statuses[i] = resp.Status
					bodies[i] = string(resp.Body)
				}()
			}
			wg.Wait()
			created := 0
			for i, status := range statuses {
				switch status {
				case 201:
					created++
				case 400:
					Expect(bodies[i]).To(MatchJSON(`{"username": ["` + msgUsernameTaken + `"]}`))
				default:
					Fail(fmt.Sprintf("racer %d: unexpected answer %d %s", i, status, bodies[i]))
				}
			}
			Expect(created).To(Equal(1))
		})
	})

	Context("when the body is not what the API accepts", func() {
		It("answers 400 'JSON parse error - …' for malformed JSON", func() {
			resp := srv.PostJSON("register/", `{"username": "ann",`)
			Expect(resp).To(Answer(400, nil))
			Expect(resp.JSON()).To(HaveKeyWithValue("detail", HavePrefix("JSON parse error - ")))
			Expect(resp.JSON()).To(HaveLen(1))
		})

		It("answers 400 'Invalid data. Expected a dictionary, but got list.' for a JSON array", func() {
			Expect(srv.PostJSON("register/", `[1, 2]`)).To(Answer(400, body{
				"non_field_errors": messages("Invalid data. Expected a dictionary, but got list."),
			}))
		})

		It("answers 415 for a content type it does not read", func() {
			resp := srv.Send("POST", srv.API("register/"), "text/plain", []byte("username=ann"))
			Expect(resp).To(Answer(415, detail(`Unsupported media type "text/plain" in request.`)))
		})

		It("answers 405 'Method \"GET\" not allowed.' to a GET", func() {
			resp := srv.Send("GET", srv.API("register/"), "", nil)
			Expect(resp).To(Answer(405, detail(`Method "GET" not allowed.`)))
		})

		It("answers 413 'Request body too large.' above 64 KiB", func() {
			p := newPerson("huge")
			Expect(srv.PostJSON("register/", with(p.form(), "first_name", strings.Repeat("x", 70*1024)))).To(Answer(413, detail("Request body too large.")))
		})
	})

	It("never writes a password or the signing key to its log", func() {
		expectNoSecretsInLog(srv)
	})
})

// fullWidth spells ASCII letters and digits with their full-width
// compatibility characters (U+FF10…U+FF5A), which NFKC maps back. Other
// characters stay: a full-width '_' is punctuation, not a word character, so
// Django's username check (which runs before normalisation) refuses it.
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' {
			return r + 0xFEE0
		}
		return r
	}, s)
}
