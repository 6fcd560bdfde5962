package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// Couriers on several instances share one queue: while their claims run
// at once, each due mail goes to exactly one of them, and each claim hands
// out its mails earliest due first.
func TestCouriersOnTwoInstancesClaimEachMailOnce(t *testing.T) {
	ctx := context.Background()
	a, url := openFresh(t)
	b := openOn(t, url, Options{})
	base := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	const users = 120
	for i := range users {
		u := porttest.NewUser(fmt.Sprintf("queued%03d", i))
		// Due times in an order unlike the ids', some shared.
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: base.Add(time.Duration((i*37)%50) * time.Millisecond)}
		if err := a.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	now := base.Add(time.Second)
	var mu sync.Mutex
	claims := map[string]int{}
	perInstance := map[string]int{}
	var wg sync.WaitGroup
	for i := range 8 {
		s, name := a, "a"
		if i%2 == 1 {
			s, name = b, "b"
		}
		wg.Go(func() {
			for {
				got, err := s.ClaimMail(ctx, now, time.Hour, 7)
				if err != nil {
					t.Errorf("ClaimMail: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, u := range got {
					claims[u.ID]++
					perInstance[name]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claims) != users {
		t.Errorf("%d distinct mails claimed, want all %d", len(claims), users)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("mail of %s claimed %d times within its lease, want once", id, n)
		}
	}
	t.Logf("claims per instance: %v", perInstance)
}

func TestAClaimHandsOutTheLongestWaitingMailsFirst(t *testing.T) {
	ctx := context.Background()
	s, _ := openFresh(t)
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var want []string
	// Created latest-due first, with ids sorting against the due order.
	for i := range 6 {
		u := porttest.NewUser(fmt.Sprintf("waiting%d", i))
		u.Mail = core.PendingMail{Kind: core.MailVerification, DueAt: base.Add(time.Duration(6-i) * time.Second)}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		want = append([]string{u.ID}, want...)
	}
	got, err := s.ClaimMail(ctx, base.Add(time.Minute), time.Minute, 4)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(userIDs(got)) != fmt.Sprint(want[:4]) {
		t.Errorf("ClaimMail = %v, want the 4 due earliest, in due order: %v", userIDs(got), want[:4])
	}
}

func userIDs(us []core.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}
