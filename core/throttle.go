package core

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Rate is a request limit in Django REST framework's terms: at most Count
// requests per Period for one key. The zero Rate is no limit at all.
type Rate struct {
	// Count is how many requests one key may make per Period.
	Count int
	// Period is the window Count applies to.
	Period time.Duration
}

// Unlimited reports whether r lets every request through.
func (r Rate) Unlimited() bool { return r.Count <= 0 || r.Period <= 0 }

// String renders r the way ParseRate reads it back ("5/hour", "off").
func (r Rate) String() string {
	if r.Unlimited() {
		return "off"
	}
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"day", 24 * time.Hour}, {"hour", time.Hour}, {"minute", time.Minute}, {"second", time.Second}} {
		if r.Period == u.d {
			return strconv.Itoa(r.Count) + "/" + u.name
		}
	}
	return strconv.Itoa(r.Count) + "/" + r.Period.String()
}

// ratePeriods are the period names DRF's "N/period" rates use, in full and
// abbreviated.
var ratePeriods = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseRate reads a rate written as Django REST framework writes throttle
// rates: "N/second", "N/minute", "N/hour" or "N/day" (also "N/s", "N/m",
// "N/h", "N/d"), N a positive whole number. "off" and "" mean no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") {
		return Rate{}, nil
	}
	count, period, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q is not N/second, N/minute, N/hour, N/day or off", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return Rate{}, fmt.Errorf("rate %q: the count must be a whole number of at least 1", s)
	}
	d, ok := ratePeriods[strings.ToLower(strings.TrimSpace(period))]
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: the period must be second, minute, hour or day", s)
	}
	return Rate{Count: n, Period: d}, nil
}

// MsgThrottled is the start of Django REST framework's answer to a
// throttled request; ThrottledMessage adds the wait.
const MsgThrottled = "Request was throttled."

// ThrottledError is a request refused because a rate limit was reached.
// Nothing was changed; the same request may succeed after Wait.
type ThrottledError struct {
	// Wait is how long until the limit lets one more request through.
	Wait time.Duration
}

// Error returns the message the client is given.
func (e *ThrottledError) Error() string { return ThrottledMessage(e.Wait) }

// WaitSeconds is Wait in whole seconds, rounded up and at least 1: what
// Retry-After and the message say.
func (e *ThrottledError) WaitSeconds() int {
	s := math.Ceil(e.Wait.Seconds())
	if s < 1 {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// ThrottledMessage is Django REST framework's Throttled detail for a wait,
// word for word: "Request was throttled. Expected available in N seconds."
// ("1 second" in the singular), N rounded up.
func ThrottledMessage(wait time.Duration) string {
	n := (&ThrottledError{Wait: wait}).WaitSeconds()
	if n == 1 {
		return MsgThrottled + " Expected available in 1 second."
	}
	return MsgThrottled + " Expected available in " + strconv.Itoa(n) + " seconds."
}

// ParsePrefixes reads TRUSTED_PROXIES entries: IP addresses ("10.0.0.1",
// "::1") and CIDR ranges ("10.0.0.0/8", "fd00::/8"). A bare address becomes
// a single-address range.
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	var errs []error
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("%q is not an IP address or CIDR range", e))
				continue
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an IP address or CIDR range", e))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, errors.Join(errs...)
}
