package usecase

import (
	"context"
	"errors"
	"testing"

	"github.com/restreg/restreg/adapters/memlimit"
	"github.com/restreg/restreg/core"
)

// Registrations for one inbox share one THROTTLE_REGISTER_EMAIL count, however
// the address is tagged or (for Gmail) dotted.
func TestThrottleEmailCountsTheInbox(t *testing.T) {
	th := NewThrottle(memlimit.New(memlimit.Options{}), nil)
	ctx := context.Background()
	try := func(email string) error { return th.countEmail(ctx, ruleRegisterEmail, "3/hour", email) }
	for _, email := range []string{"ann+1@example.com", "Ann+2@example.com", "ann@ｅｘａｍｐｌｅ.com"} {
		if err := try(email); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	if err := try("ann+3@example.com"); !errors.As(err, new(*core.ThrottledError)) {
		t.Fatalf("fourth registration for one inbox: %v, want throttled", err)
	}
	if err := try("bob@example.com"); err != nil {
		t.Fatalf("another inbox: %v", err)
	}
	for _, email := range []string{"a.n.n@gmail.com", "ann+x@googlemail.com", "ANN@gmail.com"} {
		if err := try(email); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
	}
	if err := try("an.n@gmail.com"); !errors.As(err, new(*core.ThrottledError)) {
		t.Fatalf("fourth registration for one Gmail inbox: %v, want throttled", err)
	}
	if err := try(""); err != nil {
		t.Fatalf("no address: %v", err)
	}
}
