package sqlitestore

import (
	"context"
	"database/sql"
)

// maxGroup bounds how many writes share one transaction: enough to turn a
// burst into a few commits, few enough that no write waits long for others.
const maxGroup = 64

// A writeRequest is one write waiting for the writer goroutine.
type writeRequest struct {
	ctx  context.Context
	op   string
	fn   func(context.Context, *sql.Tx) error
	done chan error
}

// runWriter is the one goroutine that writes. It takes a request, and every
// other request already waiting (up to maxGroup), and runs them in one
// transaction with one commit: with SQLITE_SYNCHRONOUS=FULL each commit
// waits for the disk, so a burst of N writes costs about one fsync instead
// of N, while a lone write commits at once, as before.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	for {
		var group []*writeRequest
		select {
		case r := <-s.writes:
			group = append(group, r)
		case <-s.quit:
			return
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.writes:
				group = append(group, r)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

// stopWriter stops the writer goroutine once its current group is done;
// writes that come later fail as on a closed store.
func (s *Store) stopWriter() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.writerDone
}

// commitGroup runs each write of group in a savepoint of one transaction,
// so a write that fails (a taken username, say) is undone alone, and
// commits them together. When the shared transaction itself fails, each
// write that had succeeded in it is run again in a transaction of its own,
// so one write's trouble never becomes another's.
func (s *Store) commitGroup(group []*writeRequest) {
	if len(group) == 1 {
		r := group[0]
		r.done <- s.writeAlone(r)
		return
	}
	results := make([]error, len(group))
	pending := s.runShared(group, results)
	for _, i := range pending {
		results[i] = s.writeAlone(group[i])
	}
	for i, r := range group {
		r.done <- results[i]
	}
}

// runShared runs group in one transaction, filling results for the writes
// whose outcome it settled, and returns the indexes of those it could not
// settle (to be run alone).
func (s *Store) runShared(group []*writeRequest, results []error) (pending []int) {
	all := make([]int, len(group))
	for i := range all {
		all[i] = i
	}
	tx, err := s.writer.BeginTx(context.Background(), nil)
	if err != nil {
		return all
	}
	var ok []int
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			// Given up before its turn: nothing was written.
			results[i] = classify(r.op, err)
			continue
		}
		ctx := context.WithoutCancel(r.ctx)
		if _, err := tx.ExecContext(ctx, `SAVEPOINT grouped_write`); err != nil {
			_ = tx.Rollback()
			return unsettled(all, results)
		}
		if err := r.fn(ctx, tx); err != nil {
			results[i] = classify(r.op, err)
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO grouped_write`); rerr != nil {
				_ = tx.Rollback()
				return unsettled(all, results)
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE grouped_write`); err != nil {
			_ = tx.Rollback()
			return unsettled(all, results)
		}
		if results[i] == nil {
			ok = append(ok, i)
		}
	}
	if err := tx.Commit(); err != nil {
		return ok
	}
	s.commits.Add(1)
	return nil
}

// unsettled returns the indexes in all whose result is still unknown after
// the shared transaction was rolled back: every write that had not failed
// on its own (those that had, failed without writing anything).
func unsettled(all []int, results []error) []int {
	var out []int
	for _, i := range all {
		if results[i] == nil {
			out = append(out, i)
		}
	}
	return out
}

// writeAlone runs one write in its own transaction.
func (s *Store) writeAlone(r *writeRequest) error {
	if err := r.ctx.Err(); err != nil {
		return classify(r.op, err)
	}
	ctx := context.WithoutCancel(r.ctx)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return classify(r.op, err)
	}
	if err := r.fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return classify(r.op, err)
	}
	if err := tx.Commit(); err != nil {
		return classify(r.op+": commit", err)
	}
	s.commits.Add(1)
	return nil
}
