package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/types"

	"github.com/restreg/restreg/e2e/harness"
)

// Labels of the default cell of the matrix, which runs the feature suites.
var defaultCell = Label("store:sqlite", "mail:file", "events:gochannel")

// Messages of the HTTP contract, word for word.
const (
	msgRequired       = "This field is required."
	msgNull           = "This field may not be null."
	msgBlank          = "This field may not be blank."
	msgInvalidInteger = "A valid integer is required."
	msgInvalidEmail   = "Enter a valid email address."
	msgInvalidName    = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	msgUsernameTaken  = "A user with that username already exists."
	msgEmailTaken     = "A user with that email address already exists."
	msgMismatch       = "Passwords don't match"
	msgTooShort       = "This password is too short. It must contain at least 8 characters."
	msgTooCommon      = "This password is too common."
	msgNumeric        = "This password is entirely numeric."
	msgSimilarName    = "The password is too similar to the username."
	msgNoEmail        = "User without email cannot be verified"
	msgBadSignature   = "Invalid signature"
	msgExpired        = "Signature expired"
	msgUserNotFound   = "User not found"
	msgVerified       = "User verified successfully"
	msgLoggedIn       = "Login successful"
	msgLoginInvalid   = "Login or password invalid."
	msgNotFound       = "Not found."
	msgUnavailable    = "Service temporarily unavailable, please try again later."
)

// body is a JSON object as the API sends or receives it.
type body = map[string]any

// detail is a general error or success body.
func detail(msg string) body { return body{"detail": msg} }

// messages is the list of messages of one field.
func messages(msgs ...string) []any {
	out := make([]any, len(msgs))
	for i, m := range msgs {
		out[i] = m
	}
	return out
}

var (
	personSeq atomic.Int64
	// runTag keeps names unique across runs against one deployment.
	runTag = fmt.Sprintf("%05x", rand.IntN(1<<20))
)

// person is someone who registers.
type person struct {
	Username, Email, Password, FirstName, LastName string
}

// newPerson returns a person with a username and e-mail address no other
// spec of this run uses.
func newPerson(name string) person {
	u := fmt.Sprintf("%s_%s%d", name, runTag, personSeq.Add(1))
	return person{
		Username:  u,
		Email:     u + "@mail.example.test",
		Password:  "violet-Harbour-93-lantern",
		FirstName: "Ann",
		LastName:  "Example",
	}
}

// form is the registration request of p.
func (p person) form() body {
	return body{
		"username":         p.Username,
		"email":            p.Email,
		"password":         p.Password,
		"password_confirm": p.Password,
		"first_name":       p.FirstName,
		"last_name":        p.LastName,
	}
}

// without returns b without the named keys.
func without(b body, keys ...string) body {
	out := body{}
	for k, v := range b {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// with returns b with the given key and value pairs set.
func with(b body, kv ...any) body {
	out := without(b)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// register registers p and returns the new user's id.
func register(srv *harness.Server, p person) string {
	GinkgoHelper()
	resp := srv.PostJSON("register/", p.form())
	Expect(resp).To(Answer(201, nil))
	id, ok := resp.JSON()["id"].(string)
	Expect(ok).To(BeTrue(), "id must be a string: %s", resp)
	Expect(id).NotTo(BeEmpty())
	return id
}

// awaitMail waits for the one message the server sends to addr.
func awaitMail(srv *harness.Server, addr string) *harness.Mail {
	GinkgoHelper()
	srv.MailTo(addr) // skips when the server's mail cannot be read
	var got []*harness.Mail
	Eventually(func() []*harness.Mail {
		got = srv.MailTo(addr)
		return got
	}).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).Should(HaveLen(1), "one verification e-mail to %s", addr)
	return got[0]
}

// linkParams are the three parameters of a verification link, as the
// frontend page posts them.
func linkParams(link *url.URL) body {
	GinkgoHelper()
	q := link.Query()
	for _, k := range []string{"user_id", "timestamp", "signature"} {
		Expect(q.Has(k)).To(BeTrue(), "the link %s lacks %s", link, k)
	}
	return body{"user_id": q.Get("user_id"), "timestamp": q.Get("timestamp"), "signature": q.Get("signature")}
}

// registerAndReadLink registers p and returns the link parameters of the
// verification e-mail the server sent.
func registerAndReadLink(srv *harness.Server, p person) (string, body) {
	GinkgoHelper()
	id := register(srv, p)
	link := awaitMail(srv, p.Email).VerificationLink()
	params := linkParams(link)
	Expect(params["user_id"]).To(Equal(id), "the link names the user registered")
	return id, params
}

// verify posts link parameters to verify-registration/.
func verify(srv *harness.Server, params body) *harness.Response {
	GinkgoHelper()
	return srv.PostJSON("verify-registration/", params)
}

// login posts a login and password.
func login(srv *harness.Server, name, password string) *harness.Response {
	GinkgoHelper()
	return srv.PostJSON("login/", body{"login": name, "password": password})
}

// registerAndVerify registers p and verifies the account with the link from
// the e-mail; it returns the user's id.
func registerAndVerify(srv *harness.Server, p person) string {
	GinkgoHelper()
	id, params := registerAndReadLink(srv, p)
	Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
	return id
}

// expectNoSecretsInLog checks that nothing secret reached the server's log:
// the passwords the suite used and the signing key.
func expectNoSecretsInLog(srv *harness.Server) {
	GinkgoHelper()
	harness.RequireOwnServer("reads the server's log")
	log := srv.Log()
	Expect(log).NotTo(BeEmpty())
	for _, secret := range []string{newPerson("x").Password, srv.SigningKey()} {
		Expect(log).NotTo(ContainSubstring(secret))
	}
}

var tokenPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// tokenOf returns the token of a login or auto-login answer, which must be
// 40 lowercase hex characters.
func tokenOf(resp *harness.Response) string {
	GinkgoHelper()
	tok, _ := resp.JSON()["token"].(string)
	Expect(tok).To(MatchRegexp(tokenPattern.String()), "token in %s", resp)
	return tok
}

// Answer matches a response with the given status and, unless want is nil,
// exactly the given JSON body.
func Answer(status int, want body) types.GomegaMatcher {
	return &answerMatcher{status: status, body: want}
}

type answerMatcher struct {
	status int
	body   body
}

func (m *answerMatcher) Match(actual any) (bool, error) {
	resp, ok := actual.(*harness.Response)
	if !ok {
		return false, fmt.Errorf("Answer expects a *harness.Response, got %T", actual)
	}
	if resp.Status != m.status {
		return false, nil
	}
	if m.body == nil {
		return true, nil
	}
	if !json.Valid(resp.Body) {
		return false, nil
	}
	var got any
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		return false, err
	}
	raw, err := json.Marshal(m.body)
	if err != nil {
		return false, err
	}
	var want any
	if err := json.Unmarshal(raw, &want); err != nil {
		return false, err
	}
	return reflect.DeepEqual(got, want), nil
}

func (m *answerMatcher) want() string {
	if m.body == nil {
		return fmt.Sprint(m.status)
	}
	raw, _ := json.Marshal(m.body)
	return fmt.Sprintf("%d %s", m.status, raw)
}

func (m *answerMatcher) FailureMessage(actual any) string {
	return fmt.Sprintf("Expected the exchange\n\t%s\nto answer\n\t%s", indent(fmt.Sprint(actual)), m.want())
}

func (m *answerMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("Expected the exchange\n\t%s\nnot to answer\n\t%s", indent(fmt.Sprint(actual)), m.want())
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n\t") }
