package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// cell is one combination of store, mail and events backends. The feature
// suites run on the default cell (sqlite, file, gochannel); every other cell
// runs the smoke journey below. Pick one with
// `ginkgo --label-filter=store:mongodb ./e2e`.
type cell struct {
	store, mail, events string
}

func (c cell) name() string { return c.store + " / " + c.mail + " / " + c.events }

func (c cell) labels() Labels {
	return Label("store:"+c.store, "mail:"+c.mail, "events:"+c.events, "smoke")
}

var cells = []cell{
	{store: "mongodb", mail: "file", events: "gochannel"},
	{store: "sqlite", mail: "smtp", events: "gochannel"},
	{store: "sqlite", mail: "file", events: "nats"},
	{store: "mongodb", mail: "smtp", events: "nats"},
	{store: "postgres", mail: "file", events: "nats"},
}

var _ = Describe("The register → e-mail → verify → login journey", func() {
	for _, c := range cells {
		Describe("on "+c.name(), c.labels(), Ordered, func() {
			var srv *harness.Server
			var events *harness.EventStream

			BeforeAll(func() {
				harness.RequireOwnServer("starts servers with each store, mailer and broker")
				settings := map[string]string{"STORE": c.store, "MAIL_BACKEND": c.mail, "EVENTS_BACKEND": c.events}
				var opts []harness.Option
				if c.store == "mongodb" {
					db := harness.StartFerretDB()
					settings["MONGODB_URI"] = db.URI()
					settings["MONGODB_DATABASE"] = "smoke_" + runTag
				}
				if c.store == "postgres" {
					settings["DATABASE_URL"] = harness.PostgresDatabase()
				}
				if c.mail == "smtp" {
					smtp := harness.StartSMTP()
					settings["SMTP_URL"] = smtp.URL()
					opts = append(opts, harness.WithMailbox(smtp))
				}
				if c.events == "nats" {
					events = harness.SubscribeEvents(harness.NewTopicPrefix())
					for k, v := range natsSettings(events.Prefix) {
						settings[k] = v
					}
				}
				srv = harness.Start(settings, opts...)
			})

			It("registers, mails a link that verifies the account, and lets the user log in", func() {
				p := newPerson("smoke")
				id, params := registerAndReadLink(srv, p)
				Expect(login(srv, p.Username, p.Password)).To(Answer(400, detail(msgLoginInvalid)))
				Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
				tokenOf(login(srv, p.Email, p.Password))
				logins := 1
				Consistently(func() int {
					status := login(srv, p.Username, p.Password).Status
					if status == 200 {
						logins++
					}
					return status
				}).WithTimeout(quietPeriod).WithPolling(300*time.Millisecond).
					Should(Equal(200), "the user stays active while the outbox relay publishes the signals")

				other := newPerson("smoke")
				Expect(srv.PostJSON("register/", with(other.form(), "username", p.Username))).To(Answer(400, body{
					"username": messages(msgUsernameTaken),
				}))

				if events != nil {
					want := []string{"user_registered", "user_activated"}
					for range logins {
						want = append(want, "user_logged_in")
					}
					awaitSignals(events, id, want...)
				}
			})
		})
	}
})
