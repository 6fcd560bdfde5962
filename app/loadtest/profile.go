package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The profile scenario measures authenticated GET profile/ against a
// trivial handler of the same server (GET /healthz), in alternating rounds
// of the same run, so that the ratio of the two rates says what token
// authentication and the profile read cost, whatever the machine's
// neighbours do meanwhile.

// Operation names of the profile scenario.
const (
	opBaseline = "healthz"
	opProfile  = "profile"
)

// tokenPool hands out the prepared users' tokens round robin.
type tokenPool struct {
	tokens []string
	i      atomic.Uint64
}

func (p *tokenPool) next() string {
	return p.tokens[(p.i.Add(1)-1)%uint64(len(p.tokens))]
}

// prepareTokens registers cfg.prepare users, verifies them when the server
// verifies registrations (links from --mail-dir or --secret), and logs each
// in once for a token.
func prepareTokens(ctx context.Context, cfg config, c *client) (*tokenPool, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.prepareTimeout)
	defer cancel()
	started := time.Now()
	users, err := registerUsers(ctx, cfg, c)
	if err != nil {
		return nil, err
	}
	if cfg.mailDir != "" || cfg.secret != "" {
		links, err := linksFor(ctx, cfg, users, started)
		if err != nil {
			return nil, err
		}
		err = forEach(ctx, len(links), cfg.concurrency, func(i int) error {
			r := c.verify(ctx, links[i])
			if r.err != nil || r.status != http.StatusOK {
				return fmt.Errorf("verify %s: status %d: %w: %.200s", links[i].UserID, r.status, r.err, r.body)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("prepare users: %w", err)
		}
	}
	tokens := make([]string, len(users))
	err = forEach(ctx, len(users), cfg.concurrency, func(i int) error {
		tok, err := c.login(ctx, users[i].username)
		tokens[i] = tok
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("prepare users: %w", err)
	}
	return &tokenPool{tokens: tokens}, nil
}

// forEach runs fn(0…n-1) with at most workers at once and returns the
// first error.
func forEach(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// login logs a load-test user in and returns its token, retrying while the
// server is overloaded (logins hash a password).
func (c *client) login(ctx context.Context, username string) (string, error) {
	body, _ := json.Marshal(map[string]string{"login": username, "password": password})
	for {
		r := c.post(ctx, c.loginURL, body)
		switch {
		case r.err != nil:
			return "", fmt.Errorf("login %s: %w", username, r.err)
		case r.status == http.StatusOK:
			var ok struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(r.body, &ok); err != nil || ok.Token == "" {
				return "", fmt.Errorf("login %s: 200 without a token (is LOGIN_RETRIEVE_TOKEN off?): %.200s", username, r.body)
			}
			return ok.Token, nil
		case r.status == http.StatusServiceUnavailable || r.status == http.StatusTooManyRequests:
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("login %s: %w", username, ctx.Err())
			case <-time.After(time.Second):
			}
		default:
			return "", fmt.Errorf("login %s: status %d: %.200s (without --mail-dir or --secret the server must run with REGISTER_VERIFICATION_ENABLED=false)",
				username, r.status, r.body)
		}
	}
}

// get sends a GET with an optional Authorization header and times it.
func (c *client) get(ctx context.Context, url, authorization string) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{err: err}
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return result{dur: time.Since(start), err: err}
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	r := result{status: resp.StatusCode, dur: time.Since(start), retryAfter: resp.Header.Get("Retry-After")}
	if err != nil {
		r.err = fmt.Errorf("read answer: %w", err)
	}
	return r
}

// loadProfile alternates cfg.rounds rounds of GET /healthz and of
// authenticated GET profile/, each for duration/(2·rounds) with all workers,
// and returns both operations' statistics and, per round, profile/'s
// ok/s over healthz's: on a shared machine a neighbour's burst lands in
// one phase, and the spread of the rounds shows it.
func loadProfile(ctx context.Context, cfg config, c *client, tokens *tokenPool) ([]*opStats, []float64) {
	baseline := newOpStats(opBaseline, cfg.concurrency)
	profile := newOpStats(opProfile, cfg.concurrency)
	slice := cfg.duration / time.Duration(2*cfg.rounds)
	// phase runs op for one slice and returns its successful answers per second.
	phase := func(op *opStats, send func() result) float64 {
		okBefore := op.okCount()
		start := time.Now()
		deadline := start.Add(slice)
		var wg sync.WaitGroup
		for _, rec := range op.workers {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(deadline) {
					rec.add(send())
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		op.elapsed += took
		return float64(op.okCount()-okBefore) / took.Seconds()
	}
	var ratios []float64
	for range cfg.rounds {
		base := phase(baseline, func() result { return c.get(ctx, c.healthzURL, "") })
		prof := phase(profile, func() result { return c.get(ctx, c.profileURL, "Token "+tokens.next()) })
		if base > 0 {
			ratios = append(ratios, prof/base)
		}
	}
	return []*opStats{baseline, profile}, ratios
}

// okCount is how many successful answers op has recorded so far (its
// workers are idle between phases).
func (op *opStats) okCount() int {
	n := 0
	for _, w := range op.workers {
		n += w.ok
	}
	return n
}

// profileRatio is profile/'s successful answers per second as a fraction of
// the trivial handler's, when the run measured both.
func (r *report) profileRatio() (float64, bool) {
	var base, prof *opSummary
	for i := range r.Operations {
		switch r.Operations[i].Name {
		case opBaseline:
			base = &r.Operations[i]
		case opProfile:
			prof = &r.Operations[i]
		}
	}
	if base == nil || prof == nil || base.OKPerSec <= 0 {
		return 0, false
	}
	return prof.OKPerSec / base.OKPerSec, true
}
