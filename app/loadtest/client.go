package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restreg/restreg/core"
)

// password is what every load-test user registers with: long, mixed and
// unlike the generated usernames, so every password validator accepts it.
const password = "Kq7!mZp2@wLr9#tVx"

// maxBody bounds how much of an answer is read; restreg's answers are small.
const maxBody = 64 << 10

// client sends restreg's requests and times them.
type client struct {
	http        *http.Client
	registerURL string
	verifyURL   string
	loginURL    string
	profileURL  string
	healthzURL  string
	runID       string
	// seq numbers the users of this run.
	seq atomic.Int64
}

func newClient(cfg config) *client {
	api := cfg.base.String() + cfg.basePath
	return &client{
		http: &http.Client{
			Transport: httpTransport(cfg.concurrency),
			Timeout:   cfg.requestTimeout,
			// A redirect would mean a misconfigured --base; report it as
			// its status instead of following it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		registerURL: api + "/register/",
		verifyURL:   api + "/verify-registration/",
		loginURL:    api + "/login/",
		profileURL:  api + "/profile/",
		healthzURL:  cfg.base.String() + "/healthz",
		runID:       newRunID(),
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// result is one answered (or failed) request.
type result struct {
	status     int
	dur        time.Duration
	err        error
	retryAfter string
	body       []byte
}

// user is a registered load-test user.
type user struct {
	id       string
	username string
	email    string
}

// link is the data of one verification link.
type link struct {
	UserID    string `json:"user_id"`
	Timestamp string `json:"timestamp"`
	Signature string `json:"signature"`
}

// nextSeq returns the number of a user not yet registered in this run.
func (c *client) nextSeq() int64 { return c.seq.Add(1) }

// newUser names the n-th user of this run.
func (c *client) newUser(n int64) user {
	name := fmt.Sprintf("lt%s_%d", c.runID, n)
	return user{username: name, email: name + "@example.com"}
}

// register registers the n-th user of this run.
func (c *client) register(ctx context.Context, n int64) result {
	u := c.newUser(n)
	body, _ := json.Marshal(map[string]string{
		"username":         u.username,
		"email":            u.email,
		"password":         password,
		"password_confirm": password,
	})
	return c.post(ctx, c.registerURL, body)
}

// verify posts one verification link.
func (c *client) verify(ctx context.Context, l link) result {
	body, _ := json.Marshal(l)
	return c.post(ctx, c.verifyURL, body)
}

func (c *client) post(ctx context.Context, url string, body []byte) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return result{dur: time.Since(start), err: err}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	r := result{status: resp.StatusCode, dur: time.Since(start), retryAfter: resp.Header.Get("Retry-After"), body: b}
	if err != nil {
		r.err = fmt.Errorf("read answer: %w", err)
	}
	return r
}

// linkPool hands out the prepared links round robin; verifying a link again
// is allowed (and answers 200) unless links are one-time.
type linkPool struct {
	links []link
	i     atomic.Uint64
}

func (p *linkPool) len() int { return len(p.links) }

// next returns the next link and whether this is its first use.
func (p *linkPool) next() (link, bool) {
	i := p.i.Add(1) - 1
	return p.links[i%uint64(len(p.links))], i < uint64(len(p.links))
}

// prepare registers cfg.prepare users and obtains their verification links,
// from the mail directory or by signing them with cfg.secret.
func prepare(ctx context.Context, cfg config, c *client) (*linkPool, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.prepareTimeout)
	defer cancel()
	started := time.Now()
	users, err := registerUsers(ctx, cfg, c)
	if err != nil {
		return nil, err
	}
	links, err := linksFor(ctx, cfg, users, started)
	if err != nil {
		return nil, err
	}
	return &linkPool{links: links}, nil
}

// linksFor returns the verification links of users registered since
// started, signed with cfg.secret or read from cfg.mailDir, in the order
// of users.
func linksFor(ctx context.Context, cfg config, users []user, started time.Time) ([]link, error) {
	links := make([]link, 0, len(users))
	if cfg.secret != "" {
		signer := core.NewDjangoSigner(cfg.secret, nil)
		salt := "register"
		if cfg.oneTime {
			salt = "register:False"
		}
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		for _, u := range users {
			sig := signer.Sign(map[string]string{"user_id": u.id, "timestamp": ts}, salt)
			links = append(links, link{UserID: u.id, Timestamp: ts, Signature: sig})
		}
		return links, nil
	}

	// The server writes the e-mail before it answers 201, so the files are
	// there; a short grace covers mail directories on slow disks.
	var missing []string
	for attempt := 0; ; attempt++ {
		byAddr, err := readLinks(cfg.mailDir, started.Add(-2*time.Second))
		if err != nil {
			return nil, err
		}
		links, missing = links[:0], missing[:0]
		for _, u := range users {
			if l, ok := byAddr[strings.ToLower(u.email)]; ok {
				links = append(links, l)
			} else {
				missing = append(missing, u.email)
			}
		}
		if len(missing) == 0 {
			return links, nil
		}
		if attempt == 20 || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil, fmt.Errorf("no verification e-mail in %s for %d of %d users (e.g. %s): is --mail-dir the server's MAIL_FILE_DIR, with MAIL_BACKEND=file?",
		cfg.mailDir, len(missing), len(users), missing[0])
}

// registerUsers registers cfg.prepare users with cfg.concurrency requests
// in flight, waiting as the server asks when it is overloaded.
func registerUsers(ctx context.Context, cfg config, c *client) ([]user, error) {
	var (
		mu       sync.Mutex
		users    []user
		firstErr error
		claimed  atomic.Int64
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for range min(cfg.concurrency, cfg.prepare) {
		wg.Go(func() {
			for {
				if claimed.Add(1) > int64(cfg.prepare) {
					return
				}
				u, err := registerOne(ctx, c, c.nextSeq())
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				users = append(users, u)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("prepare users: %w", firstErr)
	}
	return users, nil
}

// registerOne registers the n-th user, retrying while the server answers
// 503, and returns it with the id the server gave it.
func registerOne(ctx context.Context, c *client, n int64) (user, error) {
	u := c.newUser(n)
	for {
		r := c.register(ctx, n)
		switch {
		case r.err != nil:
			return u, fmt.Errorf("register %s: %w", u.username, r.err)
		case r.status == http.StatusCreated:
			var created struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.body, &created); err != nil || created.ID == "" {
				return u, fmt.Errorf("register %s: 201 without an id: %.200s", u.username, r.body)
			}
			u.id = created.ID
			return u, nil
		case r.status == http.StatusServiceUnavailable:
			wait := time.Second
			if s, err := strconv.Atoi(r.retryAfter); err == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, 5*time.Second)
			}
			select {
			case <-ctx.Done():
				return u, fmt.Errorf("register %s: %w", u.username, errors.Join(ctx.Err(), errors.New("server still overloaded")))
			case <-time.After(wait):
			}
		default:
			return u, fmt.Errorf("register %s: status %d: %.200s", u.username, r.status, r.body)
		}
	}
}
