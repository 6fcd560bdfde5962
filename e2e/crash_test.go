package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// A process killed with SIGKILL in the middle of a registration must lose
// no verification e-mail and reorder no signal: the e-mail is queued with
// the user in one write, and the restarted server's courier sends it once
// the dead request's lease ends.
var _ = Describe("A registration whose process is killed while its e-mail is being sent", Label("store:sqlite", "mail:smtp", "events:nats", "restart", "crash"), func() {
	DescribeTable("ends with the e-mail sent, the signals in order and resend working",
		func(acceptBeforeDeath bool) {
			harness.RequireOwnServer("kills the server")
			mail := harness.StartSMTP()
			events := harness.SubscribeEvents(harness.NewTopicPrefix())
			dataDir, err := os.MkdirTemp("", "restreg-e2e-crash-")
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(os.RemoveAll, dataDir)
			settings := natsSettings(events.Prefix)
			settings["DATA_DIR"] = dataDir
			settings["MAIL_BACKEND"] = "smtp"
			settings["SMTP_URL"] = mail.URL()
			settings["MAIL_SEND_TIMEOUT"] = "2s"
			settings["RESEND_VERIFICATION_INTERVAL"] = "1s"
			settings["OUTBOX_POLL_INTERVAL"] = "200ms"
			first := harness.Start(settings, harness.WithMailbox(mail))

			By("holding the message at the mail server")
			entered := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			mail.Hold(func(accept func()) error {
				if acceptBeforeDeath {
					accept()
				}
				once.Do(func() { close(entered) })
				<-release
				return &smtp.SMTPError{Code: 451, Message: "try again later"}
			})
			DeferCleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})

			p := newPerson("crash")
			go func() {
				defer GinkgoRecover()
				raw, _ := json.Marshal(p.form())
				resp, err := http.Post(first.BaseURL+first.BasePath+"/register/", "application/json", bytes.NewReader(raw))
				if err == nil {
					_ = resp.Body.Close()
				}
			}()
			Eventually(entered).WithTimeout(30 * time.Second).Should(BeClosed())

			By("killing the process while it waits for the mail server's answer")
			first.Kill()
			mail.Hold(nil)
			close(release)

			By("starting it again on the same data")
			second := harness.Start(settings, harness.WithMailbox(mail))
			// Accepted before the death but not recorded: sent again (at
			// least once); never accepted: sent once.
			want := 1
			if acceptBeforeDeath {
				want = 2
			}
			Eventually(func() int { return len(second.MailTo(p.Email)) }).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).
				Should(Equal(want), "the courier sends the e-mail the dead request owed once its lease ends")
			Consistently(func() int { return len(second.MailTo(p.Email)) }).WithTimeout(quietPeriod).Should(Equal(want))
			sent := second.MailTo(p.Email)
			id := linkParams(sent[0].VerificationLink())["user_id"].(string)

			By("resending the link, which works as usual")
			time.Sleep(1100 * time.Millisecond)
			Expect(second.PostJSON("resend-verification/", body{"login": p.Username})).To(Answer(200, nil))
			Eventually(func() int { return len(second.MailTo(p.Email)) }).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).
				Should(Equal(len(sent) + 1))

			By("verifying with the newest link and logging in")
			all := second.MailTo(p.Email)
			Expect(verify(second, linkParams(all[len(all)-1].VerificationLink()))).To(Answer(200, detail(msgVerified)))
			Expect(login(second, p.Username, p.Password)).To(Answer(200, nil))

			By("publishing user_registered, user_activated and the login's user_logged_in in that order, once each")
			signals := []string{"user_registered", "user_activated", "user_logged_in"}
			Eventually(func() []string { return events.Types(id) }).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).
				Should(Equal(signals))
			Consistently(func() []string { return events.Types(id) }).WithTimeout(quietPeriod).
				Should(Equal(signals))
		},
		Entry("before the mail server accepted the message", false),
		Entry("after the mail server accepted the message, before restreg heard so", true),
	)
})
