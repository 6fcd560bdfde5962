package usecase

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// ImportConfig is the part of the settings an import follows: the keys of
// imported users are derived exactly as register/ derives them.
type ImportConfig struct {
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE.
	UsernameCaseInsensitive bool
	// EmailUnique is USER_EMAIL_UNIQUE.
	EmailUnique bool
}

// NewImportConfig returns the ImportConfig of settings s.
func NewImportConfig(s core.Settings) ImportConfig {
	return ImportConfig{UsernameCaseInsensitive: s.UsernameCaseInsensitive, EmailUnique: s.UserEmailUnique}
}

// Defaults of ImportOptions.
const (
	// DefaultImportBatch is how many users are read, written and
	// checkpointed together.
	DefaultImportBatch = 500
	// DefaultImportWorkers is how many users of a batch are written at
	// once: the stores commit concurrent writes together.
	DefaultImportWorkers = 16
)

// ImportOptions say what one run of an import does.
type ImportOptions struct {
	// After skips the users whose id is not greater (a resumed run starts
	// after the last checkpoint).
	After int64
	// DryRun reads and checks everything and writes nothing to the store.
	DryRun bool
	// OnlyNew leaves the users the store already has as they are (their
	// fields and tokens) and imports only the others: the re-run that
	// brings over the users another system created since, without undoing
	// what changed here (an activation, a new password).
	OnlyNew bool
	// BatchSize is how many users are read and checkpointed together
	// (0: DefaultImportBatch).
	BatchSize int
	// Workers is how many users of a batch are written at once
	// (0: DefaultImportWorkers).
	Workers int
	// Progress, when set, is told after each batch how many users were
	// handled so far and how many the run has in all.
	Progress func(done, total int64)
	// Checkpoint, when set, is called after each batch with the greatest
	// id of that batch, once every user up to it is written (or listed as a
	// conflict); never in a dry run. An error stops the import.
	Checkpoint func(lastID int64) error
	// Conflict, when set, is called for each user that is not imported. An
	// error stops the import.
	Conflict func(ImportConflict) error
}

// The reasons an ImportConflict gives.
const (
	// ConflictUsername: another user has the same username key (e.g. the
	// names differ only in case and USERNAME_CASE_INSENSITIVE is on), or the
	// username is an address another user already has.
	ConflictUsername = "username taken"
	// ConflictEmail: another user has the same address (e.g. differing only
	// in case) and USER_EMAIL_UNIQUE is on.
	ConflictEmail = "email taken"
	// ConflictInvalid: the source row cannot be an account (no username, an
	// id that is not positive).
	ConflictInvalid = "invalid"
)

// ImportConflict is a user an import could not write, and why.
type ImportConflict struct {
	// ID, Username and Email are the source user's.
	ID       int64
	Username string
	Email    string
	// Reason is one of the Conflict… constants.
	Reason string
	// With is the id of the user that holds the contested key ("" when it
	// is not known).
	With string
}

// ImportReport counts what an import did.
type ImportReport struct {
	// Read is how many source users the run handled.
	Read int64
	// Created and Updated count the users written (in a dry run: that
	// would have been written).
	Created, Updated int64
	// Kept counts the users left as the store has them (OnlyNew).
	Kept int64
	// Conflicts counts the users not imported.
	Conflicts int64
	// Tokens counts the token keys carried by the imported users.
	Tokens int64
	// LastID is the greatest id handled (After when there was none).
	LastID int64
}

// ImportUsers takes the accounts of another system over into the store:
// each source user keeps its id (as a decimal string), its password hash
// as it is (so it logs in with its old password and is re-hashed then) and
// its tokens (stored as digests, so clients stay logged in). Re-running
// updates the users written before and never duplicates them.
type ImportUsers struct {
	cfg    ImportConfig
	source ports.ImportSource
	store  ports.Importer
	users  ports.UserStore
	log    *slog.Logger
}

// NewImportUsers returns the import from source into store; users (the same
// store) answers the lookups that explain conflicts and plan dry runs.
func NewImportUsers(cfg ImportConfig, source ports.ImportSource, store ports.Importer, users ports.UserStore, log *slog.Logger) *ImportUsers {
	if log == nil {
		log = slog.Default()
	}
	return &ImportUsers{cfg: cfg, source: source, store: store, users: users, log: log}
}

// Run imports every source user with an id greater than opts.After, batch
// by batch in id order. Users that cannot be imported without breaking a
// uniqueness rule are reported through opts.Conflict and skipped; the one
// with the lower id keeps the contested key. Errors: the source's or the
// store's failures (core.ErrUnavailable), ctx.Err(), and those of the
// callbacks; the report then counts what was done before.
func (im *ImportUsers) Run(ctx context.Context, opts ImportOptions) (ImportReport, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultImportBatch
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultImportWorkers
	}
	rep := ImportReport{LastID: opts.After}
	total, err := im.source.CountUsers(ctx, opts.After)
	if err != nil {
		return rep, fmt.Errorf("import: count source users: %w", err)
	}
	var plan *dryRunPlan
	if opts.DryRun {
		plan = &dryRunPlan{owners: map[string]string{}}
	}
	for {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
		batch, err := im.source.ReadUsers(ctx, rep.LastID, opts.BatchSize)
		if err != nil {
			return rep, fmt.Errorf("import: read source users after id %d: %w", rep.LastID, err)
		}
		if len(batch) == 0 {
			break
		}
		results := make([]importResult, len(batch))
		if opts.OnlyNew {
			if err := im.markKept(ctx, batch, results); err != nil {
				return rep, err
			}
		}
		if plan != nil {
			err = im.planBatch(ctx, plan, batch, results)
		} else {
			err = im.writeBatch(ctx, batch, results, opts.Workers)
		}
		if err != nil {
			return rep, err
		}
		for i, r := range results {
			rep.Read++
			switch {
			case r.conflict != nil:
				rep.Conflicts++
				if opts.Conflict != nil {
					if err := opts.Conflict(*r.conflict); err != nil {
						return rep, fmt.Errorf("import: report conflict: %w", err)
					}
				}
			case r.kept:
				rep.Kept++
			case r.created:
				rep.Created++
				rep.Tokens += int64(len(batch[i].Tokens))
			default:
				rep.Updated++
				rep.Tokens += int64(len(batch[i].Tokens))
			}
		}
		rep.LastID = batch[len(batch)-1].ID
		if opts.Checkpoint != nil && plan == nil {
			if err := opts.Checkpoint(rep.LastID); err != nil {
				return rep, fmt.Errorf("import: checkpoint: %w", err)
			}
		}
		if opts.Progress != nil {
			opts.Progress(rep.Read, max(total, rep.Read))
		}
	}
	return rep, nil
}

// importResult is what became of one source user.
type importResult struct {
	created  bool
	kept     bool
	conflict *ImportConflict
}

// markKept marks the users of batch the store already has.
func (im *ImportUsers) markKept(ctx context.Context, batch []core.SourceUser, results []importResult) error {
	for i, su := range batch {
		_, err := im.users.FindUser(ctx, core.ByID, strconv.FormatInt(su.ID, 10))
		switch {
		case err == nil:
			results[i].kept = true
		case !errors.Is(err, core.ErrNotFound):
			return fmt.Errorf("import: look up user %d: %w", su.ID, err)
		}
	}
	return nil
}

// imported is a source user as the store keeps it.
type imported struct {
	user   core.User
	tokens []core.Token
}

// convert derives the user the store keeps from a source user, its keys
// exactly as register/ derives them. It returns a conflict for a row that
// cannot be an account.
func (im *ImportUsers) convert(su core.SourceUser) (imported, *ImportConflict) {
	if su.ID <= 0 || su.Username == "" {
		return imported{}, &ImportConflict{ID: su.ID, Username: su.Username, Email: su.Email, Reason: ConflictInvalid}
	}
	id := strconv.FormatInt(su.ID, 10)
	email := core.NormalizeEmail(su.Email)
	hash := su.PasswordHash
	if hash == "" {
		// Django treats an empty password as unusable too.
		hash = core.UnusablePassword
	}
	u := core.User{
		ID:               id,
		Username:         core.NormalizeUsername(su.Username),
		UsernameKey:      core.UsernameKey(su.Username, im.cfg.UsernameCaseInsensitive),
		UsernameEmailKey: core.UsernameEmailKey(su.Username),
		Email:            email,
		EmailKey:         core.EmailKey(email),
		FirstName:        su.FirstName,
		LastName:         su.LastName,
		PasswordHash:     hash,
		IsActive:         su.IsActive,
		CreatedAt:        su.DateJoined.UTC(),
	}
	if !su.LastLogin.IsZero() {
		u.LastLogin = su.LastLogin.UTC()
	}
	if im.cfg.EmailUnique {
		u.UniqueEmailKey = u.EmailKey
	}
	tokens := make([]core.Token, 0, len(su.Tokens))
	for _, t := range su.Tokens {
		tokens = append(tokens, core.Token{Digest: TokenDigest(t.Key), UserID: id, CreatedAt: t.Created.UTC()})
	}
	return imported{user: u, tokens: tokens}, nil
}

// namespaceKeys are the keys of u that must be unique across users: the
// username key, and the e-mail keys that share one namespace.
func namespaceKeys(u core.User) []string {
	keys := []string{"u:" + u.UsernameKey}
	if u.UsernameEmailKey != "" {
		keys = append(keys, "e:"+u.UsernameEmailKey)
	}
	if u.UniqueEmailKey != "" && u.UniqueEmailKey != u.UsernameEmailKey {
		keys = append(keys, "e:"+u.UniqueEmailKey)
	}
	return keys
}

// writeBatch writes a batch with up to workers writes at once. Users that
// share a key with an earlier user of the batch are written afterwards, one
// by one in id order, so the lower id always keeps a contested key.
func (im *ImportUsers) writeBatch(ctx context.Context, batch []core.SourceUser, results []importResult, workers int) error {
	seen := map[string]bool{}
	var parallel, later []int
	users := make([]imported, len(batch))
	for i, su := range batch {
		if results[i].kept {
			continue
		}
		u, bad := im.convert(su)
		if bad != nil {
			results[i].conflict = bad
			continue
		}
		users[i] = u
		clash := false
		for _, k := range namespaceKeys(u.user) {
			clash = clash || seen[k]
			seen[k] = true
		}
		if clash {
			later = append(later, i)
		} else {
			parallel = append(parallel, i)
		}
	}

	work := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range min(workers, max(len(parallel), 1)) {
		wg.Go(func() {
			for i := range work {
				if err := im.write(ctx, batch[i], users[i], &results[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var failed error
feed:
	for _, i := range parallel {
		select {
		case work <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if failed != nil {
		return failed
	}
	if err := <-errs; err != nil {
		return err
	}
	for _, i := range later {
		if err := im.write(ctx, batch[i], users[i], &results[i]); err != nil {
			return err
		}
	}
	return nil
}

// write imports one user, turning a uniqueness refusal into a conflict.
func (im *ImportUsers) write(ctx context.Context, su core.SourceUser, u imported, r *importResult) error {
	created, err := im.store.ImportUser(ctx, u.user, u.tokens...)
	switch {
	case err == nil:
		r.created = created
		return nil
	case errors.Is(err, core.ErrUsernameTaken):
		r.conflict = im.explain(ctx, su, ConflictUsername, u.user)
		return nil
	case errors.Is(err, core.ErrEmailTaken):
		r.conflict = im.explain(ctx, su, ConflictEmail, u.user)
		return nil
	default:
		return fmt.Errorf("import: write user %d: %w", su.ID, err)
	}
}

// explain returns the conflict of a refused user, naming the user that
// holds the contested key when a lookup finds it.
func (im *ImportUsers) explain(ctx context.Context, su core.SourceUser, reason string, u core.User) *ImportConflict {
	c := &ImportConflict{ID: su.ID, Username: su.Username, Email: su.Email, Reason: reason}
	var lookups []keyLookup
	if reason == ConflictUsername {
		lookups = []keyLookup{{core.ByUsernameKey, u.UsernameKey}, {core.ByUsernameEmailKey, u.UsernameEmailKey}, {core.ByEmailKey, u.UsernameEmailKey}}
	} else {
		lookups = []keyLookup{{core.ByEmailKey, u.UniqueEmailKey}, {core.ByUsernameEmailKey, u.UniqueEmailKey}}
	}
	for _, l := range lookups {
		if l.key == "" {
			continue
		}
		other, err := im.users.FindUser(ctx, l.field, l.key)
		if err == nil && other.ID != u.ID {
			c.With = other.ID
			break
		}
	}
	return c
}

// keyLookup is one store lookup by a normalised key.
type keyLookup struct {
	field core.LookupField
	key   string
}

// dryRunPlan remembers, across the batches of a dry run, which user would
// own each key, since nothing is written for the store to tell.
type dryRunPlan struct {
	owners map[string]string
}

// planBatch decides what writing the batch would do without writing: a
// user is updated when its id is stored, created otherwise, and a conflict
// when a key is held by another stored user or by an earlier user of the
// run.
func (im *ImportUsers) planBatch(ctx context.Context, plan *dryRunPlan, batch []core.SourceUser, results []importResult) error {
	for i, su := range batch {
		if results[i].kept {
			continue
		}
		u, bad := im.convert(su)
		if bad != nil {
			results[i].conflict = bad
			continue
		}
		_, err := im.users.FindUser(ctx, core.ByID, u.user.ID)
		switch {
		case errors.Is(err, core.ErrNotFound):
			results[i].created = true
		case err != nil:
			return fmt.Errorf("import: look up user %d: %w", su.ID, err)
		}
		reason, with, err := im.planKeys(ctx, plan, u.user)
		if err != nil {
			return err
		}
		if reason != "" {
			results[i] = importResult{conflict: &ImportConflict{ID: su.ID, Username: su.Username, Email: su.Email, Reason: reason, With: with}}
			continue
		}
		for _, k := range namespaceKeys(u.user) {
			plan.owners[k] = u.user.ID
		}
	}
	return nil
}

// planKeys returns why u could not be written ("" when it could) and who
// holds the key it would need.
func (im *ImportUsers) planKeys(ctx context.Context, plan *dryRunPlan, u core.User) (reason, with string, err error) {
	for _, k := range namespaceKeys(u) {
		if owner, ok := plan.owners[k]; ok && owner != u.ID {
			if k[0] == 'u' || (k[2:] == u.UsernameEmailKey && k[2:] != u.UniqueEmailKey) {
				return ConflictUsername, owner, nil
			}
			return ConflictEmail, owner, nil
		}
	}
	type check struct {
		reason string
		field  core.LookupField
		key    string
	}
	checks := []check{{ConflictUsername, core.ByUsernameKey, u.UsernameKey}}
	if u.UsernameEmailKey != "" {
		checks = append(checks, check{ConflictUsername, core.ByUsernameEmailKey, u.UsernameEmailKey})
		if im.cfg.EmailUnique {
			checks = append(checks, check{ConflictUsername, core.ByEmailKey, u.UsernameEmailKey})
		}
	}
	if u.UniqueEmailKey != "" {
		checks = append(checks, check{ConflictEmail, core.ByEmailKey, u.UniqueEmailKey}, check{ConflictEmail, core.ByUsernameEmailKey, u.UniqueEmailKey})
	}
	for _, c := range checks {
		other, err := im.users.FindUser(ctx, c.field, c.key)
		switch {
		case errors.Is(err, core.ErrNotFound):
		case errors.Is(err, core.ErrAmbiguous):
			return c.reason, "", nil
		case err != nil:
			return "", "", fmt.Errorf("import: look up %s: %w", c.field, err)
		case other.ID != u.ID:
			return c.reason, other.ID, nil
		}
	}
	return "", "", nil
}
