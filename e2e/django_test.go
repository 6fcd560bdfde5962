package e2e

import (
	"net/http"
	"os"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/adapters/djangodb/djangotest"
	"github.com/restreg/restreg/e2e/harness"
)

// Side by side: a Django backend and restreg share one SECRET_KEY, restreg
// holds the users restreg import-django copied from Django's database, and
// a link either of them signed verifies on the other. The links here are
// signed by this suite's own implementation of Django's Signer
// (signing_test.go, checked against Django's recorded signatures), never by
// restreg's.
var _ = Describe("Moving from Django", defaultCell, Label("source:postgres"), Ordered, func() {
	var (
		srv      *harness.Server
		settings map[string]string
		django   *djangotest.Database
		accounts []djangotest.Account
	)

	BeforeAll(func() {
		harness.RequireOwnServer("imports into the server's store")
		django = djangotest.Postgres(GinkgoT())
		accounts = django.InsertAccounts(GinkgoT())
		dir, err := os.MkdirTemp("", "restreg-e2e-django-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		settings = map[string]string{"DATA_DIR": dir, "PASSWORD_LEGACY_HASHERS": "true"}

		stdout, stderr, code := harness.Run(settings, "import-django", "--from", django.URL)
		Expect(code).To(Equal(0), "import-django: %s%s", stdout, stderr)
		Expect(stdout).To(MatchRegexp(`%d users in .* \(\d+ users/s\): %d created, 0 updated, 1 conflicts`, len(accounts), len(accounts)-1))
		srv = harness.Start(settings)
	})

	It("verifies a link Django signed for an imported user who never verified, then logs the user in", func() {
		inactive := strconv.Itoa(djangotest.InactiveID)
		Expect(login(srv, "inactive_user", djangotest.Password)).To(Answer(400, detail(msgLoginInvalid)))
		link := signedLink(srv.SigningKey(), "register", inactive, time.Now().Add(-time.Hour).Unix())
		Expect(verify(srv, link)).To(Answer(200, detail(msgVerified)))
		tokenOf(login(srv, "inactive_user", djangotest.Password))
	})

	It("brings over users Django created since with --only-new while serving, leaving the imported ones as they are", func() {
		django.Insert(GinkgoT(), djangotest.User{ID: 900, Username: "joined_later", Email: "later@example.com",
			Password: accounts[0].Password, IsActive: true, DateJoined: time.Now().UTC()})
		stdout, stderr, code := harness.Run(settings, "import-django", "--from", django.URL, "--only-new")
		Expect(code).To(Equal(0), "import-django --only-new: %s%s", stdout, stderr)
		Expect(stdout).To(MatchRegexp(`1 created, 0 updated, 1 conflicts .*, %d kept as they are`, len(accounts)-1))
		tokenOf(login(srv, "joined_later", djangotest.Password))
		// Verified here, still inactive in Django: --only-new does not undo it.
		tokenOf(login(srv, "inactive_user", djangotest.Password))
	})

	It("refuses a link signed with another key for the same user", func() {
		link := signedLink("not-the-shared-"+srv.SigningKey(), "register", strconv.Itoa(djangotest.InactiveID), time.Now().Unix())
		Expect(verify(srv, link)).To(Answer(400, detail(msgBadSignature)))
	})

	It("logs in the imported users with their Django passwords, whatever hasher made them", func() {
		for _, a := range accounts {
			if a.Algorithm == "" || !a.IsActive || a.ID == djangotest.CaseTwinID {
				continue
			}
			resp := login(srv, a.Username, djangotest.Password)
			Expect(resp).To(Answer(200, nil), "%s (%s)", a.Username, a.Algorithm)
			tokenOf(resp)
		}
	})

	It("accepts the imported DRF token keys, so clients stay logged in", func() {
		for _, a := range accounts {
			if a.Token == "" || !a.IsActive {
				continue
			}
			resp := srv.Send(http.MethodGet, srv.API("profile/"), "", nil, http.Header{"Authorization": {"Token " + a.Token}})
			Expect(resp).To(Answer(200, nil), "%s", a.Username)
			Expect(resp.JSON()).To(HaveKeyWithValue("username", a.Username))
		}
	})

	It("signs its own links as Django does, so the Django backend accepts them", func() {
		p := newPerson("side_by_side")
		_, params := registerAndReadLink(srv, p)
		id, _ := params["user_id"].(string)
		ts, _ := params["timestamp"].(string)
		Expect(params["signature"]).To(Equal(djangoSignature(srv.SigningKey(), "register", map[string]string{"user_id": id, "timestamp": ts})))
	})
})
