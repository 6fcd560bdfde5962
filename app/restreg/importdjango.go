package restreg

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/djangodb"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// importFlags are import-django's flags.
type importFlags struct {
	from       string
	dryRun     bool
	onlyNew    bool
	resume     bool
	conflicts  string
	checkpoint string
	batch      int
	workers    int
	// progress: "auto" (a bar when stderr is a terminal), "always", "never".
	progress string
}

const importUsage = `usage: restreg import-django --from URL [flags]

Copies the users of a Django project (auth_user, and the Django REST
framework tokens of authtoken_token when the table exists) into the store
the settings name (STORE, DATA_DIR, DATABASE_URL, …, as for serve). Each
user keeps its Django id, its password hash (it logs in with its old
password and is re-hashed then) and its token keys (kept as digests, so
clients stay logged in). Re-running updates the users imported before and
never duplicates them. Users that would break a uniqueness rule (e.g. two
addresses differing only in case with USER_EMAIL_UNIQUE) are listed in the
conflicts file, not imported; the lower id keeps the contested key.

  --from URL         postgres://user:pass@host:5432/db, mysql://user:pass@host:3306/db
                     or sqlite:///path/to/db.sqlite3 (read only)
  --dry-run          read and check everything, write nothing to the store
                     (the conflicts file still lists what would conflict)
  --only-new         import only the users the store does not have yet; leave the
                     others as they are here (re-runs while Django still takes sign-ups)
  --resume           continue after the id of the last checkpoint
  --conflicts FILE   CSV of the users not imported (default DATA_DIR/import-django-conflicts.csv)
  --checkpoint FILE  last id written in full (default DATA_DIR/import-django.checkpoint)
  --batch N          users read and checkpointed together (default 500)
  --workers N        users written at once (default 16)
  --progress MODE    auto (a bar on a terminal), always or never
  --config FILE      YAML settings file
`

func importDjangoCmd(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-django", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, importUsage) }
	var f importFlags
	config := fs.String("config", "", "YAML settings file")
	fs.StringVar(&f.from, "from", "", "Django database URL")
	fs.BoolVar(&f.dryRun, "dry-run", false, "write nothing to the store")
	fs.BoolVar(&f.onlyNew, "only-new", false, "import only users the store does not have")
	fs.BoolVar(&f.resume, "resume", false, "continue after the last checkpoint")
	fs.StringVar(&f.conflicts, "conflicts", "", "conflicts file")
	fs.StringVar(&f.checkpoint, "checkpoint", "", "checkpoint file")
	fs.IntVar(&f.batch, "batch", usecase.DefaultImportBatch, "batch size")
	fs.IntVar(&f.workers, "workers", usecase.DefaultImportWorkers, "concurrent writes")
	fs.StringVar(&f.progress, "progress", "auto", "auto, always or never")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var problems []string
	if f.from == "" {
		problems = append(problems, "--from is required (postgres://…, mysql://… or sqlite:///path)")
	}
	if f.batch < 1 || f.workers < 1 {
		problems = append(problems, "--batch and --workers must be at least 1")
	}
	if f.progress != "auto" && f.progress != "always" && f.progress != "never" {
		problems = append(problems, "--progress must be auto, always or never")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "restreg: import-django: "+p)
		}
		return 2
	}
	s, err := LoadSettings(DefaultConfig(), *config, getenv)
	if err == nil {
		err = s.validateForImport()
	}
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	if f.conflicts == "" {
		f.conflicts = filepath.Join(s.DataDir, "import-django-conflicts.csv")
	}
	if f.checkpoint == "" {
		f.checkpoint = filepath.Join(s.DataDir, "import-django.checkpoint")
	}
	log := NewLogger(s.Operations, stderr)

	src, err := djangodb.Open(ctx, f.from)
	if err != nil {
		fmt.Fprintln(stderr, "restreg: import-django:", err)
		return 1
	}
	defer src.Close()
	store, closeStore, err := openStore(ctx, s)
	if err != nil {
		fmt.Fprintln(stderr, "restreg: import-django: open the store:", err)
		return 1
	}
	defer func() {
		if err := closeStore(); err != nil {
			fmt.Fprintln(stderr, "restreg: import-django: close the store:", err)
		}
	}()
	if !src.HasTokens() {
		fmt.Fprintln(stderr, "restreg: import-django: no authtoken_token table: users are imported without tokens")
	}
	if _, err := runImport(ctx, s, src, store, f, stdout, stderr, log); err != nil {
		fmt.Fprintln(stderr, "restreg: import-django:", err)
		return 1
	}
	return 0
}

// validateForImport checks the settings an import depends on: the store's
// and the key rules'. The API's own (SECRET_KEY, the verification URL) are
// not needed to import.
func (c Config) validateForImport() error {
	var errs []error
	switch c.Store {
	case "sqlite":
		errs = append(errs, c.sqlite().Validate())
	case "mongodb":
		errs = append(errs, c.MongoDB.Validate())
	case "postgres":
		errs = append(errs, c.Postgres.Validate())
	case "memory":
		errs = append(errs, errors.New("STORE=memory keeps nothing after the import: use sqlite, postgres or mongodb"))
	default:
		errs = append(errs, fmt.Errorf("STORE must be one of sqlite, mongodb, postgres (got %q)", c.Store))
	}
	return errors.Join(errs...)
}

// openStore starts the store STORE names through its module, as serve
// does, and returns it with the function that closes it.
func openStore(ctx context.Context, s Config) (ports.Store, func() error, error) {
	mod, err := StoreModule(s)
	if err != nil {
		return nil, nil, err
	}
	var store ports.Store
	app := fx.New(fx.NopLogger,
		fx.Supply(s.sqlite(), s.Postgres, s.MongoDB),
		mod,
		fx.Populate(&store),
	)
	if err := app.Err(); err != nil {
		return nil, nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return nil, nil, err
	}
	return store, func() error {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return app.Stop(stopCtx)
	}, nil
}

// runImport imports from src into store as f says, keeping the checkpoint
// and conflicts files, drawing progress on stderr and printing the summary
// on stdout.
func runImport(ctx context.Context, s Config, src ports.ImportSource, store ports.Store, f importFlags,
	stdout, stderr io.Writer, log *slog.Logger,
) (usecase.ImportReport, error) {
	var after int64
	if f.resume {
		var err error
		if after, err = readCheckpoint(f.checkpoint); err != nil {
			return usecase.ImportReport{}, err
		}
		if after > 0 {
			fmt.Fprintf(stderr, "restreg: import-django: resuming after id %d (%s)\n", after, f.checkpoint)
		}
	}
	conflicts, err := openConflicts(f.conflicts, f.resume)
	if err != nil {
		return usecase.ImportReport{}, err
	}
	bar := newProgressBar(stderr, f.progress)
	opts := usecase.ImportOptions{
		After:     after,
		DryRun:    f.dryRun,
		OnlyNew:   f.onlyNew,
		BatchSize: f.batch,
		Workers:   f.workers,
		Progress:  bar.set,
		Conflict:  conflicts.add,
		Checkpoint: func(id int64) error {
			if err := conflicts.flush(); err != nil {
				return err
			}
			return writeCheckpoint(f.checkpoint, id)
		},
	}
	im := usecase.NewImportUsers(usecase.NewImportConfig(s.Settings), src, store, store, log)
	start := time.Now()
	bar.start()
	rep, runErr := im.Run(ctx, opts)
	bar.stop()
	elapsed := time.Since(start)
	if err := conflicts.close(); err != nil && runErr == nil {
		runErr = err
	}
	fmt.Fprintln(stdout, summary(rep, elapsed, f, after))
	if runErr != nil {
		if !f.dryRun && rep.LastID > after {
			return rep, fmt.Errorf("%w (users up to id %d are written; --resume continues after it)", runErr, rep.LastID)
		}
		return rep, runErr
	}
	return rep, nil
}

// summary is the line an import ends with.
func summary(rep usecase.ImportReport, elapsed time.Duration, f importFlags, after int64) string {
	var b strings.Builder
	b.WriteString("import-django: ")
	if f.dryRun {
		b.WriteString("dry run, nothing written: ")
	}
	rate := 0.0
	if secs := elapsed.Seconds(); secs > 0 {
		rate = float64(rep.Read) / secs
	}
	fmt.Fprintf(&b, "%d users in %.1fs (%.0f users/s): %d created, %d updated, %d conflicts", rep.Read, elapsed.Seconds(), rate,
		rep.Created, rep.Updated, rep.Conflicts)
	if rep.Conflicts > 0 {
		fmt.Fprintf(&b, " (listed in %s)", f.conflicts)
	}
	if f.onlyNew {
		fmt.Fprintf(&b, ", %d kept as they are", rep.Kept)
	}
	fmt.Fprintf(&b, ", %d tokens", rep.Tokens)
	if rep.LastID > after {
		fmt.Fprintf(&b, "; last id %d", rep.LastID)
	}
	return b.String()
}

// readCheckpoint returns the id the checkpoint file holds, 0 when there is
// none yet.
func readCheckpoint(path string) (int64, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("checkpoint %s does not hold an id; remove it to start over", path)
	}
	return id, nil
}

// writeCheckpoint replaces the checkpoint file with id in one rename, so a
// crash leaves the old or the new id, never a torn one.
func writeCheckpoint(path string, id int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("checkpoint directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatInt(id, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// conflictsFile is the CSV the users not imported are listed in.
type conflictsFile struct {
	mu   sync.Mutex
	file *os.File
	w    *csv.Writer
}

// conflictsHeader names the columns of the conflicts file.
var conflictsHeader = []string{"id", "username", "email", "reason", "conflicts_with"}

// openConflicts starts the conflicts file afresh, or appends to it when an
// import resumes. It holds e-mail addresses: only its owner may read it.
func openConflicts(path string, appendTo bool) (*conflictsFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("conflicts file directory: %w", err)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	file, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("conflicts file: %w", err)
	}
	c := &conflictsFile{file: file, w: csv.NewWriter(file)}
	if st, err := file.Stat(); err == nil && st.Size() == 0 {
		if err := c.w.Write(conflictsHeader); err != nil {
			_ = file.Close()
			return nil, fmt.Errorf("conflicts file: %w", err)
		}
	}
	return c, nil
}

func (c *conflictsFile) add(x usecase.ImportConflict) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.Write([]string{strconv.FormatInt(x.ID, 10), x.Username, x.Email, x.Reason, x.With})
}

// flush writes what was added to the file before a checkpoint names it done.
func (c *conflictsFile) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("conflicts file: %w", err)
	}
	return nil
}

func (c *conflictsFile) close() error {
	err := c.flush()
	if cerr := c.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("conflicts file: %w", cerr)
	}
	return err
}

// progressBar draws the import's progress on a terminal: a bar, the count,
// the rate in users/s and the time left.
type progressBar struct {
	w           io.Writer
	on          bool
	done, total atomic.Int64
	began       time.Time
	quit        chan struct{}
	finished    chan struct{}
}

// newProgressBar draws on w when mode is "always", or "auto" and w is a
// terminal.
func newProgressBar(w io.Writer, mode string) *progressBar {
	on := mode == "always" || (mode == "auto" && isTerminal(w))
	return &progressBar{w: w, on: on}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progressBar) set(done, total int64) {
	p.done.Store(done)
	p.total.Store(total)
}

func (p *progressBar) start() {
	p.began = time.Now()
	if !p.on {
		return
	}
	p.quit, p.finished = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprint(p.w, "\r"+renderProgress(p.done.Load(), p.total.Load(), time.Since(p.began)))
			case <-p.quit:
				return
			}
		}
	}()
}

func (p *progressBar) stop() {
	if !p.on {
		return
	}
	close(p.quit)
	<-p.finished
	fmt.Fprint(p.w, "\r"+renderProgress(p.done.Load(), p.total.Load(), time.Since(p.began))+"\n")
}

// renderProgress returns one line of progress: a 30-column bar, done of
// total, the rate so far and the time left at that rate.
func renderProgress(done, total int64, elapsed time.Duration) string {
	const width = 30
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	rate := 0.0
	if secs := elapsed.Seconds(); secs > 0 {
		rate = float64(done) / secs
	}
	eta := "--"
	if rate > 0 {
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	return fmt.Sprintf("[%s] %d/%d %3.0f%% %.0f users/s ETA %s ", bar, done, total, frac*100, rate, eta)
}
