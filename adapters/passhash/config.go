package passhash

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Config is the password hasher's configuration: the algorithm new hashes
// use, their cost, and how many computations run or wait at once.
type Config struct {
	// PasswordHasher is the algorithm of new hashes: argon2id or pbkdf2_sha256.
	PasswordHasher string `setting:"PASSWORD_HASHER"`
	// PasswordLegacyHashers also verifies Django's md5, sha1, unsalted and
	// crypt hashes.
	PasswordLegacyHashers bool `setting:"PASSWORD_LEGACY_HASHERS"`
	// The argon2id cost of new hashes.
	Argon2idMemoryKiB   int `setting:"ARGON2ID_MEMORY_KIB"`
	Argon2idIterations  int `setting:"ARGON2ID_ITERATIONS"`
	Argon2idParallelism int `setting:"ARGON2ID_PARALLELISM"`
	// PBKDF2Iterations is the pbkdf2_sha256 cost of new hashes.
	PBKDF2Iterations int `setting:"PBKDF2_ITERATIONS"`
	// HashConcurrency bounds the hashes computed at once, and so the memory
	// they hold.
	HashConcurrency int `setting:"HASH_CONCURRENCY"`
	// HashQueueSize bounds how many hash requests may wait for a slot; more
	// are refused with 503 at once instead of holding memory.
	HashQueueSize int `setting:"HASH_QUEUE_SIZE"`
	// HashQueueWait bounds how long one request waits for a slot before 503.
	HashQueueWait time.Duration `setting:"HASH_QUEUE_WAIT"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		PasswordHasher:      argon2idName,
		Argon2idMemoryKiB:   19456,
		Argon2idIterations:  2,
		Argon2idParallelism: 1,
		PBKDF2Iterations:    1000000,
		HashConcurrency:     runtime.NumCPU(),
		HashQueueSize:       256,
		HashQueueWait:       10 * time.Second,
	}
}

// Validate returns one error per problem (joined), each a single line that
// names the setting; nil when the values are in range (New also caps the
// argon2id cost).
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	atLeast := func(name string, v, min int) {
		if v < min {
			add("%s must be at least %d (got %d)", name, min, v)
		}
	}
	if allowed := []string{argon2idName, pbkdf2Name}; !slices.Contains(allowed, c.PasswordHasher) {
		add("PASSWORD_HASHER must be one of %s (got %q)", strings.Join(allowed, ", "), c.PasswordHasher)
	}
	atLeast("ARGON2ID_MEMORY_KIB", c.Argon2idMemoryKiB, 8)
	atLeast("ARGON2ID_ITERATIONS", c.Argon2idIterations, 1)
	atLeast("ARGON2ID_PARALLELISM", c.Argon2idParallelism, 1)
	if c.Argon2idParallelism > 255 {
		add("ARGON2ID_PARALLELISM must be at most 255 (got %d)", c.Argon2idParallelism)
	}
	atLeast("PBKDF2_ITERATIONS", c.PBKDF2Iterations, 1)
	atLeast("HASH_CONCURRENCY", c.HashConcurrency, 1)
	atLeast("HASH_QUEUE_SIZE", c.HashQueueSize, 0)
	if c.HashQueueWait <= 0 {
		add("HASH_QUEUE_WAIT must be a positive duration (got %s)", c.HashQueueWait)
	}
	return errors.Join(errs...)
}
