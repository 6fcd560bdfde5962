package usecase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Unlimited is the ports.RateLimiter of RATE_LIMIT_BACKEND=off: it lets
// every request through.
type Unlimited struct{}

// Allow always allows.
func (Unlimited) Allow(context.Context, string, core.Rate) (bool, time.Duration, error) {
	return true, 0, nil
}

// The throttle rules: each names what is counted, and is the start of the
// limiter key. Rules ending in ":ip" count client addresses (clientKey), and
// for an IPv6 client Throttle counts its /48 as well.
const (
	ruleRegisterIP    = "register:ip"
	ruleRegisterEmail = "register:email"
	ruleVerifyIP      = "verify:ip"
	ruleVerifyUser    = "verify:user"
	ruleLoginIP       = "login:ip"
	ruleLoginAccount  = "login:account"
	ruleResendIP      = "resend:ip"
	ruleResendAccount = "resend:account"
)

// limiterWarnEvery spaces out the warnings about a limiter that cannot be
// reached: one per interval says enough, one per request would flood the log.
const limiterWarnEvery = 10 * time.Second

// ipv6SiteFactor is how many /64 networks' allowance one IPv6 /48 gets. A
// /48 is one site (a business, often a home): typically a handful of /64s
// in use, yet 65,536 to rotate through. Sixteen times the per-address rate
// leaves room for the busy sites of a provider that hands out /64s from a
// shared /48, while rotating through the /48 gains 16 times the rate
// instead of 65,536 times.
const ipv6SiteFactor = 16

// Throttle counts requests against the THROTTLE_* rates with a
// ports.RateLimiter. One Throttle is shared by the use cases, so a limiter
// that cannot be reached is warned about once per interval, not once per
// use case. A nil *Throttle throttles nothing.
type Throttle struct {
	limiter ports.RateLimiter
	log     *slog.Logger
	// warned is when the last "limiter unavailable" warning was logged
	// (Unix nanoseconds).
	warned atomic.Int64
}

// NewThrottle returns a Throttle counting with limiter (nil throttles
// nothing, as RATE_LIMIT_BACKEND=off does) and warning on log (nil: the
// default logger) when the limiter fails.
func NewThrottle(limiter ports.RateLimiter, log *slog.Logger) *Throttle {
	if log == nil {
		log = slog.Default()
	}
	return &Throttle{limiter: limiter, log: log}
}

// count counts one request of rule for value against the rate setting
// rate and returns a *core.ThrottledError when it is over the limit. An
// empty value (no client address known), a rate of "off", no limiter, and a
// limiter that fails all let the request through: throttling protects
// sign-ups, it must never be the reason they stop.
//
// For an address rule and an IPv6 client, the /64 (value) is counted first
// and then its /48 at ipv6SiteFactor times the rate; the request is refused
// when either is over. A /64 already over its limit therefore never uses up
// the allowance its neighbours in the /48 share.
func (t *Throttle) count(ctx context.Context, rule, rate, value string) error {
	if t == nil || t.limiter == nil || value == "" {
		return nil
	}
	limit, valid := rateOf(rate)
	if !valid || limit.Unlimited() {
		return nil
	}
	if err := t.allow(ctx, rule, limit, value); err != nil {
		return err
	}
	if site, ok := ipv6Site(rule, value); ok {
		wide := core.Rate{Count: math.MaxInt, Period: limit.Period}
		if limit.Count <= math.MaxInt/ipv6SiteFactor {
			wide.Count = limit.Count * ipv6SiteFactor
		}
		return t.allow(ctx, rule+"/48", wide, site)
	}
	return nil
}

// countEmail counts one request of rule for the inbox email reaches
// (core.EmailThrottleKey: tags and, for Gmail, dots removed), so that
// "ann+1@x.com", "ann+2@x.com" and "ANN@x.com" use one allowance. No
// address, no count.
func (t *Throttle) countEmail(ctx context.Context, rule, rate, email string) error {
	if email == "" {
		return nil
	}
	return t.count(ctx, rule, rate, core.EmailThrottleKey(email))
}

// allow asks the limiter about one key; see count.
func (t *Throttle) allow(ctx context.Context, rule string, limit core.Rate, value string) error {
	// Keys carry a digest, not the address or e-mail itself: the limiter's
	// store (Redis) then holds no personal data and every key has one size.
	sum := sha256.Sum256([]byte(value))
	key := rule + ":" + hex.EncodeToString(sum[:16])
	ok, wait, err := t.limiter.Allow(ctx, key, limit)
	if err != nil {
		now := time.Now().UnixNano()
		last := t.warned.Load()
		if now-last >= int64(limiterWarnEvery) && t.warned.CompareAndSwap(last, now) {
			t.log.WarnContext(ctx, "rate limiter unavailable: requests are let through unthrottled", "rule", rule, "error", err)
		}
		return nil
	}
	if !ok {
		return &core.ThrottledError{Wait: wait}
	}
	return nil
}

// ipv6Site returns the /48 network of an IPv6 client key of an address rule
// (the /64 clientKey gives); ok is false for any other rule or value.
func ipv6Site(rule, value string) (string, bool) {
	if !strings.HasSuffix(rule, ":ip") {
		return "", false
	}
	p, err := netip.ParsePrefix(value)
	if err != nil || !p.Addr().Is6() || p.Bits() != 64 {
		return "", false
	}
	site, err := p.Addr().Prefix(48)
	if err != nil {
		return "", false
	}
	return site.String(), true
}

// rateOf parses a THROTTLE_* value; an invalid one (Settings.Validate
// refuses those at start-up) limits nothing rather than every request.
func rateOf(setting string) (core.Rate, bool) {
	r, err := core.ParseRate(setting)
	return r, err == nil
}

// clientKey is what the per-IP limits count: the client address the HTTP
// adapter put in the request info, an IPv6 address reduced to its /64
// (one subscriber's network, whose addresses are theirs to rotate; Throttle
// adds the /48), "" when unknown.
func clientKey(ctx context.Context) string {
	addr := core.RequestInfoFrom(ctx).RemoteAddr
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// accountKey is what the per-target limits of login, resend and verify
// count: the login (or link user_id) as typed, NFKC-normalised and
// case-folded, so "Ann", "ann" and "ANN@Example.com"/"ann@example.com" share
// one count.
func accountKey(login string) string { return core.UsernameKey(login, true) }
