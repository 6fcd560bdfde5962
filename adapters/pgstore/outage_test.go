package pgstore

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// closedAddr returns a 127.0.0.1 address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// proxy forwards TCP connections to the PostgreSQL server; stopping it plays
// a database outage (every connection drops, new ones are refused) and
// starting it again on the same address plays the recovery.
type proxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	p := &proxy{t: t, addr: "127.0.0.1:0", target: target}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen on %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr, p.conns = ln, ln.Addr().String(), map[net.Conn]struct{}{}
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = client.Close()
				continue
			}
			p.mu.Lock()
			p.conns[client], p.conns[server] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				_ = dst.Close()
				_ = src.Close()
			}
			p.wg.Go(func() { pipe(server, client) })
			p.wg.Go(func() { pipe(client, server) })
		}
	})
}

func (p *proxy) stop() {
	p.mu.Lock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// throughProxy returns a proxy to the server dbURL names and dbURL pointing
// at it.
func throughProxy(t testing.TB, dbURL string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr
	return p, u.String()
}

func TestUnreachableServerIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Open(ctx, "postgres://restreg@"+closedAddr(t)+"/restreg", Options{ConnectTimeout: 2 * time.Second})
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Open on a closed port = %v, want core.ErrUnavailable", err)
	}
}

// With the server gone every call reports core.ErrUnavailable (the API
// answers 503, /readyz is not ready); when it is back the same store serves
// again without being reopened.
func TestOutageIsUnavailableAndTheStoreRecovers(t *testing.T) {
	ctx := context.Background()
	p, dbURL := throughProxy(t, testDB.NewSchemaT(t))
	s := openOn(t, dbURL, Options{ConnectTimeout: 2 * time.Second, StatementTimeout: 2 * time.Second})
	before := porttest.NewUser("before")
	if err := s.CreateUser(ctx, before); err != nil {
		t.Fatal(err)
	}

	p.stop()
	calls := map[string]func(ctx context.Context) error{
		"Ping":       s.Ping,
		"CreateUser": func(ctx context.Context) error { return s.CreateUser(ctx, porttest.NewUser("during")) },
		"FindUser":   func(ctx context.Context) error { _, err := s.FindUser(ctx, core.ByID, before.ID); return err },
		"PendingEvents": func(ctx context.Context) error {
			_, err := s.PendingEvents(ctx, time.Now(), 10)
			return err
		},
		"Backlog": func(ctx context.Context) error { _, _, err := s.Backlog(ctx); return err },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := call(cctx)
		cancel()
		if !errors.Is(err, core.ErrUnavailable) {
			t.Errorf("%s during the outage = %v, want core.ErrUnavailable", name, err)
		}
	}

	p.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping did not recover within 30s of the server coming back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := s.FindUser(ctx, core.ByID, before.ID); err != nil {
		t.Errorf("FindUser after the recovery: %v", err)
	}
	if err := s.CreateUser(ctx, porttest.NewUser("after")); err != nil {
		t.Errorf("CreateUser after the recovery: %v", err)
	}
}
