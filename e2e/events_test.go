package e2e

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// quietPeriod is how long a spec watches for a signal that must not come:
// several outbox polls (OUTBOX_POLL_INTERVAL=200ms).
const quietPeriod = 1500 * time.Millisecond

// natsSettings are the settings that publish signals to the machine's NATS
// under prefix.
func natsSettings(prefix string) map[string]string {
	return map[string]string{
		"EVENTS_BACKEND":      "nats",
		"EVENTS_URL":          harness.NATSURL,
		"EVENTS_TOPIC_PREFIX": prefix,
	}
}

// awaitSignals waits until the signals about userID are exactly want (in any
// order) and stay so for the quiet period.
func awaitSignals(events *harness.EventStream, userID string, want ...string) {
	GinkgoHelper()
	Eventually(func() []string { return events.Types(userID) }).WithTimeout(30*time.Second).WithPolling(50*time.Millisecond).
		Should(ConsistOf(want), "signals about user %s", userID)
	Consistently(func() []string { return events.Types(userID) }).WithTimeout(quietPeriod).WithPolling(100*time.Millisecond).
		Should(ConsistOf(want), "no signal about user %s may come twice", userID)
	Expect(events.Problems()).To(Succeed())
}

var _ = Describe("Signals", Label("store:sqlite", "mail:file", "events:nats"), Ordered, func() {
	var srv *harness.Server
	var events *harness.EventStream

	BeforeAll(func() {
		events = harness.SubscribeEvents(harness.NewTopicPrefix())
		srv = harness.Start(natsSettings(events.Prefix))
	})

	Context("when a user registers", func() {
		var p person
		var id string
		var requestID string

		BeforeAll(func() {
			p = newPerson("signal")
			requestID = "e2e-trace-" + p.Username
			raw, err := json.Marshal(p.form())
			Expect(err).NotTo(HaveOccurred())
			resp := srv.Send(http.MethodPost, srv.API("register/"), "application/json", raw, http.Header{"X-Request-Id": {requestID}})
			Expect(resp).To(Answer(201, nil))
			Expect(resp.Header.Get("X-Request-ID")).To(Equal(requestID), "the response echoes the caller's request id")
			id = resp.JSON()["id"].(string)
			awaitSignals(events, id, "user_registered")
		})

		It("publishes user_registered once, on <prefix>user_registered", func() {
			ev := events.For(id)[0]
			Expect(ev.Subject).To(Equal(events.Prefix + "user_registered"))
			Expect(ev.Body.Type).To(Equal("user_registered"))
			Expect(ev.Body.Version).To(Equal(1))
		})

		It("describes the inactive user with its public fields only", func() {
			ev := events.For(id)[0]
			Expect(ev.Body.User.ID).To(Equal(id))
			Expect(ev.Body.User.Username).To(Equal(p.Username))
			Expect(ev.Body.User.Email).To(Equal(p.Email))
			Expect(ev.Body.User.FirstName).To(Equal(p.FirstName))
			Expect(ev.Body.User.LastName).To(Equal(p.LastName))
			Expect(ev.Body.User.IsActive).To(BeFalse())
			Expect(string(ev.Payload)).NotTo(ContainSubstring(p.Password))
		})

		It("names the HTTP request that caused it, with the caller's X-Request-ID", func() {
			ev := events.For(id)[0]
			Expect(ev.Body.Request.ID).To(Equal(requestID))
			Expect(ev.Body.Request.UserAgent).To(Equal(harness.UserAgent))
			Expect(ev.Body.Request.RemoteAddr).To(ContainSubstring("127.0.0.1"))
		})

		It("carries the event id as the message UUID and the envelope in the metadata", func() {
			ev := events.For(id)[0]
			Expect(ev.UUID).To(Equal(ev.Body.EventID))
			Expect(ev.Metadata).To(HaveKeyWithValue("event_type", "user_registered"))
			Expect(ev.Metadata).To(HaveKeyWithValue("event_version", "1"))
			Expect(ev.Metadata).To(HaveKeyWithValue("request_id", ev.Body.Request.ID))
			occurred, err := time.Parse(time.RFC3339, ev.Metadata["occurred_at"])
			Expect(err).NotTo(HaveOccurred())
			Expect(occurred).To(BeTemporally("~", time.Now(), 2*time.Minute))
		})
	})

	Context("when the user verifies, even with the link posted many times at once", func() {
		It("publishes user_activated exactly once, describing the active user", func() {
			p := newPerson("activate")
			id, params := registerAndReadLink(srv, p)
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer GinkgoRecover()
					defer wg.Done()
					Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
				}()
			}
			wg.Wait()
			Expect(verify(srv, params)).To(Answer(200, detail(msgVerified)))
			awaitSignals(events, id, "user_registered", "user_activated")
			for _, ev := range events.For(id) {
				if ev.Body.Type == "user_activated" {
					Expect(ev.Subject).To(Equal(events.Prefix + "user_activated"))
					Expect(ev.Body.User.IsActive).To(BeTrue())
					Expect(ev.Metadata).To(HaveKeyWithValue("event_type", "user_activated"))
				}
			}
		})
	})

	Context("when a registration is refused", func() {
		It("publishes nothing about it", func() {
			p := newPerson("refused")
			Expect(srv.PostJSON("register/", with(p.form(), "password", "123", "password_confirm", "123"))).To(Answer(400, nil))
			Consistently(func() []harness.Event {
				var about []harness.Event
				for _, ev := range events.All() {
					if ev.Body.User.Username == p.Username {
						about = append(about, ev)
					}
				}
				return about
			}).WithTimeout(quietPeriod).Should(BeEmpty())
		})
	})

	Context("when verification is switched off", func() {
		It("publishes user_registered once for the active user, and no user_activated", func() {
			prefix := harness.NewTopicPrefix()
			off := harness.SubscribeEvents(prefix)
			settings := natsSettings(prefix)
			settings["REGISTER_VERIFICATION_ENABLED"] = "false"
			direct := harness.Start(settings)
			id := register(direct, newPerson("direct"))
			awaitSignals(off, id, "user_registered")
			Expect(off.For(id)[0].Body.User.IsActive).To(BeTrue())
		})
	})

	It("never writes a password or the signing key to its log", func() {
		expectNoSecretsInLog(srv)
	})

	It("sent only messages that match openapi/events.schema.json", func() {
		Expect(events.All()).NotTo(BeEmpty())
		Expect(events.Problems()).To(Succeed())
	})
})
