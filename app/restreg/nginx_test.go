package restreg_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
)

// nginxPath is where Debian's nginx package installs the server.
const nginxPath = "/usr/sbin/nginx"

// nginxConf is the README's auth_request configuration, with the ports
// and the temporary directory filled in: /orders/ is served by an upstream
// that only sees requests restreg's auth/ accepted, with the user's id and
// name in headers nginx sets (whatever the client sent in their place).
const nginxConf = `daemon off;
master_process off;
error_log {{dir}}/error.log info;
pid {{dir}}/nginx.pid;
events { worker_connections 64; }
http {
    access_log {{dir}}/access.log;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;

    upstream restreg { server {{restreg}}; }

    server {
        listen {{listen}};

        location /orders/ {
            auth_request /_restreg_auth;
            auth_request_set $restreg_user_id $upstream_http_x_user_id;
            auth_request_set $restreg_username $upstream_http_x_username;
            proxy_set_header X-User-Id $restreg_user_id;
            proxy_set_header X-Username $restreg_username;
            proxy_pass http://{{upstream}};
        }

        location = /_restreg_auth {
            internal;
            proxy_pass http://restreg/api/v1/accounts/auth/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }
    }
}
`

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// startNginx runs nginx in the foreground with conf (its placeholders
// replaced) until the test ends, and returns its address.
func startNginx(t *testing.T, restregAddr, upstreamAddr string) string {
	t.Helper()
	dir := t.TempDir()
	listen := freeAddr(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{restreg}}", restregAddr, "{{upstream}}", upstreamAddr, "{{listen}}", listen).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(nginxPath, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGQUIT is nginx's graceful stop.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		var err error
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err = <-exited
		}
		if err != nil {
			t.Logf("nginx stopped: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10 s: %s", listen, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A real nginx protects a service with auth_request to restreg's auth/:
// a valid token reaches the service, which sees the user's id; no token,
// an unknown one or a revoked one is refused with 401 and never reaches it.
func TestNginxAuthRequestProtectsAService(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real nginx; runs without -short (make test)")
	}
	if _, err := os.Stat(nginxPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nginx is needed for the auth_request test and %s is missing; install it with: apt-get install -y nginx", nginxPath)
		}
		t.Skipf("nginx is not installed (%s); apt-get install -y nginx runs this test", nginxPath)
	}

	s := restreg.DefaultConfig()
	s.ListenAddr = "127.0.0.1:0"
	s.Store = "sqlite"
	s.DataDir = t.TempDir()
	s.MailBackend = "console"
	configureSuite(&s, func(a *apisuite.Settings) {
		apisuite.Configure(a)
		a.RegisterVerificationEnabled = false
	})
	srv := startT(t, s)
	api := srv.URL() + "/api/v1/accounts/"

	var reached atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = fmt.Fprintf(w, "user=%s name=%s", r.Header.Get("X-User-Id"), r.Header.Get("X-Username"))
	}))
	defer upstream.Close()
	proxy := "http://" + startNginx(t, strings.TrimPrefix(srv.URL(), "http://"), strings.TrimPrefix(upstream.URL, "http://"))

	post := func(path, body string) map[string]any {
		t.Helper()
		res, err := http.Post(api+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %v %v", path, res.StatusCode, m, err)
		}
		return m
	}
	user := post("register/", `{"username": "nina", "email": "nina@example.com", "password": "violet-Anchor-7412", "password_confirm": "violet-Anchor-7412"}`)
	key, _ := post("login/", `{"login": "nina", "password": "violet-Anchor-7412"}`)["token"].(string)
	other, _ := post("login/", `{"login": "nina", "password": "violet-Anchor-7412"}`)["token"].(string)

	get := func(header ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, proxy+"/orders/42", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(body)
	}

	want := fmt.Sprintf("user=%s name=nina", user["id"])
	if status, _, body := get("Authorization", "Token "+key); status != http.StatusOK || body != want {
		t.Fatalf("valid token: %d %q, want 200 %q", status, body, want)
	}
	// The client cannot name another user: nginx sets the headers itself.
	if status, _, body := get("Authorization", "Bearer "+key, "X-User-Id", "someone-else"); status != http.StatusOK || body != want {
		t.Errorf("forged X-User-Id: %d %q, want 200 %q", status, body, want)
	}
	if n := reached.Load(); n != 2 {
		t.Fatalf("the service was reached %d times, want 2", n)
	}

	refused := func(what string, header ...string) {
		t.Helper()
		status, h, _ := get(header...)
		if status != http.StatusUnauthorized || h.Get("WWW-Authenticate") != "Token" {
			t.Errorf("%s: %d (WWW-Authenticate %q), want 401 with Token", what, status, h.Get("WWW-Authenticate"))
		}
	}
	refused("no token")
	refused("unknown token", "Authorization", "Token 0000000000000000000000000000000000000000")
	refused("malformed header", "Authorization", "Token")

	// logout/ with revoke_token shuts the door at once; the user's other
	// session goes on.
	req, _ := http.NewRequest(http.MethodPost, api+"logout/", strings.NewReader(`{"revoke_token": true}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	refused("revoked token", "Authorization", "Token "+key)
	if status, _, body := get("Authorization", "Token "+other); status != http.StatusOK || body != want {
		t.Errorf("the other session after the revocation: %d %q", status, body)
	}
	if n := reached.Load(); n != 3 {
		t.Errorf("the service was reached %d times, want 3: a refused request got through", n)
	}
}
