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
	// verificationOff makes login accept users never verified.
	verificationOff bool
	logins          int
	healthz         int
	profiles        int
	badTokens       int
	tokensSeen      map[string]bool
}

func newFakeServer(t *testing.T) (*fakeServer, *httptest.Server) {
	f := &fakeServer{
		t:        t,
		mailDir:  t.TempDir(),
		signer:   core.NewDjangoSigner(testSecret, nil),
		created:  map[string]string{},
		verified: map[string]int{},

		tokensSeen: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/accounts/register/", f.register)
	mux.HandleFunc("POST /api/v1/accounts/verify-registration/", f.verify)
	mux.HandleFunc("POST /api/v1/accounts/login/", f.login)
	mux.HandleFunc("GET /api/v1/accounts/profile/", f.profile)
	mux.HandleFunc("GET /healthz", f.health)
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

// login answers a token "tok-<id>" for a created user who is verified (or
// any created user with verificationOff), and DRF's 400 otherwise.
func (f *fakeServer) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	f.logins++
	id, ok := f.created[in.Login]
	ok = ok && in.Password == password && (f.verificationOff || f.verified[id] > 0)
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"detail":"Login or password invalid."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": "Login successful", "token": "tok-" + id})
}

// profile answers 200 for a token login handed out, 401 otherwise.
func (f *fakeServer) profile(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Token ")
	id, _ := strings.CutPrefix(tok, "tok-")
	f.mu.Lock()
	f.profiles++
	known := false
	for _, created := range f.created {
		known = known || created == id
	}
	if known {
		f.tokensSeen[tok] = true
	} else {
		f.badTokens++
	}
	f.mu.Unlock()
	if !known {
		w.Header().Set("WWW-Authenticate", "Token")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"detail":"Invalid token."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}

func (f *fakeServer) health(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	f.healthz++
	f.mu.Unlock()
	_, _ = w.Write([]byte(`{"status":"ok"}`))
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

func TestProfileScenarioComparesProfileWithHealthz(t *testing.T) {
	fake, srv := newFakeServer(t)
	rep := runJSON(t, "--base", srv.URL, "--scenario", "profile", "--mail-dir", fake.mailDir,
		"--prepare", "12", "--duration", "800ms", "--concurrency", "4", "--rounds", "2")
	base, prof := operation(t, rep, "healthz"), operation(t, rep, "profile")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if rep.Prepared != 12 || len(fake.verified) != 12 {
		t.Errorf("prepared %d users, server verified %d; want 12 of each", rep.Prepared, len(fake.verified))
	}
	if base.Requests != fake.healthz || prof.Requests != fake.profiles || prof.OK != fake.profiles || fake.badTokens != 0 {
		t.Errorf("tool counted healthz %d, profile %d (%d ok); server answered %d, %d (%d bad tokens)",
			base.Requests, prof.Requests, prof.OK, fake.healthz, fake.profiles, fake.badTokens)
	}
	if len(fake.tokensSeen) != 12 {
		t.Errorf("profile/ was asked with %d distinct tokens, want all 12 prepared users'", len(fake.tokensSeen))
	}
	checkLatencies(t, base)
	checkLatencies(t, prof)
	if rep.ProfileRatio == nil || math.Abs(*rep.ProfileRatio-prof.OKPerSec/base.OKPerSec) > 1e-9 {
		t.Errorf("ratio %v, want profile ok/s over healthz ok/s = %v", rep.ProfileRatio, prof.OKPerSec/base.OKPerSec)
	}
	if rep.Hasher != nil {
		t.Error("the raw hasher was measured for the profile scenario")
	}
	if len(rep.ProfileRatioByRound) != 2 {
		t.Errorf("%d ratios by round, want one per round (2)", len(rep.ProfileRatioByRound))
	}
	for _, r := range rep.ProfileRatioByRound {
		if !(r > 0) {
			t.Errorf("round ratio %v, want a positive rate ratio", r)
		}
	}
}

func TestProfileScenarioWithoutVerification(t *testing.T) {
	fake, srv := newFakeServer(t)
	fake.verificationOff = true
	rep := runJSON(t, "--base", srv.URL, "--scenario", "profile", "--prepare", "5", "--duration", "200ms", "--concurrency", "2", "--rounds", "1")
	if prof := operation(t, rep, "profile"); prof.OK == 0 || len(prof.Errors) != 0 {
		t.Errorf("profile: %+v", prof)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.verified) != 0 {
		t.Errorf("%d users verified without --mail-dir or --secret", len(fake.verified))
	}
}

func TestProfileScenarioExplainsRefusedLogins(t *testing.T) {
	_, srv := newFakeServer(t)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"--base", srv.URL, "--scenario", "profile", "--prepare", "3", "--duration", "100ms"}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "REGISTER_VERIFICATION_ENABLED=false") {
		t.Errorf("exit %d, stderr %q: want 1 and a hint that the users need verifying", code, stderr.String())
	}
}

func TestProfileTextReportShowsTheRatio(t *testing.T) {
	rep := &report{Scenario: ScenarioProfile, Operations: []opSummary{
		{Name: "healthz", OKPerSec: 4000, Errors: map[string]int{}},
		{Name: "profile", OKPerSec: 2600, Errors: map[string]int{}},
	}, ProfileRatioByRound: []float64{0.7, 0.5, 0.6, 0.8}}
	var out bytes.Buffer
	if err := rep.writeText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "profile: 0.65 × the rate of GET /healthz") ||
		!strings.Contains(out.String(), "by round: 0.70, 0.50, 0.60, 0.80 (median 0.65)") {
		t.Errorf("text report lacks the ratio or its rounds:\n%s", out.String())
	}
}
