package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// opStats gathers the results of one operation; each worker records into
// its own recorder, so recording takes no lock.
type opStats struct {
	name    string
	success int
	workers []*recorder
	elapsed time.Duration
}

func newOpStats(name string, workers int) *opStats {
	success := http.StatusOK
	if name == "register" {
		success = http.StatusCreated
	}
	op := &opStats{name: name, success: success}
	for range workers {
		op.workers = append(op.workers, &recorder{success: success, statuses: map[int]int{}})
	}
	return op
}

// recorder is one worker's share of an operation's results.
type recorder struct {
	success      int
	durations    []time.Duration
	ok           int
	statuses     map[int]int
	transport    int
	noRetryAfter int
	// firstUses counts successful verifications of a link not posted
	// before in this run (the ones that activated a user).
	firstUses int
}

func (r *recorder) add(res result) {
	r.durations = append(r.durations, res.dur)
	switch {
	case res.err != nil && res.status == 0:
		r.transport++
	case res.status == r.success && res.err == nil:
		r.ok++
	default:
		r.statuses[res.status]++
		if res.status == http.StatusServiceUnavailable && res.retryAfter == "" {
			r.noRetryAfter++
		}
	}
}

// opSummary is the report of one operation.
type opSummary struct {
	Name           string  `json:"operation"`
	Requests       int     `json:"requests"`
	OK             int     `json:"ok"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	RequestsPerSec float64 `json:"requests_per_second"`
	OKPerSec       float64 `json:"ok_per_second"`
	// LatencyMs holds p50, p90, p99 and max over every answered or failed
	// request, in milliseconds.
	LatencyMs latency `json:"latency_ms"`
	// Errors counts answers other than success by status, and requests that
	// got no answer as "transport".
	Errors map[string]int `json:"errors"`
	// FirstUses counts, for verify, the successful answers to a link's
	// first use, which activated its user; the rest verified an active
	// user again (allowed unless links are one-time).
	FirstUses int `json:"first_uses,omitempty"`
	// Unavailable503WithoutRetryAfter counts 503 answers missing the
	// Retry-After header restreg promises.
	Unavailable503WithoutRetryAfter int `json:"unavailable_without_retry_after,omitempty"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (op *opStats) summary() opSummary {
	s := opSummary{Name: op.name, ElapsedSeconds: op.elapsed.Seconds(), Errors: map[string]int{}}
	var all []time.Duration
	for _, w := range op.workers {
		all = append(all, w.durations...)
		s.OK += w.ok
		for status, n := range w.statuses {
			s.Errors[strconv.Itoa(status)] += n
		}
		if w.transport > 0 {
			s.Errors["transport"] += w.transport
		}
		s.Unavailable503WithoutRetryAfter += w.noRetryAfter
		s.FirstUses += w.firstUses
	}
	s.Requests = len(all)
	if secs := op.elapsed.Seconds(); secs > 0 {
		s.RequestsPerSec = float64(s.Requests) / secs
		s.OKPerSec = float64(s.OK) / secs
	}
	slices.Sort(all)
	s.LatencyMs = latency{
		P50: ms(percentile(all, 50)),
		P90: ms(percentile(all, 90)),
		P99: ms(percentile(all, 99)),
	}
	if len(all) > 0 {
		s.LatencyMs.Max = ms(all[len(all)-1])
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hasherReport is the raw throughput of the password hasher.
type hasherReport struct {
	Algorithm   string `json:"algorithm"`
	Cost        string `json:"cost"`
	Concurrency int    `json:"concurrency"`
	// HashesPerSec is the mean of Before and After.
	HashesPerSec float64 `json:"hashes_per_second"`
	Before       float64 `json:"hashes_per_second_before"`
	After        float64 `json:"hashes_per_second_after"`
	MeasuredForS float64 `json:"measured_for_seconds_each"`
}

// rssReport is the server's memory during the run.
type rssReport struct {
	PID int `json:"pid"`
	// PeakRSSBytes is VmHWM: the highest resident set since the process
	// started, as the kernel counts it.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// MaxSampledRSSBytes is the highest VmRSS seen while sampling the run.
	MaxSampledRSSBytes int64 `json:"max_sampled_rss_bytes"`
	Samples            int   `json:"samples"`
}

// report is everything one run printed.
type report struct {
	Scenario       string        `json:"scenario"`
	Base           string        `json:"base"`
	Concurrency    int           `json:"concurrency"`
	Duration       string        `json:"duration"`
	Prepared       int           `json:"prepared_users,omitempty"`
	PrepareSeconds float64       `json:"prepare_seconds,omitempty"`
	Hasher         *hasherReport `json:"raw_hasher,omitempty"`
	Operations     []opSummary   `json:"operations"`
	Server         *rssReport    `json:"server,omitempty"`
	RegisterShare  *float64      `json:"register_ok_per_second_vs_raw_hasher,omitempty"`
	// ProfileRatio is profile/'s ok/s over GET /healthz's, same run.
	ProfileRatio *float64 `json:"profile_ok_per_second_vs_healthz,omitempty"`
	// ProfileRatioByRound is the same ratio within each round.
	ProfileRatioByRound []float64 `json:"profile_vs_healthz_by_round,omitempty"`
}

// registerShare is register's successful answers per second as a fraction
// of the raw hasher's hashes per second.
func (r *report) registerShare() (float64, bool) {
	if r.Hasher == nil || r.Hasher.HashesPerSec <= 0 {
		return 0, false
	}
	for _, op := range r.Operations {
		if op.Name == "register" {
			return op.OKPerSec / r.Hasher.HashesPerSec, true
		}
	}
	return 0, false
}

func (r *report) writeJSON(w io.Writer) error {
	if share, ok := r.registerShare(); ok {
		r.RegisterShare = &share
	}
	if ratio, ok := r.profileRatio(); ok {
		r.ProfileRatio = &ratio
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "restreg load test: scenario %s, %d requests in flight for %s against %s\n",
		r.Scenario, r.Concurrency, r.Duration, r.Base)
	if r.Prepared > 0 {
		what := "to verify"
		if r.Scenario == ScenarioProfile {
			what = "with tokens"
		}
		fmt.Fprintf(&b, "prepared %d users %s in %.1fs\n", r.Prepared, what, r.PrepareSeconds)
	}
	if h := r.Hasher; h != nil {
		fmt.Fprintf(&b, "raw password hasher: %s (%s), %d at once: %.1f hashes/s (%.1f before the load, %.1f after, %gs each)\n",
			h.Algorithm, h.Cost, h.Concurrency, h.HashesPerSec, h.Before, h.After, h.MeasuredForS)
	}
	b.WriteString("\n")
	row := func(cols ...string) {
		fmt.Fprintf(&b, "%-10s %9s %9s %9s %9s %9s %9s %9s  %s\n", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8])
	}
	row("operation", "requests", "ok", "ok/s", "p50", "p90", "p99", "max", "errors")
	for _, op := range r.Operations {
		row(op.Name, strconv.Itoa(op.Requests), strconv.Itoa(op.OK), fmt.Sprintf("%.1f", op.OKPerSec),
			fmtMs(op.LatencyMs.P50), fmtMs(op.LatencyMs.P90), fmtMs(op.LatencyMs.P99), fmtMs(op.LatencyMs.Max),
			fmtErrors(op.Errors))
	}
	for _, op := range r.Operations {
		if op.Name == "verify" && op.OK > 0 {
			fmt.Fprintf(&b, "verify: %d of the %d verified links were first uses (activating the user); the rest verified an active user again\n",
				op.FirstUses, op.OK)
		}
		if op.Unavailable503WithoutRetryAfter > 0 {
			fmt.Fprintf(&b, "warning: %d of %s's 503 answers had no Retry-After header\n", op.Unavailable503WithoutRetryAfter, op.Name)
		}
	}
	if share, ok := r.registerShare(); ok {
		fmt.Fprintf(&b, "\nregister: %.1f%% of the raw hasher's throughput\n", 100*share)
	}
	if ratio, ok := r.profileRatio(); ok {
		fmt.Fprintf(&b, "\nprofile: %.2f × the rate of GET /healthz on the same server, same run\n", ratio)
		if rs := r.ProfileRatioByRound; len(rs) > 0 {
			parts := make([]string, len(rs))
			for i, x := range rs {
				parts[i] = fmt.Sprintf("%.2f", x)
			}
			sorted := slices.Clone(rs)
			slices.Sort(sorted)
			fmt.Fprintf(&b, "by round: %s (median %.2f)\n", strings.Join(parts, ", "), median(sorted))
		}
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(&b, "\nserver pid %d: peak RSS %s (VmHWM), highest sampled VmRSS during the run %s (%d samples)\n",
			s.PID, mib(s.PeakRSSBytes), mib(s.MaxSampledRSSBytes), s.Samples)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// median returns the middle of sorted values (the mean of the two middle
// ones for an even count).
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func fmtMs(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

func fmtErrors(errs map[string]int) string {
	if len(errs) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
