// Package loadtest is `restreg-load`: it drives a restreg server on this
// machine over HTTP (register, verify, or both at once) for a bounded time
// and prints requests/s, latency percentiles, errors by status, the
// server's peak memory, and the raw throughput of the password hasher, the
// ceiling the register figure is read against.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/passhash"
)

// Scenarios the tool runs.
const (
	ScenarioRegister = "register"
	ScenarioVerify   = "verify"
	ScenarioMixed    = "mixed"
	ScenarioProfile  = "profile"
)

// maxDuration bounds one run, so a typo cannot turn into an endless load.
const maxDuration = 30 * time.Minute

// maxConcurrency bounds the number of simultaneous requests.
const maxConcurrency = 10000

// config is what the flags ask for.
type config struct {
	base           *url.URL
	basePath       string
	mailDir        string
	duration       time.Duration
	concurrency    int
	scenario       string
	secret         string
	oneTime        bool
	pid            int
	json           bool
	prepare        int
	prepareTimeout time.Duration
	requestTimeout time.Duration
	hasher         passhash.Config
	hashDuration   time.Duration
	rounds         int
}

const usage = `usage: restreg-load --base URL [flags]

Drives a restreg server on this machine (127.0.0.1 or localhost only) for
--duration and prints requests/s, p50/p90/p99 latency, errors by status, the
server's peak RSS (--pid) and the raw throughput of the password hasher at
--hash-concurrency hashes at once.

Scenarios: register (unique new users), verify (verifies the links of
--prepare users registered first; links are read from the .eml files in
--mail-dir or signed with --secret), mixed (half the workers register, half
verify).

flags:
`

// Main runs `restreg-load` with args (without the command name) and
// returns the exit code: 0 when the run completed (whatever the server
// answered), 1 when it could not run, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "restreg-load:", err)
		return 2
	}
	rep, err := run(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "restreg-load:", err)
		return 1
	}
	if cfg.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "restreg-load: write report:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	def := passhash.DefaultConfig()
	cfg := config{hasher: def}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	base := fs.String("base", "http://127.0.0.1:8000", "server base URL (loopback only)")
	fs.StringVar(&cfg.basePath, "base-path", httpapi.DefaultConfig().BasePath, "the server's BASE_PATH")
	fs.StringVar(&cfg.mailDir, "mail-dir", "", "the server's MAIL_FILE_DIR, to read verification links from (verify, mixed)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send requests")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "requests in flight at once")
	fs.StringVar(&cfg.scenario, "scenario", ScenarioRegister, "register, verify, mixed or profile")
	fs.IntVar(&cfg.rounds, "rounds", 3, "profile: alternating rounds of GET /healthz and GET profile/ within --duration")
	fs.StringVar(&cfg.secret, "secret", "", "the server's SECRET_KEY, to sign links instead of reading mail (verify, mixed)")
	fs.BoolVar(&cfg.oneTime, "one-time", false, "the server runs with REGISTER_VERIFICATION_ONE_TIME_USE (salt for --secret)")
	fs.IntVar(&cfg.pid, "pid", 0, "server process id, to report its peak RSS from /proc")
	fs.BoolVar(&cfg.json, "json", false, "print the report as JSON")
	fs.IntVar(&cfg.prepare, "prepare", 0, "users to register before a verify, mixed or profile run (default 4 × concurrency, at least 50)")
	fs.DurationVar(&cfg.prepareTimeout, "prepare-timeout", 5*time.Minute, "bound on registering the --prepare users")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 30*time.Second, "bound on one request")
	fs.StringVar(&cfg.hasher.PasswordHasher, "hasher", def.PasswordHasher, "the server's PASSWORD_HASHER (argon2id or pbkdf2_sha256)")
	fs.IntVar(&cfg.hasher.Argon2idMemoryKiB, "argon2-memory", def.Argon2idMemoryKiB, "the server's ARGON2ID_MEMORY_KIB")
	fs.IntVar(&cfg.hasher.Argon2idIterations, "argon2-iterations", def.Argon2idIterations, "the server's ARGON2ID_ITERATIONS")
	fs.IntVar(&cfg.hasher.Argon2idParallelism, "argon2-parallelism", def.Argon2idParallelism, "the server's ARGON2ID_PARALLELISM")
	fs.IntVar(&cfg.hasher.PBKDF2Iterations, "pbkdf2-iterations", def.PBKDF2Iterations, "the server's PBKDF2_ITERATIONS")
	fs.IntVar(&cfg.hasher.HashConcurrency, "hash-concurrency", runtime.NumCPU(), "the server's HASH_CONCURRENCY: hashes measured at once")
	fs.DurationVar(&cfg.hashDuration, "hash-duration", 3*time.Second, "how long to measure the raw hasher, before and again after the load (0 skips it)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var errs []error
	u, err := loopbackURL(*base)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.base = u
	cfg.basePath = "/" + strings.Trim(cfg.basePath, "/")
	switch cfg.scenario {
	case ScenarioRegister:
	case ScenarioVerify, ScenarioMixed:
		if cfg.mailDir == "" && cfg.secret == "" {
			errs = append(errs, fmt.Errorf("--scenario %s needs --mail-dir or --secret to obtain verification links", cfg.scenario))
		}
	case ScenarioProfile:
		if cfg.rounds < 1 || cfg.rounds > 100 {
			errs = append(errs, fmt.Errorf("--rounds must be between 1 and 100 (got %d)", cfg.rounds))
		}
		// The hasher's ceiling says nothing about reading a profile.
		cfg.hashDuration = 0
	default:
		errs = append(errs, fmt.Errorf("--scenario must be register, verify, mixed or profile (got %q)", cfg.scenario))
	}
	if cfg.duration <= 0 || cfg.duration > maxDuration {
		errs = append(errs, fmt.Errorf("--duration must be between 0 and %s (got %s)", maxDuration, cfg.duration))
	}
	if cfg.concurrency < 1 || cfg.concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("--concurrency must be between 1 and %d (got %d)", maxConcurrency, cfg.concurrency))
	}
	if cfg.scenario == ScenarioMixed && cfg.concurrency < 2 {
		errs = append(errs, errors.New("--scenario mixed needs --concurrency of at least 2 (one register and one verify worker)"))
	}
	if cfg.prepare < 0 {
		errs = append(errs, fmt.Errorf("--prepare must not be negative (got %d)", cfg.prepare))
	}
	if cfg.prepare == 0 {
		cfg.prepare = max(4*cfg.concurrency, 50)
	}
	if cfg.requestTimeout <= 0 || cfg.prepareTimeout <= 0 {
		errs = append(errs, errors.New("--request-timeout and --prepare-timeout must be positive"))
	}
	if cfg.hashDuration < 0 || cfg.hashDuration > time.Minute {
		errs = append(errs, fmt.Errorf("--hash-duration must be between 0 and 1m (got %s)", cfg.hashDuration))
	}
	if cfg.hasher.HashConcurrency < 1 {
		errs = append(errs, fmt.Errorf("--hash-concurrency must be at least 1 (got %d)", cfg.hasher.HashConcurrency))
	}
	if cfg.pid < 0 {
		errs = append(errs, fmt.Errorf("--pid must be a process id (got %d)", cfg.pid))
	}
	return cfg, errors.Join(errs...)
}

// loopbackURL parses base and refuses any host that is not this machine:
// the tool is a load generator, and its traffic must never leave it.
func loopbackURL(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("--base must be an http:// URL such as http://127.0.0.1:8000 (got %q)", base)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--base must point at this machine (127.0.0.0/8, ::1 or localhost), not %q", host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// run prepares users when the scenario needs them, measures the raw hasher,
// sends the load and gathers the report.
func run(ctx context.Context, cfg config, progress io.Writer) (*report, error) {
	client := newClient(cfg)
	defer client.close()
	rep := &report{
		Scenario:    cfg.scenario,
		Base:        cfg.base.String(),
		Concurrency: cfg.concurrency,
		Duration:    cfg.duration.String(),
	}

	var pool *linkPool
	var tokens *tokenPool
	switch cfg.scenario {
	case ScenarioProfile:
		fmt.Fprintf(progress, "preparing %d users with tokens…\n", cfg.prepare)
		start := time.Now()
		var err error
		if tokens, err = prepareTokens(ctx, cfg, client); err != nil {
			return nil, err
		}
		rep.Prepared = len(tokens.tokens)
		rep.PrepareSeconds = time.Since(start).Seconds()
	case ScenarioVerify, ScenarioMixed:
		var err error
		fmt.Fprintf(progress, "preparing %d users to verify…\n", cfg.prepare)
		start := time.Now()
		pool, err = prepare(ctx, cfg, client)
		if err != nil {
			return nil, err
		}
		rep.Prepared = pool.len()
		rep.PrepareSeconds = time.Since(start).Seconds()
	}

	// The machine is shared: the raw hasher is measured just before and
	// just after the load, and the register figure is read against the
	// mean, so a neighbour's burst on one side shows as a gap between the two.
	measureHasher := func(when string) (float64, error) {
		fmt.Fprintf(progress, "measuring the raw %s hasher for %s (%s the load)…\n", cfg.hasher.PasswordHasher, cfg.hashDuration, when)
		rate, err := passhash.Throughput(ctx, cfg.hasher, cfg.hasher.HashConcurrency, cfg.hashDuration)
		if err != nil {
			return 0, fmt.Errorf("measure the password hasher: %w", err)
		}
		return rate, nil
	}
	var before float64
	if cfg.hashDuration > 0 {
		var err error
		if before, err = measureHasher("before"); err != nil {
			return nil, err
		}
	}

	var sampler *rssSampler
	if cfg.pid > 0 {
		var err error
		sampler, err = startRSSSampler(cfg.pid, 50*time.Millisecond)
		if err != nil {
			return nil, err
		}
	}

	fmt.Fprintf(progress, "sending %s load for %s with %d requests in flight…\n", cfg.scenario, cfg.duration, cfg.concurrency)
	var ops []*opStats
	if tokens != nil {
		ops, rep.ProfileRatioByRound = loadProfile(ctx, cfg, client, tokens)
	} else {
		ops = load(ctx, cfg, client, pool)
	}
	for _, op := range ops {
		rep.Operations = append(rep.Operations, op.summary())
	}
	if sampler != nil {
		rss, err := sampler.stop()
		if err != nil {
			return nil, err
		}
		rep.Server = rss
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if cfg.hashDuration > 0 {
		after, err := measureHasher("after")
		if err != nil {
			return nil, err
		}
		rep.Hasher = &hasherReport{
			Algorithm:    cfg.hasher.PasswordHasher,
			Cost:         hasherCost(cfg.hasher),
			Concurrency:  cfg.hasher.HashConcurrency,
			HashesPerSec: (before + after) / 2,
			Before:       before,
			After:        after,
			MeasuredForS: cfg.hashDuration.Seconds(),
		}
	}
	return rep, nil
}

// load runs the workers until the duration has passed and returns the
// statistics of each operation. Requests started before the deadline run
// to completion, so the rate divides what was answered by the time taken
// to answer it.
func load(ctx context.Context, cfg config, client *client, pool *linkPool) []*opStats {
	start := time.Now()
	deadline := start.Add(cfg.duration)
	var register, verify *opStats
	var ops []*opStats
	switch cfg.scenario {
	case ScenarioRegister:
		register = newOpStats("register", cfg.concurrency)
		ops = []*opStats{register}
	case ScenarioVerify:
		verify = newOpStats("verify", cfg.concurrency)
		ops = []*opStats{verify}
	case ScenarioMixed:
		register = newOpStats("register", cfg.concurrency/2)
		verify = newOpStats("verify", cfg.concurrency-cfg.concurrency/2)
		ops = []*opStats{register, verify}
	}

	var wg sync.WaitGroup
	worker := func(op *opStats, w int) {
		rec := op.workers[w]
		for ctx.Err() == nil && time.Now().Before(deadline) {
			if op == register {
				rec.add(client.register(ctx, client.nextSeq()))
			} else {
				l, first := pool.next()
				res := client.verify(ctx, l)
				rec.add(res)
				if first && res.err == nil && res.status == http.StatusOK {
					rec.firstUses++
				}
			}
		}
	}
	for _, op := range ops {
		for w := range op.workers {
			wg.Go(func() { worker(op, w) })
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, op := range ops {
		op.elapsed = elapsed
	}
	return ops
}

// newRunID names this run's users so that they never collide with earlier
// runs against the same database.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hasherCost(s passhash.Config) string {
	if s.PasswordHasher == "pbkdf2_sha256" {
		return fmt.Sprintf("%d iterations", s.PBKDF2Iterations)
	}
	return fmt.Sprintf("m=%d KiB, t=%d, p=%d", s.Argon2idMemoryKiB, s.Argon2idIterations, s.Argon2idParallelism)
}

// httpTransport keeps one connection per worker alive across requests.
func httpTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     30 * time.Second,
	}
}
