package usecase_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// throttled returns a fixture with the in-memory limiter and every rate off
// except those configure sets.
func throttled(t *testing.T, configure func(*core.Settings)) *fixture {
	t.Helper()
	f := newFixture(t, func(s *core.Settings) {
		for _, r := range []*string{&s.ThrottleRegisterIP, &s.ThrottleRegisterEmail, &s.ThrottleVerifyIP, &s.ThrottleVerifyUser,
			&s.ThrottleLoginIP, &s.ThrottleLoginAccount, &s.ThrottleResendIP, &s.ThrottleResendAccount} {
			*r = "off"
		}
		configure(s)
	})
	f.limiter = memlimit.New(memlimit.Options{})
	f.build(t)
	return f
}

// from is a request context from the client address addr.
func from(addr string) context.Context {
	return core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "r", RemoteAddr: addr})
}

// wantThrottled fails unless err is a throttle with a wait within period.
func wantThrottled(t *testing.T, err error, period time.Duration) {
	t.Helper()
	var terr *core.ThrottledError
	if !errors.As(err, &terr) {
		t.Fatalf("err = %v, want *core.ThrottledError", err)
	}
	if terr.Wait <= 0 || terr.Wait > period {
		t.Fatalf("wait %v, want in (0, %v]", terr.Wait, period)
	}
}

func TestRegisterCountsEveryRequestPerClientAddress(t *testing.T) {
	f := throttled(t, func(s *core.Settings) { s.ThrottleRegisterIP = "3/hour" })
	bot := from("203.0.113.9")
	// A rejected request counts: bots that send garbage are held back too.
	var verr *core.ValidationError
	if _, err := f.reg.Handle(bot, usecase.RegisterInput{}); !errors.As(err, &verr) {
		t.Fatalf("empty registration: %v", err)
	}
	for _, name := range []string{"wade", "xena"} {
		if _, err := f.reg.Handle(bot, registration(name)); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	_, err := f.reg.Handle(bot, registration("yann"))
	wantThrottled(t, err, time.Hour)
	if _, err := f.store.FindUser(context.Background(), core.ByUsernameKey, "yann"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a throttled registration stored its user: %v", err)
	}
	if _, err := f.reg.Handle(from("198.51.100.4"), registration("yann")); err != nil {
		t.Fatalf("another client: %v", err)
	}
}

// An address can be mail-bombed only so often, from any number of clients;
// malformed requests never use up its allowance.
func TestRegisterCountsEachAddressOnlyOnceValid(t *testing.T) {
	f := throttled(t, func(s *core.Settings) {
		s.ThrottleRegisterEmail = "2/hour"
		s.RegisterEnumerationSafe = true
	})
	for i := range 5 {
		in := registration(fmt.Sprintf("junk%d", i))
		in.Email = core.Str("victim@example.com")
		in.Password = core.Str("123")
		if _, err := f.reg.Handle(from("192.0.2.1"), in); err == nil || errors.As(err, new(*core.ThrottledError)) {
			t.Fatalf("weak password %d: %v, want the password stage", i, err)
		}
	}
	for i, name := range []string{"victim", "victim2"} {
		in := registration(name)
		in.Email = core.Str("Victim@example.com")
		if _, err := f.reg.Handle(from(fmt.Sprintf("192.0.2.%d", 10+i)), in); err != nil {
			t.Fatalf("registration %d with the address: %v", i+1, err)
		}
	}
	in := registration("victim3")
	in.Email = core.Str("VICTIM@EXAMPLE.COM")
	_, err := f.reg.Handle(from("192.0.2.99"), in)
	wantThrottled(t, err, time.Hour)
	f.deliver(t)
	if n := len(f.mailer.Messages()); n != 2 {
		t.Fatalf("%d e-mails to the address, want 2 (a link and a notice)", n)
	}
}

func TestLoginCountsEachAccountPerClientHoweverItIsSpelt(t *testing.T) {
	f := throttled(t, func(s *core.Settings) {
		s.ThrottleLoginAccount = "3/minute"
		s.RegisterVerificationEnabled = false
	})
	if _, err := f.reg.Handle(context.Background(), registration("zack")); err != nil {
		t.Fatal(err)
	}
	try := func(addr, login, password string) error {
		_, err := f.login.Handle(from(addr), usecase.LoginInput{Login: core.Str(login), Password: core.Str(password)})
		return err
	}
	// The username, its case variants and the account's address share one
	// count for a client.
	const stranger = "192.0.2.66"
	for i, login := range []string{"zack", "ZACK", "Zack@Example.com"} {
		var derr *core.DetailError
		if err := try(stranger, login, "guess"); !errors.As(err, &derr) {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
	wantThrottled(t, try(stranger, "zack@example.com", "correct horse battery"), time.Minute)
	// The stranger's failures never lock the owner out from elsewhere.
	if err := try("198.51.100.7", "zack", "correct horse battery"); err != nil {
		t.Fatalf("the owner from another address after a stranger's failures: %v, want a login", err)
	}
	// Field errors do not count, and other accounts are not affected.
	var verr *core.ValidationError
	if _, err := f.login.Handle(from(stranger), usecase.LoginInput{Login: core.Str("nobody")}); !errors.As(err, &verr) {
		t.Fatalf("missing password: %v", err)
	}
	var derr *core.DetailError
	if err := try(stranger, "nobody", "guess"); !errors.As(err, &derr) {
		t.Fatalf("another account: %v", err)
	}
}

func TestVerifyCountsPerClientAndPerLinkUser(t *testing.T) {
	f := throttled(t, func(s *core.Settings) {
		s.ThrottleVerifyIP = "4/minute"
		s.ThrottleVerifyUser = "2/minute"
	})
	if _, err := f.reg.Handle(context.Background(), registration("abby")); err != nil {
		t.Fatal(err)
	}
	link := linkInput(t, f.mailer.Messages()[0])
	for i := range 2 {
		if _, err := f.verify.Handle(from(fmt.Sprintf("192.0.2.%d", i)), link); err != nil {
			t.Fatalf("verify %d: %v", i+1, err)
		}
	}
	_, err := f.verify.Handle(from("192.0.2.77"), link)
	wantThrottled(t, err, time.Minute)

	client := from("198.51.100.8")
	other := link
	other.UserID = core.Str("someone-else")
	for i := range 4 {
		var derr *core.DetailError
		if _, err := f.verify.Handle(client, other); !errors.As(err, &derr) {
			t.Fatalf("forged link %d: %v", i+1, err)
		}
		other.UserID = core.Str(fmt.Sprintf("someone-else-%d", i))
	}
	_, err = f.verify.Handle(client, other)
	wantThrottled(t, err, time.Minute)
}

func TestResendCountsPerClientAndPerAccount(t *testing.T) {
	f := throttled(t, func(s *core.Settings) {
		s.ThrottleResendIP = "3/hour"
		s.ThrottleResendAccount = "2/hour"
	})
	resend := func(addr, login string) error {
		return f.resend.Handle(from(addr), usecase.ResendInput{Login: core.Str(login)})
	}
	for i := range 2 {
		if err := resend(fmt.Sprintf("192.0.2.%d", i), "Target@example.com"); err != nil {
			t.Fatalf("resend %d: %v", i+1, err)
		}
	}
	wantThrottled(t, resend("192.0.2.200", "target@EXAMPLE.com"), time.Hour)
	client := from("198.51.100.9")
	for i := range 3 {
		if err := f.resend.Handle(client, usecase.ResendInput{Login: core.Str(fmt.Sprintf("user%d", i))}); err != nil {
			t.Fatalf("resend %d from one client: %v", i+1, err)
		}
	}
	wantThrottled(t, f.resend.Handle(client, usecase.ResendInput{Login: core.Str("user9")}), time.Hour)
}

// One IPv6 subscriber holds a whole /64: rotating addresses within it gains
// nothing, while the next /64 is someone else.
func TestIPv6ClientsAreCountedByTheirSlash64(t *testing.T) {
	f := throttled(t, func(s *core.Settings) { s.ThrottleLoginIP = "2/minute" })
	try := func(addr string) error {
		_, err := f.login.Handle(from(addr), usecase.LoginInput{Login: core.Str("x"), Password: core.Str("y")})
		if errors.As(err, new(*core.DetailError)) {
			return nil
		}
		return err
	}
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if err := try(addr); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	wantThrottled(t, try("2001:db8:1:2:abcd::1"), time.Minute)
	if err := try("2001:db8:1:3::1"); err != nil {
		t.Fatalf("the next /64: %v", err)
	}
	if err := try("192.0.2.1"); err != nil {
		t.Fatalf("an IPv4 client: %v", err)
	}
}

// A client holding a /48 could rotate through 65,536 /64s: the /48 as a
// whole gets 16 times the per-address rate, and the next /48 is someone else.
func TestIPv6ClientsAreCountedByTheirSlash48Too(t *testing.T) {
	f := throttled(t, func(s *core.Settings) { s.ThrottleLoginIP = "2/minute" })
	try := func(addr string) error {
		_, err := f.login.Handle(from(addr), usecase.LoginInput{Login: core.Str("x"), Password: core.Str("y")})
		if errors.As(err, new(*core.DetailError)) {
			return nil
		}
		return err
	}
	// One request from each of 32 /64s of one /48 is the /48's allowance.
	for i := range 32 {
		if err := try(fmt.Sprintf("2001:db8:7:%x::1", i)); err != nil {
			t.Fatalf("/64 number %d: %v", i+1, err)
		}
	}
	wantThrottled(t, try("2001:db8:7:ff::1"), time.Minute)
	if err := try("2001:db8:8:ff::1"); err != nil {
		t.Fatalf("the next /48: %v", err)
	}
}

// A /64 that is already over its limit is refused before its /48 is asked,
// so hammering from one /64 does not use up what its neighbours share.
func TestARefusedSlash64DoesNotUseUpItsSlash48(t *testing.T) {
	f := throttled(t, func(s *core.Settings) { s.ThrottleLoginIP = "1/minute" })
	try := func(addr string) error {
		_, err := f.login.Handle(from(addr), usecase.LoginInput{Login: core.Str("x"), Password: core.Str("y")})
		if errors.As(err, new(*core.DetailError)) {
			return nil
		}
		return err
	}
	if err := try("2001:db8:9:1::1"); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		wantThrottled(t, try("2001:db8:9:1::2"), time.Minute)
	}
	if err := try("2001:db8:9:2::1"); err != nil {
		t.Fatalf("a neighbouring /64 after 100 refused requests next door: %v", err)
	}
}

// failingLimiter is a limiter whose store is down.
type failingLimiter struct{ calls int }

func (l *failingLimiter) Allow(context.Context, string, core.Rate) (bool, time.Duration, error) {
	l.calls++
	return false, 0, fmt.Errorf("redis: dial: %w", core.ErrUnavailable)
}

func TestLimiterFailureLetsSignUpsThroughAndWarnsOnce(t *testing.T) {
	f := newFixture(t, nil)
	limiter := &failingLimiter{}
	f.limiter = limiter
	var mu sync.Mutex
	var logs strings.Builder
	f.log = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	f.build(t)
	for _, name := range []string{"bert", "cleo", "dina"} {
		if _, err := f.reg.Handle(from("192.0.2.1"), registration(name)); err != nil {
			t.Fatalf("register %s with the limiter down: %v", name, err)
		}
	}
	if limiter.calls != 6 {
		t.Fatalf("limiter asked %d times, want 6 (address and e-mail of 3 registrations)", limiter.calls)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "rate limiter unavailable"); n != 1 {
		t.Fatalf("%d warnings for 6 failed checks, want 1:\n%s", n, logs.String())
	}
}

// With no client address (a library caller outside HTTP) the per-IP limit
// has nothing to count; the per-target limits still apply.
func TestNoClientAddressSkipsOnlyThePerIPLimit(t *testing.T) {
	f := throttled(t, func(s *core.Settings) {
		s.ThrottleLoginIP = "1/minute"
		s.ThrottleLoginAccount = "2/minute"
	})
	for range 2 {
		if _, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("eve"), Password: core.Str("p")}); !errors.As(err, new(*core.DetailError)) {
			t.Fatalf("login without an address: %v", err)
		}
	}
	_, err := f.login.Handle(context.Background(), usecase.LoginInput{Login: core.Str("eve"), Password: core.Str("p")})
	wantThrottled(t, err, time.Minute)
}
