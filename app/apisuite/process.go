package apisuite

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest/eml"
)

// ProcessStart returns a Start that runs binary ("restreg") as a separate
// process for each case: `restreg serve` in a fresh DATA_DIR, on a free
// port, with MAIL_BACKEND=file, every setting the case chose that differs
// from DefaultSettings passed as the environment variable of the same
// name, and env on top (e.g. STORE=sqlite). The suite reads the mail back
// from the .eml files; the process's events, users and clock are its own, so
// the cases check no events, count no users and skip moving the clock. The
// process is stopped with SIGTERM when the case ends and must exit cleanly.
func ProcessStart(binary string, env map[string]string) Start {
	return func(t *testing.T, configure func(*Settings)) *Env {
		t.Helper()
		s := DefaultSettings()
		configure(&s)
		dir := t.TempDir()
		vars, err := settingsEnv(s)
		if err != nil {
			t.Fatal(err)
		}
		mailDir := filepath.Join(dir, "mail")
		vars["DATA_DIR"] = dir
		vars["LISTEN_ADDR"] = "127.0.0.1:0"
		vars["MAIL_BACKEND"] = "file"
		vars["MAIL_FILE_DIR"] = mailDir
		for k, v := range env {
			vars[k] = v
		}

		p := startProcess(t, binary, dir, vars)
		mails := &mailDirReader{dir: mailDir}
		return &Env{
			BaseURL:  p.baseURL,
			Settings: s,
			Mails: func() []core.Message {
				m, err := mails.read()
				if err != nil {
					t.Errorf("read the server's mail: %v", err)
				}
				return m
			},
		}
	}
}

// settingsEnv returns, as environment variables, every setting of s (at any
// depth) that differs from the defaults.
func settingsEnv(s Settings) (map[string]string, error) {
	vars := map[string]string{}
	if err := addSettingsEnv(vars, reflect.ValueOf(s), reflect.ValueOf(DefaultSettings())); err != nil {
		return nil, err
	}
	return vars, nil
}

// addSettingsEnv adds to vars each tagged field of got that differs from
// the same field of want, descending into untagged structs.
func addSettingsEnv(vars map[string]string, got, want reflect.Value) error {
	for i := range got.NumField() {
		f := got.Type().Field(i)
		name := f.Tag.Get("setting")
		if name == "" {
			if f.Type.Kind() == reflect.Struct && f.IsExported() {
				if err := addSettingsEnv(vars, got.Field(i), want.Field(i)); err != nil {
					return err
				}
			}
			continue
		}
		if reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			continue
		}
		switch v := got.Field(i).Interface().(type) {
		case string:
			vars[name] = v
		case bool:
			vars[name] = strconv.FormatBool(v)
		case int:
			vars[name] = strconv.Itoa(v)
		case int64:
			vars[name] = strconv.FormatInt(v, 10)
		case time.Duration:
			vars[name] = v.String()
		case []string:
			vars[name] = strings.Join(v, ",")
		default:
			return fmt.Errorf("setting %s: no environment form for %T", name, v)
		}
	}
	return nil
}

// process is one running restreg.
type process struct {
	baseURL string
	cmd     *exec.Cmd
	log     *syncBuffer
	exited  chan struct{}
	err     error
}

var listeningLine = regexp.MustCompile(`listening on (http://[^\s/]+)`)

// startProcess runs binary serve with exactly vars in its environment (plus
// PATH, HOME and TMPDIR) and waits until /readyz answers 200.
func startProcess(t *testing.T, binary, dir string, vars map[string]string) *process {
	t.Helper()
	env := make([]string, 0, len(vars)+3)
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	p := &process{log: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(binary, "serve")
	p.cmd.Env, p.cmd.Dir, p.cmd.Stderr = env, dir, p.log
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", binary, err)
	}
	t.Cleanup(func() { p.stop(t) })
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case first <- m[1]:
				default:
				}
			}
		}
		// Wait only after stdout is drained, as os/exec requires.
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.baseURL = <-first:
	case <-p.exited:
		t.Fatalf("restreg exited before listening (%v)\n%s", p.err, p.log)
	case <-time.After(60 * time.Second):
		t.Fatalf("restreg did not say where it listens within 60s\n%s", p.log)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; {
		res, err := client.Get(p.baseURL + "/readyz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz did not answer 200 within 60s (%v)\n%s", p.baseURL, err, p.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and fails t unless the process exits cleanly within 30 s.
func (p *process) stop(t *testing.T) {
	if t.Failed() {
		t.Logf("restreg's log:\n%s", p.log)
	}
	select {
	case <-p.exited:
		t.Errorf("restreg had exited before the case ended (%v)\n%s", p.err, p.log)
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("restreg exited with %v after SIGTERM\n%s", p.err, p.log)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("restreg did not exit within 30s of SIGTERM and was killed\n%s", p.log)
	}
}

// syncBuffer is a process's stderr, safe to read while it is written.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mailDirReader reads the .eml files MAIL_BACKEND=file writes, oldest first
// (their names begin with the UTC time they were sent).
type mailDirReader struct {
	dir    string
	mu     sync.Mutex
	parsed map[string]core.Message
}

func (r *mailDirReader) read() ([]core.Message, error) {
	entries, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.dir, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.parsed == nil {
		r.parsed = map[string]core.Message{}
	}
	var out []core.Message
	for _, e := range entries { // os.ReadDir sorts by name
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		m, ok := r.parsed[e.Name()]
		if !ok {
			raw, err := os.ReadFile(filepath.Join(r.dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", e.Name(), err)
			}
			if m, err = message(raw); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name(), err)
			}
			r.parsed[e.Name()] = m
		}
		out = append(out, m)
	}
	return out, nil
}

// message turns a delivered message back into what the server sent.
func message(raw []byte) (core.Message, error) {
	m, err := eml.Parse(raw)
	if err != nil {
		return core.Message{}, fmt.Errorf("parse mail: %w", err)
	}
	if len(m.From) != 1 {
		return core.Message{}, fmt.Errorf("%d From addresses, want 1", len(m.From))
	}
	msg := core.Message{From: address(m.From[0]), Subject: m.Subject, Text: m.Text, HTML: m.HTML}
	if len(m.ReplyTo) > 0 {
		msg.ReplyTo = address(m.ReplyTo[0])
	}
	for _, a := range m.To {
		msg.To = append(msg.To, address(a))
	}
	return msg, nil
}

// address writes a back as the server wrote it: "Name <addr>", or the bare
// address when it has no name.
func address(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.String()
}
