package pgtest

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a PostgreSQL server. Stop plays an
// outage (every connection drops, new ones are refused); Start plays the
// recovery, on the same address.
type Proxy struct {
	target string

	mu    sync.Mutex
	addr  string
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxyT starts a proxy on a free port of 127.0.0.1 to the server
// dbURL names, stopped when the test ends, and returns it with dbURL
// pointing at it.
func StartProxyT(t testing.TB, dbURL string) (*Proxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: parse database URL: %v", err)
	}
	p := &Proxy{target: u.Host, addr: "127.0.0.1:0"}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	u.Host = p.addr
	return p, u.String()
}

// Start listens (again) on the proxy's address.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return fmt.Errorf("pgtest: proxy already running on %s", p.addr)
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("pgtest: proxy listen on %s: %w", p.addr, err)
	}
	p.ln, p.addr, p.conns = ln, ln.Addr().String(), map[net.Conn]struct{}{}
	p.wg.Go(func() { p.serve(ln) })
	return nil
}

func (p *Proxy) serve(ln net.Listener) {
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
		if p.conns == nil { // stopped meanwhile
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		}
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
}

// Stop closes the listener and every forwarded connection. Stopping twice
// is harmless.
func (p *Proxy) Stop() {
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
