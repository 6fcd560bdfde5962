package pgstore

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// FindToken runs on every authenticated request and LatestToken on logins:
// each must look its rows up by index, never scan a table or sort.
func TestTokenLookupsUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, _ := openFresh(t)
	for query, c := range map[string]struct {
		indexes []string
		arg     string
	}{
		findTokenSQL:   {[]string{"tokens_pkey", "users_pkey"}, "digest"},
		latestTokenSQL: {[]string{"tokens_user_id_created_at"}, "user"},
	} {
		var plan []string
		// An empty table is cheapest to scan whole; forbid that to see
		// which indexes the query can use.
		if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `EXPLAIN `+query, c.arg)
			if err != nil {
				return err
			}
			var line string
			_, err = pgx.ForEachRow(rows, []any{&line}, func() error {
				plan = append(plan, strings.TrimSpace(line))
				return nil
			})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "; ")
		for _, index := range c.indexes {
			if !strings.Contains(text, " using "+index+" ") {
				t.Errorf("plan of %.40q… is %q, want a scan of index %s", query, text, index)
			}
		}
		if strings.Contains(text, "Seq Scan") || strings.Contains(text, "Sort") {
			t.Errorf("plan of %.40q… is %q, want no table scan and no sort", query, text)
		}
	}
}
