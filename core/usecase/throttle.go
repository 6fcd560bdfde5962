package usecase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"time"

	"github.com/restreg/restreg/core"
)

// Unlimited is the ports.RateLimiter of RATE_LIMIT_BACKEND=off: it lets
// every request through.
type Unlimited struct{}

// Allow always allows.
func (Unlimited) Allow(context.Context, string, core.Rate) (bool, time.Duration, error) {
	return true, 0, nil
}

// The throttle rules: each names what is counted, and is the start of the
// limiter key.
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

// throttle counts one request of rule for value against the rate setting
// rate and returns a *core.ThrottledError when it is over the limit. An
// empty value (no client address known), a rate of "off", no limiter, and a
// limiter that fails all let the request through: throttling protects
// sign-ups, it must never be the reason they stop.
func (d *Deps) throttle(ctx context.Context, rule, rate, value string) error {
	if d.Limiter == nil || value == "" {
		return nil
	}
	limit, valid := rateOf(rate)
	if !valid || limit.Unlimited() {
		return nil
	}
	// Keys carry a digest, not the address or e-mail itself: the limiter's
	// store (Redis) then holds no personal data and every key has one size.
	sum := sha256.Sum256([]byte(value))
	key := rule + ":" + hex.EncodeToString(sum[:16])
	ok, wait, err := d.Limiter.Allow(ctx, key, limit)
	if err != nil {
		now := time.Now().UnixNano()
		last := d.limiterWarned.Load()
		if now-last >= int64(limiterWarnEvery) && d.limiterWarned.CompareAndSwap(last, now) {
			d.logger().WarnContext(ctx, "rate limiter unavailable: requests are let through unthrottled", "rule", rule, "error", err)
		}
		return nil
	}
	if !ok {
		return &core.ThrottledError{Wait: wait}
	}
	return nil
}

// rateOf parses a THROTTLE_* value; an invalid one (Settings.Validate
// refuses those at start-up) limits nothing rather than every request.
func rateOf(setting string) (core.Rate, bool) {
	r, err := core.ParseRate(setting)
	return r, err == nil
}

// clientKey is what the per-IP limits count: the client address the HTTP
// adapter put in the request info, an IPv6 address reduced to its /64
// (one subscriber's network, whose addresses are theirs to rotate), "" when
// unknown.
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
