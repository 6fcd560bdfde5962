package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
)

const testSecret = "load-test-secret-key-e4a7c1f9b2d6083a5c7e9f1b3d5a7"

// fakeServer answers register and verify-registration as restreg does, in
// memory: it refuses every fifth registration with 503 and Retry-After,
// mails a signed link per user into mailDir as a .eml file, and checks the
// signature of each verification. It counts what it answered, so the tests
// compare the tool's figures with the truth.
type fakeServer struct {
	t       *testing.T
	mailDir string
	signer  *core.DjangoSigner
	// noRetryAfter drops the Retry-After header from 503 answers.
	noRetryAfter bool

	mu        sync.Mutex
	registers int
	created   map[string]string // username → id
	refused   int
	verified  map[string]int // user id → 200 answers
	badSigs   int
}

func newFakeServer(t *testing.T) (*fakeServer, *httptest.Server) {
	f := &fakeServer{
		t:        t,
		mailDir:  t.TempDir(),
		signer:   core.NewDjangoSigner(testSecret, nil),
		created:  map[string]string{},
		verified: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/accounts/register/", f.register)
	mux.HandleFunc("POST /api/v1/accounts/verify-registration/", f.verify)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username        string `json:"username"`
		Email           string `json:"email"`
		Password        string `json:"password"`
		PasswordConfirm string `json:"password_confirm"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Password != in.PasswordConfirm || in.Password == "" {
		http.Error(w, `{"detail":"bad request"}`, http.StatusBadRequest)
		return
	}
	time.Sleep(2 * time.Millisecond)
	f.mu.Lock()
	f.registers++
	n := f.registers
	_, taken := f.created[in.Username]
	switch {
	case taken:
		f.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"username":["A user with that username already exists."]}`))
		return
	case n%5 == 0:
		f.refused++
		f.mu.Unlock()
		if !f.noRetryAfter {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"detail":"Service temporarily unavailable, please try again later."}`))
		return
	}
	id := fmt.Sprintf("id-%d", n)
	f.created[in.Username] = id
	f.mu.Unlock()

	ts := fmt.Sprint(time.Now().Unix())
	sig := f.signer.Sign(map[string]string{"user_id": id, "timestamp": ts}, "register")
	link := "http://localhost:3000/verify-user/?user_id=" + id + "&timestamp=" + ts + "&signature=" + sig
	raw, err := email.Render(core.Message{
		From:    "restreg <noreply@localhost>",
		To:      []string{in.Email},
		Subject: "Please verify your account",
		Text:    "Please verify your account by clicking on this link:\n\n" + link + "\n",
		HTML:    `<p><a href="` + strings.ReplaceAll(link, "&", "&amp;") + `">Verify</a></p>`,
	}, time.Now(), "")
	if err != nil {
		f.t.Errorf("render mail: %v", err)
	}
	if err := os.WriteFile(filepath.Join(f.mailDir, id+".eml"), raw, 0o600); err != nil {
		f.t.Errorf("write mail: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "username": in.Username, "email": in.Email})
}

func (f *fakeServer) verify(w http.ResponseWriter, r *http.Request) {
	var in link
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"detail":"bad request"}`, http.StatusBadRequest)
		return
	}
	ok := f.signer.Verify(map[string]string{"user_id": in.UserID, "timestamp": in.Timestamp}, "register", in.Signature)
	f.mu.Lock()
	if ok {
		f.verified[in.UserID]++
	} else {
		f.badSigs++
	}
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"detail":"Invalid signature"}`))
		return
	}
	_, _ = w.Write([]byte(`{"detail":"User verified successfully"}`))
}

// runJSON runs the tool with args and --json and decodes its report.
func runJSON(t *testing.T, args ...string) report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), append(args, "--json"), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("loadtest exited %d:\n%s", code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("decode JSON report: %v\n%s", err, stdout.String())
	}
	return rep
}

func operation(t *testing.T, rep report, name string) opSummary {
	t.Helper()
	for _, op := range rep.Operations {
		if op.Name == name {
			return op
		}
	}
	t.Fatalf("report has no %s operation: %+v", name, rep.Operations)
	return opSummary{}
}

func checkLatencies(t *testing.T, op opSummary) {
	t.Helper()
	l := op.LatencyMs
	if !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
		t.Errorf("%s latencies not ordered p50 ≤ p90 ≤ p99 ≤ max: %+v", op.Name, l)
	}
	if want := float64(op.OK) / op.ElapsedSeconds; math.Abs(op.OKPerSec-want) > 1e-6*want {
		t.Errorf("%s ok/s = %v, want ok/elapsed = %v", op.Name, op.OKPerSec, want)
	}
}

func TestRegisterScenarioCountsWhatTheServerAnswered(t *testing.T) {
	fake, srv := newFakeServer(t)
	rep := runJSON(t, "--base", srv.URL, "--scenario", "register", "--duration", "700ms", "--concurrency", "4", "--hash-duration", "0")

	reg := operation(t, rep, "register")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if reg.Requests != fake.registers || reg.OK != len(fake.created) || reg.Errors["503"] != fake.refused {
		t.Errorf("tool counted %d requests, %d created, %d refused; server answered %d, %d, %d",
			reg.Requests, reg.OK, reg.Errors["503"], fake.registers, len(fake.created), fake.refused)
	}
	if fake.refused == 0 || len(reg.Errors) != 1 {
		t.Errorf("errors by status = %v, want only the server's %d 503 answers", reg.Errors, fake.refused)
	}
	if reg.Unavailable503WithoutRetryAfter != 0 {
		t.Errorf("%d 503 answers reported without Retry-After; the server always sent it", reg.Unavailable503WithoutRetryAfter)
	}
	if len(fake.created) < 20 {
		t.Errorf("only %d users created in 700ms with 4 workers", len(fake.created))
	}
	checkLatencies(t, reg)
	if rep.Hasher != nil {
		t.Errorf("hasher measured although --hash-duration 0")
	}
}

func TestRefusalsWithoutRetryAfterAreReported(t *testing.T) {
	fake, srv := newFakeServer(t)
	fake.noRetryAfter = true
	rep := runJSON(t, "--base", srv.URL, "--duration", "300ms", "--concurrency", "2", "--hash-duration", "0")
	reg := operation(t, rep, "register")
	if reg.Unavailable503WithoutRetryAfter == 0 || reg.Unavailable503WithoutRetryAfter != reg.Errors["503"] {
		t.Errorf("503 without Retry-After = %d of %d 503 answers, want all", reg.Unavailable503WithoutRetryAfter, reg.Errors["503"])
	}
}

func TestVerifyScenarioFollowsTheLinksFromTheMailDirectory(t *testing.T) {
	fake, srv := newFakeServer(t)
	rep := runJSON(t, "--base", srv.URL, "--scenario", "verify", "--mail-dir", fake.mailDir,
		"--prepare", "12", "--duration", "500ms", "--concurrency", "3", "--hash-duration", "0")

	if rep.Prepared != 12 {
		t.Errorf("prepared %d users, want 12", rep.Prepared)
	}
	ver := operation(t, rep, "verify")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.created) != 12 {
		t.Errorf("server created %d users, want the 12 prepared (503 answers retried)", len(fake.created))
	}
	total := 0
	for _, n := range fake.verified {
		total += n
	}
	if ver.OK != total || fake.badSigs != 0 || len(ver.Errors) != 0 {
		t.Errorf("tool counted %d verified, errors %v; server verified %d with %d bad signatures", ver.OK, ver.Errors, total, fake.badSigs)
	}
	if len(fake.verified) != 12 {
		t.Errorf("links of %d distinct users verified, want all 12 prepared users", len(fake.verified))
	}
	if ver.FirstUses != 12 {
		t.Errorf("first uses = %d, want one per prepared user (12)", ver.FirstUses)
	}
	checkLatencies(t, ver)
}

func TestVerifyScenarioSignsLinksWithTheSecret(t *testing.T) {
	fake, srv := newFakeServer(t)
	rep := runJSON(t, "--base", srv.URL, "--scenario", "verify", "--secret", testSecret,
		"--prepare", "5", "--duration", "300ms", "--concurrency", "2", "--hash-duration", "0")
	ver := operation(t, rep, "verify")
	if ver.OK == 0 || len(ver.Errors) != 0 {
		t.Errorf("verify with signed links: %d ok, errors %v", ver.OK, ver.Errors)
	}

	rep = runJSON(t, "--base", srv.URL, "--scenario", "verify", "--secret", "not-the-server-key",
		"--prepare", "5", "--duration", "300ms", "--concurrency", "2", "--hash-duration", "0")
	ver = operation(t, rep, "verify")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if ver.OK != 0 || ver.Errors["400"] != ver.Requests || ver.Errors["400"] != fake.badSigs {
		t.Errorf("wrong secret: %d ok, errors %v, server saw %d bad signatures; want every request a 400", ver.OK, ver.Errors, fake.badSigs)
	}
}

func TestMixedScenarioReportsBothOperations(t *testing.T) {
	fake, srv := newFakeServer(t)
	rep := runJSON(t, "--base", srv.URL, "--scenario", "mixed", "--mail-dir", fake.mailDir,
		"--prepare", "6", "--duration", "500ms", "--concurrency", "4", "--hash-duration", "0")
	reg, ver := operation(t, rep, "register"), operation(t, rep, "verify")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if reg.OK+6 != len(fake.created) {
		t.Errorf("register ok %d + 6 prepared ≠ %d users created", reg.OK, len(fake.created))
	}
	if reg.Errors["400"] != 0 {
		t.Errorf("registrations collided with prepared users: %v", reg.Errors)
	}
	if ver.OK == 0 || reg.OK == 0 {
		t.Errorf("mixed run: register ok %d, verify ok %d; want both", reg.OK, ver.OK)
	}
}

func TestTextReportShowsRatesLatenciesHasherShareAndMemory(t *testing.T) {
	_, srv := newFakeServer(t)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{
		"--base", srv.URL, "--duration", "400ms", "--concurrency", "2",
		"--hash-duration", "200ms", "--hash-concurrency", "1", "--argon2-memory", "1024", "--argon2-iterations", "1",
		"--pid", fmt.Sprint(os.Getpid()),
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"scenario register, 2 requests in flight for 400ms",
		"raw password hasher: argon2id (m=1024 KiB, t=1, p=1), 1 at once:",
		"before the load,",
		"operation", "ok/s", "p50", "p90", "p99", "errors",
		"503×",
		"% of the raw hasher's throughput",
		fmt.Sprintf("server pid %d: peak RSS", os.Getpid()),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestRawHasherIsMeasuredAroundTheLoad(t *testing.T) {
	_, srv := newFakeServer(t)
	rep := runJSON(t, "--base", srv.URL, "--duration", "200ms", "--concurrency", "2",
		"--hash-duration", "150ms", "--hash-concurrency", "2", "--hasher", "pbkdf2_sha256", "--pbkdf2-iterations", "1000")
	h := rep.Hasher
	if h == nil {
		t.Fatal("no raw hasher figures in the report")
	}
	if h.Algorithm != "pbkdf2_sha256" || h.Cost != "1000 iterations" || h.Concurrency != 2 {
		t.Errorf("hasher %+v, want pbkdf2_sha256 at 1000 iterations, 2 at once", h)
	}
	if h.Before <= 0 || h.After <= 0 || h.HashesPerSec != (h.Before+h.After)/2 {
		t.Errorf("hashes/s before %v, after %v, reported %v; want both measured and their mean", h.Before, h.After, h.HashesPerSec)
	}
	reg := operation(t, rep, "register")
	if rep.RegisterShare == nil || *rep.RegisterShare != reg.OKPerSec/h.HashesPerSec {
		t.Errorf("register share %v, want ok/s %v ÷ hashes/s %v", rep.RegisterShare, reg.OKPerSec, h.HashesPerSec)
	}
}

func TestOnlyThisMachineIsATarget(t *testing.T) {
	for _, base := range []string{"http://10.0.0.1:8000", "http://example.com", "http://192.168.1.1", "ftp://127.0.0.1", "127.0.0.1:8000"} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), []string{"--base", base, "--duration", "1s"}, &stdout, &stderr); code != 2 {
			t.Errorf("--base %s: exit %d, want 2 (refused)", base, code)
		}
		if !strings.Contains(stderr.String(), "--base") {
			t.Errorf("--base %s: message %q does not name the flag", base, stderr.String())
		}
	}
	for _, base := range []string{"http://127.0.0.1:8000", "http://localhost:1", "http://[::1]:8000", "http://127.0.0.2"} {
		if _, err := loopbackURL(base); err != nil {
			t.Errorf("loopbackURL(%s): %v", base, err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--scenario", "verify"},
		{"--scenario", "bogus"},
		{"--duration", "0s"},
		{"--duration", "48h"},
		{"--concurrency", "0"},
		{"--scenario", "mixed", "--secret", "k", "--concurrency", "1"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 90: 90 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("p%v of 1..100ms = %v, want %v", p, got, want)
		}
	}
	if got := percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one sample = %v", got)
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.PeakRSS < m.RSS {
		t.Errorf("VmRSS %d, VmHWM %d: want 0 < RSS ≤ peak", m.RSS, m.PeakRSS)
	}
	if _, err := ReadMemory(1 << 30); err == nil {
		t.Error("memory of a process that does not exist read without error")
	}
}
