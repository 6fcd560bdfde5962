package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
)

func TestParseRateReadsDRFRates(t *testing.T) {
	for in, want := range map[string]core.Rate{
		"5/hour":      {Count: 5, Period: time.Hour},
		"60/minute":   {Count: 60, Period: time.Minute},
		"1/second":    {Count: 1, Period: time.Second},
		"1000/day":    {Count: 1000, Period: 24 * time.Hour},
		"10/s":        {Count: 10, Period: time.Second},
		"10/m":        {Count: 10, Period: time.Minute},
		"10/h":        {Count: 10, Period: time.Hour},
		"10/d":        {Count: 10, Period: 24 * time.Hour},
		" 3 / Hours ": {Count: 3, Period: time.Hour},
		"off":         {},
		"OFF":         {},
		"":            {},
	} {
		got, err := core.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"5", "5/week", "0/hour", "-1/hour", "five/hour", "5/", "/hour", "1.5/hour"} {
		if _, err := core.ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
	for _, r := range []string{"5/hour", "120/minute", "1/second", "7/day", "off"} {
		p, _ := core.ParseRate(r)
		if p.String() != r {
			t.Errorf("ParseRate(%q).String() = %q", r, p.String())
		}
	}
	if !(core.Rate{}).Unlimited() || (core.Rate{Count: 1, Period: time.Second}).Unlimited() {
		t.Error("Unlimited is wrong")
	}
}

// The message is Django REST framework's Throttled detail, word for word,
// with the wait rounded up as DRF does (math.ceil).
func TestThrottledMessageIsDRFs(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		59 * time.Second:        "Request was throttled. Expected available in 59 seconds.",
		59*time.Second + 1:      "Request was throttled. Expected available in 60 seconds.",
		1500 * time.Millisecond: "Request was throttled. Expected available in 2 seconds.",
		time.Second:             "Request was throttled. Expected available in 1 second.",
		time.Millisecond:        "Request was throttled. Expected available in 1 second.",
		12 * time.Minute:        "Request was throttled. Expected available in 720 seconds.",
	} {
		err := &core.ThrottledError{Wait: wait}
		if got := err.Error(); got != want {
			t.Errorf("wait %v: %q, want %q", wait, got, want)
		}
	}
	if n := (&core.ThrottledError{Wait: 2001 * time.Millisecond}).WaitSeconds(); n != 3 {
		t.Errorf("WaitSeconds of 2.001 s = %d, want 3", n)
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := core.ParsePrefixes([]string{"10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8", " 172.16.0.0/12 ", "::ffff:10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1/32", "192.168.0.0/16", "::1/128", "fd00::/8", "172.16.0.0/12", "10.1.2.3/32"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, p, want[i])
		}
	}
	if _, err := core.ParsePrefixes([]string{"10.0.0.0/33", "proxy.local", ""}); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("three bad entries: %v, want three problems", err)
	}
}

func TestThrottleSettingsAreValidated(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*core.Settings)
		want   string
	}{
		"rate":     {func(s *core.Settings) { s.ThrottleLoginAccount = "10/week" }, `THROTTLE_LOGIN_ACCOUNT must be N/second, N/minute, N/hour, N/day or off (got "10/week")`},
		"interval": {func(s *core.Settings) { s.ResendVerificationInterval = -time.Second }, "RESEND_VERIFICATION_INTERVAL must not be negative"},
		"safe needs from": {func(s *core.Settings) {
			s.RegisterVerificationEnabled = false
			s.VerificationFromEmail = ""
			s.RegisterEnumerationSafe = true
		}, "VERIFICATION_FROM_EMAIL is required when REGISTER_ENUMERATION_SAFE is true"},
	} {
		t.Run(name, func(t *testing.T) { expectOneProblem(t, tc.change, tc.want) })
	}
	s := validSettings()
	s.ThrottleRegisterIP = "off"
	if err := s.Validate(); err != nil {
		t.Fatalf("valid throttle settings rejected: %v", err)
	}
	d := core.DefaultSettings()
	if !d.ResendVerificationEnabled || d.ResendVerificationInterval != time.Minute || d.RegisterEnumerationSafe {
		t.Fatalf("defaults: %+v", d)
	}
}
