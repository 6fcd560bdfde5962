package rsstest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restreg/restreg/app/loadtest"
)

const (
	// requests is how many registrations arrive at once.
	requests = 1000
	// rssLimit is the documented bound on the server's peak resident memory.
	rssLimit = 256 * 1000 * 1000
	// unavailableBody is the documented 503 body, word for word.
	unavailableBody = "Service temporarily unavailable, please try again later."
)

// buildServer compiles the restreg command into a temporary directory.
func buildServer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the server: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "restreg")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./app/cmd/restreg")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./app/cmd/restreg: %v\n%s", err, out)
	}
	return bin
}

// server is a running restreg process.
type server struct {
	cmd     *exec.Cmd
	base    string
	mailDir string
	stderr  *bytes.Buffer
}

// startServer runs bin on SQLite and file mail in a temporary directory,
// with the default argon2id cost and HASH_CONCURRENCY=2, and waits until it
// is ready.
func startServer(t *testing.T, bin string) *server {
	t.Helper()
	dir := t.TempDir()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := &server{mailDir: filepath.Join(dir, "mail"), stderr: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = append(cleanEnv(),
		"LISTEN_ADDR=127.0.0.1:0",
		"STORE=sqlite",
		"DATA_DIR="+dir,
		"MAIL_BACKEND=file",
		"MAIL_FILE_DIR="+s.mailDir,
		"EVENTS_BACKEND=gochannel",
		"SECRET_KEY="+hex.EncodeToString(secret),
		"REGISTER_VERIFICATION_URL=http://localhost:3000/verify-user/",
		"VERIFICATION_FROM_EMAIL=restreg <noreply@localhost>",
		"PASSWORD_HASHER=argon2id",
		"HASH_CONCURRENCY=2",
		// 1,000 registrations from one address would be throttled; this
		// test is about the hash queue and memory.
		"RATE_LIMIT_BACKEND=off",
		"LOG_LEVEL=warn",
	)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { s.stop(t) })

	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case s.base = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not say where it listens within 30s; stderr:\n%s", s.stderr.String())
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 15s (last: %v); stderr:\n%s", err, s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cleanEnv is the environment without restreg settings a developer may
// have exported, so the server runs with exactly the settings given here.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PATH" || name == "HOME" || name == "TMPDIR" || name == "LANG" {
			env = append(env, kv)
		}
	}
	return env
}

// stop ends the server with SIGTERM, as an orchestrator would.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM; stderr:\n%s", err, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		err := <-done
		t.Errorf("server did not stop within 30s of SIGTERM (killed: %v)", err)
	}
}

// answer is what one registration got back.
type answer struct {
	status     int
	retryAfter string
	detail     string
	err        error
}

// TestThousandConcurrentRegistrationsStayWithinMemoryBound shows that the
// hash queue bounds memory: unbounded, 1,000 argon2id hashes of 19 MiB
// would need about 19 GB.
func TestThousandConcurrentRegistrationsStayWithinMemoryBound(t *testing.T) {
	bin := buildServer(t)
	srv := startServer(t, bin)

	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: requests,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}

	run := hex.EncodeToString([]byte(time.Now().Format("150405")))
	answers := make([]answer, requests)
	var ready, wg sync.WaitGroup
	ready.Add(requests)
	gate := make(chan struct{})
	for i := range requests {
		wg.Go(func() {
			name := fmt.Sprintf("rss%s_%d", run, i)
			body, _ := json.Marshal(map[string]string{
				"username": name, "email": name + "@example.com",
				"password": "Kq7!mZp2@wLr9#tVx", "password_confirm": "Kq7!mZp2@wLr9#tVx",
			})
			ready.Done()
			<-gate
			resp, err := client.Post(srv.base+"/api/v1/accounts/register/", "application/json", bytes.NewReader(body))
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
	wg.Wait()
	elapsed := time.Since(start)

	mem, err := loadtest.ReadMemory(srv.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("read server memory: %v", err)
	}

	var created, refused int
	bad := map[string]int{}
	for _, a := range answers {
		switch {
		case a.err != nil:
			bad["no answer: "+a.err.Error()]++
		case a.status == http.StatusCreated:
			created++
		case a.status == http.StatusServiceUnavailable && a.retryAfter != "" && a.detail == unavailableBody:
			refused++
		default:
			bad[fmt.Sprintf("%d Retry-After=%q %q", a.status, a.retryAfter, a.detail)]++
		}
	}
	t.Logf("%d registrations at once: %d created, %d refused with 503 in %s; server peak RSS (VmHWM) %.1f MiB",
		requests, created, refused, elapsed.Round(time.Millisecond), float64(mem.PeakRSS)/(1<<20))

	for what, n := range bad {
		t.Errorf("%d answers were neither 201 nor the documented 503 with Retry-After: %s", n, what)
	}
	if created == 0 {
		t.Errorf("no registration succeeded; stderr:\n%s", srv.stderr.String())
	}
	if mem.PeakRSS >= rssLimit {
		t.Errorf("server peak RSS %d bytes (%.1f MiB), want under 256 MB", mem.PeakRSS, float64(mem.PeakRSS)/(1<<20))
	}

	// Every 201 mailed its user exactly one link, and no refused request
	// left a message behind.
	mails, err := filepath.Glob(filepath.Join(srv.mailDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != created {
		t.Errorf("%d e-mails written for %d users created", len(mails), created)
	}
}
