package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports/porttest"
)

// queryPlan returns SQLite's plan for query, its steps joined by "; ".
func queryPlan(t *testing.T, s *Store, query string) string {
	t.Helper()
	args := make([]any, strings.Count(query, "?"))
	for i := range args {
		args[i] = "x"
	}
	rows, err := s.reader.Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

// FindToken runs on every authenticated request and LatestToken on logins:
// each must look its rows up by index, never scan a table or sort.
func TestTokenLookupsUseTheirIndexes(t *testing.T) {
	s := openTemp(t)
	for query, want := range map[string][]string{
		findTokenQuery:   {"SEARCH tokens USING INDEX sqlite_autoindex_tokens_1 (digest=?)", "SEARCH users USING INDEX sqlite_autoindex_users_1 (id=?)"},
		latestTokenQuery: {"SEARCH tokens USING INDEX tokens_user_id_created_at (user_id=?)"},
	} {
		plan := queryPlan(t, s, query)
		for _, step := range want {
			if !strings.Contains(plan, step) {
				t.Errorf("plan of %.40q… is %q, want the step %q", query, plan, step)
			}
		}
		if strings.Contains(plan, "SCAN") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan of %.40q… is %q, want no scan and no sort", query, plan)
		}
	}
}

// Password changes of many users at once share commits (group commit), and
// each still learns how many of its own tokens it removed.
func TestConcurrentDeleteUserTokensCountTheirOwn(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const users, perUser = 40, 3
	ids := make([]string, users)
	for i := range ids {
		u := porttest.NewUser(fmt.Sprintf("session%d", i))
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids[i] = u.ID
		for j := range perUser {
			if err := s.SaveToken(ctx, fmt.Sprintf("%062x%02x", i, j), u.ID, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	counts := make([]int, users)
	errs := make([]error, users)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			<-start
			// Each keeps its first token, the session that changed the password.
			counts[i], errs[i] = s.DeleteUserTokens(ctx, ids[i], fmt.Sprintf("%062x%02x", i, 0))
		})
	}
	close(start)
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || counts[i] != perUser-1 {
			t.Errorf("DeleteUserTokens of user %d = %d, %v; want %d, nil", i, counts[i], errs[i], perUser-1)
		}
		tok, err := s.LatestToken(ctx, ids[i])
		if err != nil || tok.Digest != fmt.Sprintf("%062x%02x", i, 0) {
			t.Errorf("user %d keeps %+v, %v; want only the token named", i, tok, err)
		}
	}
}

// A store that was closed reports the token lookups unavailable instead of
// using a closed statement.
func TestTokenCallsOnAClosedStoreAreUnavailable(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir()+"/"+FileName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	digest := strings.Repeat("ab", 32)
	if _, _, err := s.FindToken(ctx, digest); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("FindToken after Close = %v, want core.ErrUnavailable", err)
	}
	if _, err := s.LatestToken(ctx, "someone"); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("LatestToken after Close = %v, want core.ErrUnavailable", err)
	}
	if err := s.DeleteToken(ctx, digest); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("DeleteToken after Close = %v, want core.ErrUnavailable", err)
	}
	if _, err := s.DeleteUserTokens(ctx, "someone", ""); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("DeleteUserTokens after Close = %v, want core.ErrUnavailable", err)
	}
}
