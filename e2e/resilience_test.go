package e2e

import (
	"fmt"
	"os"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// expectUnavailable checks the answer to a request a dependency outage refused.
func expectUnavailable(resp *harness.Response) {
	GinkgoHelper()
	Expect(resp).To(Answer(503, detail(msgUnavailable)))
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	Expect(err).NotTo(HaveOccurred(), "Retry-After must be a number of seconds: %s", resp)
	Expect(retry).To(BeNumerically(">", 0))
}

var _ = Describe("Signals held while the broker is unreachable", Label("store:sqlite", "mail:file", "events:nats", "restart"), Ordered, func() {
	It("are delivered exactly once after a restart pointed at a reachable broker", func() {
		harness.RequireOwnServer("restarts the server")
		dataDir, err := os.MkdirTemp("", "restreg-e2e-restart-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dataDir)
		events := harness.SubscribeEvents(harness.NewTopicPrefix())

		By("registering and verifying while the broker cannot be reached")
		unreachable := natsSettings(events.Prefix)
		unreachable["EVENTS_URL"] = fmt.Sprintf("nats://127.0.0.1:%d", harness.FreePort())
		unreachable["DATA_DIR"] = dataDir
		first := harness.Start(unreachable)
		p := newPerson("held")
		id := registerAndVerify(first, p)
		Consistently(func() []string { return events.Types(id) }).WithTimeout(quietPeriod).Should(BeEmpty())

		By("stopping the server with its signals still in the outbox")
		Expect(first.Stop()).To(Succeed())

		By("starting it again on the same data, pointed at the broker")
		reachable := natsSettings(events.Prefix)
		reachable["DATA_DIR"] = dataDir
		second := harness.Start(reachable)
		awaitSignals(events, id, "user_registered", "user_activated")

		By("keeping the user it had")
		Expect(login(second, p.Username, p.Password)).To(Answer(200, nil))
	})
})

var _ = Describe("When the mail server is down", Label("store:sqlite", "mail:smtp", "events:nats"), Ordered, func() {
	var srv *harness.Server
	var smtp *harness.SMTPServer
	var events *harness.EventStream

	BeforeAll(func() {
		harness.RequireOwnServer("stops the mail server")
		smtp = harness.StartSMTP()
		smtp.Stop()
		events = harness.SubscribeEvents(harness.NewTopicPrefix())
		settings := natsSettings(events.Prefix)
		settings["MAIL_BACKEND"] = "smtp"
		settings["SMTP_URL"] = smtp.URL()
		srv = harness.Start(settings, harness.WithMailbox(smtp))
	})

	It("refuses registrations with 503 and Retry-After, leaving nothing behind, and recovers when it is back", func() {
		p := newPerson("outage")

		By("registering while nothing listens on the SMTP port")
		expectUnavailable(srv.PostJSON("register/", p.form()))
		Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
		Consistently(func() []harness.Event {
			var about []harness.Event
			for _, ev := range events.All() {
				if ev.Body.User.Username == p.Username {
					about = append(about, ev)
				}
			}
			return about
		}).WithTimeout(quietPeriod).Should(BeEmpty(), "a refused registration emits no signal")

		By("registering the same username and address once the mail server is back")
		Expect(smtp.Start()).To(Succeed())
		id := registerAndVerify(srv, p)
		Expect(login(srv, p.Username, p.Password)).To(Answer(200, nil))
		awaitSignals(events, id, "user_registered", "user_activated", "user_logged_in")

		msgs := srv.MailTo(p.Email)
		Expect(msgs).To(HaveLen(1))
		Expect(msgs[0].EnvelopeTo).To(ConsistOf(p.Email))
	})
})

var _ = Describe("When the database is down", Label("store:mongodb", "mail:file", "events:gochannel"), Ordered, func() {
	var srv *harness.Server
	var db *harness.FerretDB

	BeforeAll(func() {
		harness.RequireOwnServer("stops the database")
		db = harness.StartFerretDB()
		srv = harness.Start(map[string]string{
			"STORE":            "mongodb",
			"MONGODB_URI":      db.URI(),
			"MONGODB_DATABASE": "outage_" + runTag,
		})
	})

	It("answers 503 with Retry-After, reports not ready, and recovers when it is back", func() {
		before := newPerson("before")
		registerAndVerify(srv, before)
		Expect(login(srv, before.Username, before.Password)).To(Answer(200, nil))

		By("stopping the database")
		db.Stop()
		p := newPerson("outage")
		expectUnavailable(srv.PostJSON("register/", p.form()))
		expectUnavailable(srv.Get("/readyz"))

		By("starting it again on the same address and data")
		Expect(db.Start()).To(Succeed())
		Eventually(func() int { return srv.Get("/readyz").Status }).WithTimeout(60 * time.Second).WithPolling(500 * time.Millisecond).Should(Equal(200))
		registerAndVerify(srv, p)
		Expect(login(srv, before.Username, before.Password)).To(Answer(200, nil), "users stored before the outage are kept")
	})
})
