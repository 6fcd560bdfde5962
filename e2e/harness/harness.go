// Package harness runs restreg as a separate process for the end-to-end
// suites: it builds bin/restreg once, starts it with chosen settings in a
// temporary DATA_DIR, waits until it is ready, talks to it over HTTP (every
// response checked against the committed OpenAPI document), reads the mail it
// sends and stops it with SIGTERM.
//
// Setting RESTREG_E2E_BASE_URL points the suites at a server that is already
// running instead; see the README section "End-to-end tests".
package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/onsi/ginkgo/v2"
)

// Environment variables that point the suites at a running deployment.
const (
	// EnvBaseURL is the root URL of a running restreg (no BASE_PATH).
	EnvBaseURL = "RESTREG_E2E_BASE_URL"
	// EnvMailDir is the MAIL_FILE_DIR of that deployment, when it uses MAIL_BACKEND=file.
	EnvMailDir = "RESTREG_E2E_MAIL_DIR"
	// EnvSecretKey is the SECRET_KEY of that deployment, for the suites that sign links.
	EnvSecretKey = "RESTREG_E2E_SECRET_KEY"
	// EnvBasePath is the BASE_PATH of that deployment (default /api/v1/accounts).
	EnvBasePath = "RESTREG_E2E_BASE_PATH"
	// EnvOpenAPI names the OpenAPI document to check responses against
	// instead of the committed openapi/openapi.yaml.
	EnvOpenAPI = "RESTREG_E2E_OPENAPI"
	// EnvBuildFlags are extra `go build` flags for bin/restreg, e.g. "-race".
	EnvBuildFlags = "RESTREG_E2E_BUILD_FLAGS"
	// EnvBinary names a restreg binary to run instead of building one.
	EnvBinary = "RESTREG_E2E_BINARY"
)

// Known values every started server gets unless a suite overrides them.
const (
	// SecretKey signs the links of servers the harness starts.
	SecretKey = "e2e-signing-key-4e1d9c0a7b3f-known-to-the-suites-only"
	// VerificationURL is the frontend page the links point to.
	VerificationURL = "https://app.example.test/verify-user/"
	// FromEmail is the From address of the verification e-mail.
	FromEmail = "Example Accounts <accounts@example.test>"
	// DefaultBasePath is where the API is mounted unless BASE_PATH says otherwise.
	DefaultBasePath = "/api/v1/accounts"
)

// DefaultSettings are the settings every started server gets before the
// suite's own: a known key, a frontend URL and a From address, fast outbox
// polling and info logs. DATA_DIR, MAIL_FILE_DIR and LISTEN_ADDR are added
// by Start.
func DefaultSettings() map[string]string {
	return map[string]string{
		"SECRET_KEY":                SecretKey,
		"REGISTER_VERIFICATION_URL": VerificationURL,
		"VERIFICATION_FROM_EMAIL":   FromEmail,
		"OUTBOX_POLL_INTERVAL":      "200ms",
		"SHUTDOWN_TIMEOUT":          "10s",
		"LOG_LEVEL":                 "info",
		// The suites send many requests from one address; the rate limits
		// have their own cases in the HTTP contract suite.
		"RATE_LIMIT_BACKEND": "off",
	}
}

// External reports whether the suites run against a deployment named by
// RESTREG_E2E_BASE_URL instead of servers they start themselves.
func External() bool { return os.Getenv(EnvBaseURL) != "" }

// ModuleRoot returns the directory holding restreg's go.mod, found by
// walking up from the working directory (the e2e directory under go test).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/restreg/restreg")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no restreg go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles ./app/cmd/restreg into dir/bin/restreg (with the flags in
// RESTREG_E2E_BUILD_FLAGS) and returns its path. RESTREG_E2E_BINARY names an
// existing binary to use instead.
func Build(dir string) (string, error) {
	if bin := os.Getenv(EnvBinary); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s: %w", EnvBinary, err)
		}
		return bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bin", "restreg")
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building bin/restreg needs the go command on PATH: %w", err)
	}
	args := append([]string{"build"}, strings.Fields(os.Getenv(EnvBuildFlags))...)
	args = append(args, "-o", out, "./app/cmd/restreg")
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, output.String())
	}
	return out, nil
}

var (
	binaryMu sync.Mutex
	binary   string
)

// UseBinary tells Start which restreg binary to run (the path Build returned).
func UseBinary(path string) {
	binaryMu.Lock()
	defer binaryMu.Unlock()
	binary = path
}

func currentBinary() string {
	binaryMu.Lock()
	defer binaryMu.Unlock()
	return binary
}

// Server is one restreg the suites talk to.
type Server struct {
	// BaseURL is the root URL, e.g. http://127.0.0.1:41234 (no BASE_PATH).
	BaseURL string
	// BasePath is where the API is mounted.
	BasePath string
	// DataDir is the server's DATA_DIR ("" for an external server).
	DataDir string
	// MailDir is where MAIL_BACKEND=file writes messages ("" when unknown).
	MailDir string
	// Settings are the settings the server was started with (nil for an
	// external server, whose settings the suites do not know).
	Settings map[string]string
	// Mail is where the server's messages can be read: its MAIL_FILE_DIR,
	// or the SMTP server passed with WithMailbox. Nil when unknown.
	Mail Mailbox

	external bool
	cmd      *exec.Cmd
	log      *logBuffer
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Option changes how Start runs a server.
type Option func(*startOptions)

type startOptions struct {
	mailbox Mailbox
}

// WithMailbox makes srv.Mail read from mb (an SMTP server the suite started)
// instead of the MAIL_FILE_DIR.
func WithMailbox(mb Mailbox) Option {
	return func(o *startOptions) { o.mailbox = mb }
}

var (
	runningMu sync.Mutex
	running   = map[*Server]struct{}{}
)

// Start runs restreg with DefaultSettings overlaid by settings (a value of ""
// removes a setting) in a fresh DATA_DIR unless settings names one, waits
// until /readyz answers 200, and stops it when the current spec or container
// ends. The process gets only these settings in its environment (plus PATH,
// HOME and TMPDIR), so the caller's shell cannot change what is tested.
//
// Against an external deployment (RESTREG_E2E_BASE_URL) it returns that
// deployment when settings is empty and skips the spec otherwise, since the
// suites cannot choose the settings of a server they did not start.
func Start(settings map[string]string, opts ...Option) *Server {
	ginkgo.GinkgoHelper()
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	if External() {
		return external(settings, o)
	}
	bin := currentBinary()
	if bin == "" {
		ginkgo.Fail("harness.Start: no restreg binary; call harness.UseBinary in SynchronizedBeforeSuite")
	}

	env := DefaultSettings()
	dataDir := settings["DATA_DIR"]
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "restreg-e2e-")
		if err != nil {
			ginkgo.Fail("create DATA_DIR: " + err.Error())
		}
		dataDir = dir
		ginkgo.DeferCleanup(os.RemoveAll, dir)
	}
	env["DATA_DIR"] = dataDir
	env["MAIL_FILE_DIR"] = filepath.Join(dataDir, "mail")
	env["LISTEN_ADDR"] = "127.0.0.1:0"
	for k, v := range settings {
		if v == "" {
			delete(env, k)
			continue
		}
		env[k] = v
	}

	srv := &Server{
		BasePath: strings.TrimRight(valueOr(env["BASE_PATH"], DefaultBasePath), "/"),
		DataDir:  dataDir,
		Settings: env,
		log:      &logBuffer{},
		exited:   make(chan struct{}),
	}
	if valueOr(env["MAIL_BACKEND"], "file") == "file" {
		srv.MailDir = env["MAIL_FILE_DIR"]
		srv.Mail = FileMailbox(srv.MailDir)
	}
	if o.mailbox != nil {
		srv.Mail = o.mailbox
	}

	cmd := exec.Command(bin, "serve")
	cmd.Env = processEnv(env)
	cmd.Dir = dataDir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		ginkgo.Fail("stdout pipe: " + err.Error())
	}
	cmd.Stderr = srv.log
	if err := cmd.Start(); err != nil {
		ginkgo.Fail("start " + bin + ": " + err.Error())
	}
	srv.cmd = cmd
	ginkgo.DeferCleanup(srv.stopAndCheck)

	firstLine := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			line := sc.Text()
			srv.log.WriteLine("stdout: " + line)
			if first {
				firstLine <- line
				first = false
			}
		}
		if first {
			close(firstLine)
		}
		// Wait only after stdout is drained, as os/exec requires.
		srv.exitErr = cmd.Wait()
		close(srv.exited)
	}()

	select {
	case line, ok := <-firstLine:
		if !ok {
			<-srv.exited
			ginkgo.Fail(fmt.Sprintf("restreg exited before listening (%v)\n%s", srv.exitErr, srv.Log()))
		}
		m := listeningLine.FindStringSubmatch(line)
		if m == nil {
			ginkgo.Fail(fmt.Sprintf("restreg's first line is %q, want \"restreg <version> listening on http://HOST:PORT\"\n%s", line, srv.Log()))
		}
		srv.BaseURL = m[1]
	case <-time.After(60 * time.Second):
		ginkgo.Fail("restreg did not print its listening line within 60s\n" + srv.Log())
	}

	runningMu.Lock()
	running[srv] = struct{}{}
	runningMu.Unlock()

	srv.waitReady(60 * time.Second)
	return srv
}

var listeningLine = regexp.MustCompile(`^restreg \S+ listening on (http://[^\s/]+)/?$`)

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// processEnv is the child's whole environment: the settings plus what a Go
// program needs to run.
func processEnv(settings map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+settings[k])
	}
	return env
}

func external(settings map[string]string, o startOptions) *Server {
	ginkgo.GinkgoHelper()
	if len(settings) > 0 {
		keys := make([]string, 0, len(settings))
		for k, v := range settings {
			keys = append(keys, k+"="+v)
		}
		sort.Strings(keys)
		ginkgo.Skip(fmt.Sprintf("needs a restreg started with %s; %s points at a running deployment whose settings these suites cannot choose",
			strings.Join(keys, " "), EnvBaseURL))
	}
	srv := &Server{
		BaseURL:  strings.TrimRight(os.Getenv(EnvBaseURL), "/"),
		BasePath: strings.TrimRight(valueOr(os.Getenv(EnvBasePath), DefaultBasePath), "/"),
		MailDir:  os.Getenv(EnvMailDir),
		external: true,
		log:      &logBuffer{},
	}
	if srv.MailDir != "" {
		srv.Mail = FileMailbox(srv.MailDir)
	}
	if o.mailbox != nil {
		srv.Mail = o.mailbox
	}
	srv.waitReady(30 * time.Second)
	return srv
}

// RequireOwnServer skips the spec against an external deployment: it is for
// specs that stop, restart or reconfigure the server.
func RequireOwnServer(why string) {
	if External() {
		ginkgo.Skip(why + ": needs a server the suite starts and stops itself, and " + EnvBaseURL + " points at a running deployment")
	}
}

// SigningKey returns the SECRET_KEY the server signs with, for specs that
// sign links themselves; against an external deployment without
// RESTREG_E2E_SECRET_KEY the spec is skipped.
func (s *Server) SigningKey() string {
	if !s.external {
		return valueOr(s.Settings["SECRET_KEY"], SecretKey)
	}
	key := os.Getenv(EnvSecretKey)
	if key == "" {
		ginkgo.Skip("signs links itself: set " + EnvSecretKey + " to the deployment's SECRET_KEY")
	}
	return key
}

func (s *Server) waitReady(timeout time.Duration) {
	ginkgo.GinkgoHelper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if s.exited != nil {
			select {
			case <-s.exited:
				ginkgo.Fail(fmt.Sprintf("restreg exited while starting (%v)\n%s", s.exitErr, s.Log()))
			default:
			}
		}
		resp, err := client.Get(s.BaseURL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	ginkgo.Fail(fmt.Sprintf("%s/readyz did not answer 200 within %s (last: %s)\n%s", s.BaseURL, timeout, last, s.Log()))
}

// Stop sends SIGTERM and waits for the process to exit (killing it after 30s).
// It returns an error unless the server exited with status 0. Stopping twice
// returns the first result; an external server is left alone.
func (s *Server) Stop() error {
	if s.external || s.cmd == nil {
		return nil
	}
	s.stopOnce.Do(func() {
		runningMu.Lock()
		delete(running, s)
		runningMu.Unlock()
		select {
		case <-s.exited:
			s.stopErr = fmt.Errorf("restreg had already exited: %v", s.exitErr)
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.stopErr = fmt.Errorf("SIGTERM: %w", err)
		}
		select {
		case <-s.exited:
			if s.exitErr != nil && s.stopErr == nil {
				s.stopErr = fmt.Errorf("restreg exited with %v after SIGTERM", s.exitErr)
			}
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = errors.New("restreg did not exit within 30s of SIGTERM and was killed")
		}
	})
	return s.stopErr
}

// Kill ends the process with SIGKILL, as a crash or a power cut would: no
// shutdown hook runs. The spec's cleanup then leaves it alone.
func (s *Server) Kill() {
	ginkgo.GinkgoHelper()
	if s.external || s.cmd == nil {
		ginkgo.Fail("Kill needs a server the suite started")
	}
	s.stopOnce.Do(func() {
		runningMu.Lock()
		delete(running, s)
		runningMu.Unlock()
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

// stopAndCheck is the cleanup Start registers: a server that does not shut
// down cleanly fails the spec, with its log.
func (s *Server) stopAndCheck() {
	if err := s.Stop(); err != nil {
		ginkgo.Fail(fmt.Sprintf("graceful shutdown: %v\n%s", err, s.Log()))
	}
}

// Log returns what the server printed so far (stdout lines prefixed "stdout: ").
func (s *Server) Log() string { return s.log.String() }

// ReportLogsOnFailure attaches the log of every running server to the
// current spec's report when the spec failed; call it from a top-level
// AfterEach.
func ReportLogsOnFailure() {
	if !ginkgo.CurrentSpecReport().Failed() {
		return
	}
	runningMu.Lock()
	servers := make([]*Server, 0, len(running))
	for s := range running {
		servers = append(servers, s)
	}
	runningMu.Unlock()
	for _, s := range servers {
		ginkgo.AddReportEntry("restreg log ("+s.BaseURL+")", s.Log(), ginkgo.ReportEntryVisibilityFailureOrVerbose)
	}
}

// logBuffer collects a process's output; safe for concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// WriteLine appends one line.
func (b *logBuffer) WriteLine(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(line)
	b.buf.WriteByte('\n')
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a moment
// ago, for a dependency that is meant to be down.
func FreePort() int {
	ginkgo.GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ginkgo.Fail("find a free port: " + err.Error())
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// ctxTimeout is a short context for one call to a test dependency.
func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
