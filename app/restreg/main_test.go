package restreg_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
)

// lineWriter is an io.Writer whose lines can be read while Main writes.
type lineWriter struct {
	lines chan string
	buf   bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.buf.Next(i + 1))
		select {
		case w.lines <- strings.TrimRight(line, "\n"):
		default:
		}
	}
}

type runningMain struct {
	url    string
	stop   context.CancelFunc
	exit   chan int
	stderr *bytes.Buffer
}

// startMain runs the real command in-process on a free port.
func startMain(t *testing.T, env map[string]string, args ...string) *runningMain {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 64)}
	stderr := &bytes.Buffer{}
	exit := make(chan int, 1)
	go func() { exit <- restreg.Main(ctx, args, envOf(env), out, stderr) }()
	select {
	case line := <-out.lines:
		m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(line)
		if m == nil {
			cancel()
			t.Fatalf("first line %q does not say where the server listens", line)
		}
		r := &runningMain{url: m[1], stop: cancel, exit: exit, stderr: stderr}
		t.Cleanup(func() { r.shutdown(t) })
		return r
	case code := <-exit:
		cancel()
		t.Fatalf("Main exited with %d before serving", code)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("server did not start within 20s")
	}
	return nil
}

func (r *runningMain) shutdown(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case code := <-r.exit:
		if code != 0 {
			t.Errorf("Main exited with %d on shutdown", code)
		}
	case <-time.After(30 * time.Second):
		t.Error("Main did not stop within 30s")
	}
	r.exit <- 0 // later shutdowns return at once
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("POST %s: body %q is not a JSON object", url, raw)
	}
	return resp.StatusCode, m
}

var mailLink = regexp.MustCompile(`user_id=([^&\s]+)&timestamp=(\d+)&signature=([A-Za-z0-9_-]+)`)

// newestLink reads the verification link from the only .eml in dir.
func newestLink(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("want exactly 1 mail in %s, found %d", dir, len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m := mailLink.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatalf("no link in %s", raw)
	}
	return m
}

func TestMainServesRegisterVerifyLoginOnDevDefaults(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": dir}
	srv := startMain(t, env, "serve", "--dev")
	api := srv.url + "/api/v1/accounts"

	status, body := post(t, api+"/register/", `{"username":"ann","email":"ann@example.com","password":"correct horse battery","password_confirm":"correct horse battery"}`)
	if status != 201 || body["username"] != "ann" {
		t.Fatalf("register: %d %v", status, body)
	}
	link := newestLink(t, filepath.Join(dir, "mail"))
	if status, body := post(t, api+"/login/", `{"login":"ann","password":"correct horse battery"}`); status != 400 || body["detail"] != "Login or password invalid." {
		t.Fatalf("login before verification: %d %v", status, body)
	}
	verify := `{"user_id":"` + link[1] + `","timestamp":` + link[2] + `,"signature":"` + link[3] + `"}`
	if status, body := post(t, api+"/verify-registration/", verify); status != 200 || body["detail"] != "User verified successfully" {
		t.Fatalf("verify: %d %v", status, body)
	}
	status, body = post(t, api+"/login/", `{"login":"ann@example.com","password":"correct horse battery"}`)
	if status != 200 || !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(body["token"].(string)) {
		t.Fatalf("login: %d %v", status, body)
	}
	if key, err := os.ReadFile(filepath.Join(dir, "secret_key")); err != nil || len(key) < 40 {
		t.Fatalf("generated SECRET_KEY not kept in DATA_DIR: %v", err)
	}

	// A restart keeps the user and the key: the same link verifies again.
	srv.shutdown(t)
	srv = startMain(t, env, "serve", "--dev")
	if status, body := post(t, srv.url+"/api/v1/accounts/verify-registration/", verify); status != 200 {
		t.Fatalf("verify after restart: %d %v", status, body)
	}
	if status, _ := post(t, srv.url+"/api/v1/accounts/login/", `{"login":"ann","password":"correct horse battery"}`); status != 200 {
		t.Fatalf("login after restart: %d", status)
	}
}

func TestServeRefusesInvalidSettingsWithOneLinePerProblem(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := restreg.Main(context.Background(), []string{"serve"}, envOf(map[string]string{"STORE": "cassandra", "SECRET_KEY": apisuite.SecretKey}), &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	want := []string{
		"restreg: REGISTER_VERIFICATION_URL is required when REGISTER_VERIFICATION_ENABLED is true",
		"restreg: VERIFICATION_FROM_EMAIL is required when REGISTER_VERIFICATION_ENABLED is true",
		`restreg: STORE must be one of sqlite, mongodb, postgres, memory (got "cassandra")`,
	}
	if got := strings.TrimSpace(stderr.String()); got != strings.Join(want, "\n") {
		t.Fatalf("stderr:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if strings.Contains(stdout.String()+stderr.String(), apisuite.SecretKey) {
		t.Fatal("the secret was printed")
	}
}

func TestCheckCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{
		"SECRET_KEY": apisuite.SecretKey, "REGISTER_VERIFICATION_URL": "https://app.example.com/verify/",
		"VERIFICATION_FROM_EMAIL": "noreply@example.com", "SENDGRID_API_KEY": "SG.topsecret",
	}
	if code := restreg.Main(context.Background(), []string{"check"}, envOf(env), &stdout, &stderr); code != 0 {
		t.Fatalf("check of valid settings: exit %d, %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "settings OK: store=sqlite mail=file events=gochannel") {
		t.Fatalf("check output %q", stdout.String())
	}
	env["MAIL_BACKEND"] = "sendgrid"
	env["SENDGRID_HOST"] = "not a url"
	stdout.Reset()
	if code := restreg.Main(context.Background(), []string{"check"}, envOf(env), &stdout, &stderr); code != 1 {
		t.Fatalf("check of invalid settings: exit %d", code)
	}
	if !strings.Contains(stderr.String(), `restreg: SENDGRID_HOST must be an http or https URL (got "not a url")`) {
		t.Fatalf("check problems: %q", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), apisuite.SecretKey) || strings.Contains(stdout.String()+stderr.String(), "SG.topsecret") {
		t.Fatal("check printed a secret")
	}
}

// `restreg check` (and serve) refuse a weak SECRET_KEY or fallback, one
// line each, without printing them.
func TestCheckRefusesWeakSigningKeys(t *testing.T) {
	const weak, weakFallback = "letmein", "django-insecure-" + apisuite.SecretKey
	env := map[string]string{
		"SECRET_KEY": weak, "SECRET_KEY_FALLBACKS": apisuite.SecretKey + "-old," + weakFallback,
		"REGISTER_VERIFICATION_URL": "https://app.example.com/verify/", "VERIFICATION_FROM_EMAIL": "noreply@example.com",
	}
	for _, cmd := range []string{"check", "serve"} {
		var stdout, stderr bytes.Buffer
		if code := restreg.Main(context.Background(), []string{cmd}, envOf(env), &stdout, &stderr); code != 1 {
			t.Fatalf("%s: exit %d, want 1", cmd, code)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 2 ||
			!strings.HasPrefix(lines[0], "restreg: SECRET_KEY is shorter than 50 characters: ") ||
			!strings.HasPrefix(lines[1], "restreg: SECRET_KEY_FALLBACKS entry 2 starts with django-insecure- ") {
			t.Errorf("%s problems:\n%s", cmd, stderr.String())
		}
		if out := stdout.String() + stderr.String(); strings.Contains(out, weak) || strings.Contains(out, weakFallback) {
			t.Errorf("%s printed a key:\n%s", cmd, out)
		}
	}
}

// --dev generates a key that passes the same rules as an operator's.
func TestDevGeneratesAStrongSigningKey(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := restreg.Main(context.Background(), []string{"check", "--dev"}, envOf(map[string]string{"DATA_DIR": dir}), &stdout, &stderr); code != 0 {
		t.Fatalf("check --dev: exit %d\n%s", code, stderr.String())
	}
	key, err := os.ReadFile(filepath.Join(dir, "secret_key"))
	if err != nil || len(strings.TrimSpace(string(key))) < 50 {
		t.Fatalf("generated key of %d characters (%v)", len(strings.TrimSpace(string(key))), err)
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := restreg.Main(context.Background(), []string{"version"}, envOf(nil), &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "restreg ") {
		t.Fatalf("version: %d %q", code, stdout.String())
	}
	if code := restreg.Main(context.Background(), []string{"frobnicate"}, envOf(nil), &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	if !sc.Scan() {
		t.Fatal("no usage printed")
	}
}

// A SIGTERM that arrives while the server is still starting (a supervisor
// stopping it right after launch) is the shutdown it asked for: exit 0,
// nothing reported as failed.
func TestServeStoppedDuringStartUpExitsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	env := envOf(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir()})
	if code := restreg.Main(ctx, []string{"serve", "--dev"}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, want 0\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "start-up failed") || strings.Contains(stderr.String(), "level=ERROR") {
		t.Fatalf("a requested stop was reported as a failure:\n%s", stderr.String())
	}
}
