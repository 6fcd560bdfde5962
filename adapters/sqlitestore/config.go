package sqlitestore

import (
	"errors"
	"fmt"
	"strings"
)

// Config is what Module needs: where the database lives and how durable a
// commit is. Each tagged field is the documented setting of that name.
type Config struct {
	// DataDir is the directory of restreg.db (DATA_DIR, which the command
	// shares with other parts, so it carries no tag here).
	DataDir string
	// Synchronous is SQLite's synchronous pragma: FULL makes every commit
	// durable before it is answered; NORMAL may lose the last commits to a
	// power cut.
	Synchronous string `setting:"SQLITE_SYNCHRONOUS"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{DataDir: "./data", Synchronous: "FULL"}
}

// Validate returns one error line per problem, naming the setting.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("DATA_DIR is required when STORE is sqlite"))
	}
	if v := strings.ToUpper(c.Synchronous); v != "FULL" && v != "NORMAL" {
		errs = append(errs, fmt.Errorf("SQLITE_SYNCHRONOUS must be FULL or NORMAL (got %q)", c.Synchronous))
	}
	return errors.Join(errs...)
}
