package passhash

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfigIsTheDocumentedCost(t *testing.T) {
	c := DefaultConfig()
	if c.PasswordHasher != "argon2id" || c.PasswordLegacyHashers || c.Argon2idMemoryKiB != 19456 || c.Argon2idIterations != 2 ||
		c.Argon2idParallelism != 1 || c.PBKDF2Iterations != 1000000 || c.HashConcurrency != runtime.NumCPU() ||
		c.HashQueueSize != 256 || c.HashQueueWait != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

func TestConfigValidateNamesEachProblemOnOneLine(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*Config)
		want   string
	}{
		"hasher":         {func(c *Config) { c.PasswordHasher = "md5" }, `PASSWORD_HASHER must be one of argon2id, pbkdf2_sha256 (got "md5")`},
		"argon2 memory":  {func(c *Config) { c.Argon2idMemoryKiB = 1 }, "ARGON2ID_MEMORY_KIB must be at least 8 (got 1)"},
		"argon2 passes":  {func(c *Config) { c.Argon2idIterations = 0 }, "ARGON2ID_ITERATIONS must be at least 1 (got 0)"},
		"no lane":        {func(c *Config) { c.Argon2idParallelism = 0 }, "ARGON2ID_PARALLELISM must be at least 1 (got 0)"},
		"too many lanes": {func(c *Config) { c.Argon2idParallelism = 300 }, "ARGON2ID_PARALLELISM must be at most 255 (got 300)"},
		"pbkdf2":         {func(c *Config) { c.PBKDF2Iterations = 0 }, "PBKDF2_ITERATIONS must be at least 1 (got 0)"},
		"concurrency":    {func(c *Config) { c.HashConcurrency = 0 }, "HASH_CONCURRENCY must be at least 1 (got 0)"},
		"queue size":     {func(c *Config) { c.HashQueueSize = -1 }, "HASH_QUEUE_SIZE must be at least 0 (got -1)"},
		"queue wait":     {func(c *Config) { c.HashQueueWait = 0 }, "HASH_QUEUE_WAIT must be a positive duration (got 0s)"},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || lines[0] != tc.want {
				t.Fatalf("problems = %q, want exactly %q", lines, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.PasswordHasher, c.HashQueueSize = "pbkdf2_sha256", 0
	if err := c.Validate(); err != nil {
		t.Fatalf("pbkdf2_sha256 without a queue rejected: %v", err)
	}
}
