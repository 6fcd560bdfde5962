package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/restreg/restreg/e2e/harness"
)

// The hash queue bounds memory: unbounded, 1,000 argon2id hashes of 19 MiB
// each would need about 19 GB. Serial, because 1,000 requests at once would
// slow every spec running beside it.
var _ = Describe("1,000 registrations at once", Label("store:sqlite", "mail:file", "events:gochannel", "memory"), Serial, func() {
	const (
		requests = 1000
		// rssLimit is the documented bound on the server's peak resident memory.
		rssLimit = 256 * 1000 * 1000
	)

	It("each get a 201 or a prompt 503 with Retry-After, and the server stays under 256 MB", func() {
		harness.RequireOwnServer("reads the server process's memory")
		srv := harness.Start(map[string]string{
			"STORE":            "sqlite",
			"MAIL_BACKEND":     "file",
			"EVENTS_BACKEND":   "gochannel",
			"PASSWORD_HASHER":  "argon2id",
			"HASH_CONCURRENCY": "2",
			"LOG_LEVEL":        "warn",
		})

		transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: requests}
		DeferCleanup(transport.CloseIdleConnections)
		client := &http.Client{Transport: transport, Timeout: 60 * time.Second}

		type answer struct {
			status     int
			retryAfter string
			detail     string
			err        error
		}
		answers := make([]answer, requests)
		var ready, done sync.WaitGroup
		ready.Add(requests)
		gate := make(chan struct{})
		for i := range requests {
			done.Go(func() {
				name := fmt.Sprintf("rss%d_%d", GinkgoParallelProcess(), i)
				body, _ := json.Marshal(map[string]string{
					"username": name, "email": name + "@example.com",
					"password": "Kq7!mZp2@wLr9#tVx", "password_confirm": "Kq7!mZp2@wLr9#tVx",
				})
				ready.Done()
				<-gate
				resp, err := client.Post(srv.BaseURL+srv.BasePath+"/register/", "application/json", bytes.NewReader(body))
				if err != nil {
					answers[i] = answer{err: err}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
				a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
				var d struct {
					Detail string `json:"detail"`
				}
				if json.Unmarshal(b, &d) == nil {
					a.detail = d.Detail
				} else {
					a.detail = string(b)
				}
				answers[i] = a
			})
		}
		ready.Wait()
		start := time.Now()
		close(gate)
		done.Wait()
		elapsed := time.Since(start)

		peak, err := srv.PeakRSS()
		Expect(err).NotTo(HaveOccurred())

		var created, refused int
		bad := map[string]int{}
		for _, a := range answers {
			switch {
			case a.err != nil:
				bad["no answer: "+a.err.Error()]++
			case a.status == http.StatusCreated:
				created++
			case a.status == http.StatusServiceUnavailable && a.retryAfter != "" && a.detail == msgUnavailable:
				refused++
			default:
				bad[fmt.Sprintf("%d Retry-After=%q %q", a.status, a.retryAfter, a.detail)]++
			}
		}
		AddReportEntry("figures", fmt.Sprintf("%d registrations at once: %d created, %d refused with 503 in %s; server peak RSS (VmHWM) %.1f MiB",
			requests, created, refused, elapsed.Round(time.Millisecond), float64(peak)/(1<<20)))

		Expect(bad).To(BeEmpty(), "answers that were neither 201 nor the documented 503 with Retry-After")
		Expect(created).To(BeNumerically(">", 0), "no registration succeeded")
		Expect(peak).To(BeNumerically("<", rssLimit), "server peak RSS %.1f MiB", float64(peak)/(1<<20))

		By("mailing every user created exactly one link, and nobody refused")
		Eventually(func() ([]string, error) {
			return filepath.Glob(filepath.Join(srv.MailDir, "*.eml"))
		}).WithTimeout(30 * time.Second).Should(HaveLen(created))
		Consistently(func() ([]string, error) {
			return filepath.Glob(filepath.Join(srv.MailDir, "*.eml"))
		}).WithTimeout(time.Second).Should(HaveLen(created))
	})
})
