package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
)

// maxRequestIDLen bounds a client-supplied X-Request-ID; longer or odd ones
// are replaced so that logs and events never carry arbitrary client data.
const maxRequestIDLen = 128

// maxUserAgentLen bounds the User-Agent copied into events.
const maxUserAgentLen = 512

// errPanic stands for a recovered panic, answered like any unexpected error.
var errPanic = errors.New("handler panicked")

// recorder remembers the status written, for the access log and metrics.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	// route is the matched route's documented path ("" when none matched).
	route string
}

// WriteHeader records the first final status.
func (r *recorder) WriteHeader(code int) {
	if !r.wrote && code >= 200 {
		r.status = code
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implies a 200 status when none was written.
func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes through (streaming handlers mounted later need it).
func (r *recorder) Flush() {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// requestID returns the client's X-Request-ID when it is short printable
// ASCII, and a fresh random id otherwise.
func requestID(given string) string {
	if given != "" && len(given) <= maxRequestIDLen {
		ok := true
		for i := 0; i < len(given); i++ {
			if given[i] < 0x21 || given[i] > 0x7e {
				ok = false
				break
			}
		}
		if ok {
			return given
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// remoteHost is the client's address without the port.
func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// clientAddr is the address of the client a request comes from: the direct
// peer, unless the peer is one of TRUSTED_PROXIES; then X-Forwarded-For is
// read from the right (the entry the nearest proxy appended) and the first
// address that is not a trusted proxy is the client. Entries left of it
// were written by the client and may be anything, so they are never
// believed. Without TRUSTED_PROXIES the header is ignored: anyone can send
// it, and believing it would let every request claim a new address.
func (s *Server) clientAddr(r *http.Request) string {
	peer := remoteHost(r.RemoteAddr)
	if len(s.trusted) == 0 {
		return peer
	}
	ip, err := netip.ParseAddr(peer)
	if err != nil || !s.isTrusted(ip.Unmap()) {
		return peer
	}
	client := ip.Unmap()
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		parts := strings.Split(values[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			hop, ok := parseHop(parts[j])
			if !ok {
				// Not an address: nothing further left can be trusted.
				return client.String()
			}
			client = hop
			if !s.isTrusted(hop) {
				return client.String()
			}
		}
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an IPv4 or IPv6 address,
// possibly with a port ("203.0.113.7:4711", "[2001:db8::1]:443").
func parseHop(entry string) (netip.Addr, bool) {
	entry = strings.TrimSpace(entry)
	if a, err := netip.ParseAddr(entry); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(entry); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// isTrusted reports whether ip is one of TRUSTED_PROXIES.
func (s *Server) isTrusted(ip netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// truncateUTF8 cuts s to at most n bytes on a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ServeHTTP runs every request through request ids, panic recovery, the
// access log, CORS and the router.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get("X-Request-ID"))
	w.Header().Set("X-Request-ID", id)
	ctx := core.WithRequestInfo(r.Context(), core.RequestInfo{
		ID:         id,
		RemoteAddr: s.clientAddr(r),
		UserAgent:  truncateUTF8(r.UserAgent(), maxUserAgentLen),
	})
	r = r.WithContext(ctx)
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(ctx, "panic while serving a request",
				slog.String("request_id", id), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			if !rec.wrote {
				writeFailure(rec, mapError(errPanic))
			}
		}
		s.finish(ctx, r, rec, id, time.Since(start))
	}()

	if s.cors(rec, r) {
		return
	}
	s.router.ServeHTTP(rec, r)
}

// finish writes the access log line and tells the observers.
func (s *Server) finish(ctx context.Context, r *http.Request, rec *recorder, id string, elapsed time.Duration) {
	level := slog.LevelInfo
	if (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") && rec.status < 400 {
		// Probes arrive every few seconds; they would drown the useful lines.
		level = slog.LevelDebug
	}
	s.log.LogAttrs(ctx, level, "http request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.status),
		slog.Duration("duration", elapsed),
		slog.String("request_id", id))
	s.obsMu.RLock()
	observers := s.observers
	s.obsMu.RUnlock()
	for _, o := range observers {
		o(RequestRecord{Route: rec.route, Method: r.Method, Status: rec.status, Duration: elapsed})
	}
}

// cors adds the CORS headers for allowed origins on API paths and answers
// preflight requests; it reports whether the request was answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	if len(s.origins) == 0 || !s.router.isAPIPath(r.URL.Path) {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || !s.origins[normalizeOrigin(origin)] {
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if s.config.CORSAllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", s.router.corsMethods(r.URL.Path))
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	// Lets a browser script see why to wait (503), which scheme a 401 asks
	// for, and quote the request id.
	h.Set("Access-Control-Expose-Headers", "Retry-After, WWW-Authenticate, X-Request-ID")
	return false
}

// normalizeOrigin makes configured and received origins comparable.
func normalizeOrigin(o string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
}

// readBody reads the whole body of an API request within MAX_BODY_BYTES
// before Huma sees the request, so that size and read errors get the
// contract's answers; Huma then hands the bytes to the operation as its
// RawBody.
func (s *Server) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.maxBody()
		if r.ContentLength > limit {
			// The body stays unread: closing spares reading it to reuse the connection.
			w.Header().Set("Connection", "close")
			writeFailure(w, mapError(errBodyTooLarge))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				w.Header().Set("Connection", "close")
				writeFailure(w, mapError(errBodyTooLarge))
				return
			}
			s.log.InfoContext(r.Context(), "request body could not be read",
				slog.String("request_id", core.RequestInfoFrom(r.Context()).ID), slog.Any("error", err))
			writeFailure(w, mapError(&bodyReadError{err: err}))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// maxBody is MAX_BODY_BYTES, or its default when unset.
func (s *Server) maxBody() int64 {
	if s.config.MaxBodyBytes > 0 {
		return s.config.MaxBodyBytes
	}
	return DefaultConfig().MaxBodyBytes
}
