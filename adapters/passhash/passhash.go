// Package passhash hashes and checks passwords with argon2id (PHC string
// format) and verifies Django's pbkdf2_sha256 hashes, running at most
// HASH_CONCURRENCY computations at once.
package passhash

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"strings"

	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Module provides the password hasher as ports.PasswordHasher and as
// *Hasher (for its queue metrics).
var Module = fx.Module("passhash",
	fx.Provide(fx.Annotate(New, fx.As(fx.Self()), fx.As(new(ports.PasswordHasher)))),
)

// Hasher is the ports.PasswordHasher that bounds its memory use by running
// a fixed number of hashes at once.
type Hasher struct {
	algorithm string
	argon2    argon2Params
	pbkdf2    int
	gate      *gate

	// inSlot, when set, runs while a computation holds its slot and
	// returns what to run when it lets go; tests use it to watch the bound.
	inSlot func() (leave func())
}

var _ ports.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher that produces PASSWORD_HASHER hashes at the
// configured cost and admits HASH_CONCURRENCY computations at once.
func New(s core.Settings) (*Hasher, error) {
	var errs []error
	if s.PasswordHasher != argon2idName && s.PasswordHasher != pbkdf2Name {
		errs = append(errs, fmt.Errorf("PASSWORD_HASHER must be %s or %s (got %q)", argon2idName, pbkdf2Name, s.PasswordHasher))
	}
	if s.Argon2idMemoryKiB < 0 || s.Argon2idMemoryKiB > maxArgon2MemoryKiB ||
		s.Argon2idIterations < 0 || uint64(s.Argon2idIterations) > math.MaxUint32 ||
		s.Argon2idParallelism < 0 || s.Argon2idParallelism > 255 {
		errs = append(errs, fmt.Errorf("ARGON2ID_* out of range (memory %d KiB, iterations %d, parallelism %d)",
			s.Argon2idMemoryKiB, s.Argon2idIterations, s.Argon2idParallelism))
	} else {
		p := argon2Params{memoryKiB: uint32(s.Argon2idMemoryKiB), iterations: uint32(s.Argon2idIterations), parallelism: uint8(s.Argon2idParallelism)}
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("ARGON2ID_*: %w", err))
		}
	}
	if s.PBKDF2Iterations < 1 || s.PBKDF2Iterations > maxPBKDF2Iterations {
		errs = append(errs, fmt.Errorf("PBKDF2_ITERATIONS must be between 1 and %d (got %d)", maxPBKDF2Iterations, s.PBKDF2Iterations))
	}
	if s.HashConcurrency < 1 {
		errs = append(errs, fmt.Errorf("HASH_CONCURRENCY must be at least 1 (got %d)", s.HashConcurrency))
	}
	if s.HashQueueSize < 0 {
		errs = append(errs, fmt.Errorf("HASH_QUEUE_SIZE must be at least 0 (got %d)", s.HashQueueSize))
	}
	if s.HashQueueWait <= 0 {
		errs = append(errs, fmt.Errorf("HASH_QUEUE_WAIT must be a positive duration (got %s)", s.HashQueueWait))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("passhash: %w", err)
	}
	return &Hasher{
		algorithm: s.PasswordHasher,
		argon2: argon2Params{
			memoryKiB:   uint32(s.Argon2idMemoryKiB),
			iterations:  uint32(s.Argon2idIterations),
			parallelism: uint8(s.Argon2idParallelism),
		},
		pbkdf2: s.PBKDF2Iterations,
		gate:   newGate(s.HashConcurrency, s.HashQueueSize, s.HashQueueWait),
	}, nil
}

// Hash returns a fresh salted hash of password in the PASSWORD_HASHER
// format. Errors: core.ErrOverloaded when no slot frees up in time, ctx.Err().
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	var encoded string
	var err error
	if slotErr := h.inSlotRun(ctx, func() { encoded, err = h.hashNow(password) }); slotErr != nil {
		return "", fmt.Errorf("passhash: hash: %w", slotErr)
	}
	if err != nil {
		return "", fmt.Errorf("passhash: hash: %w", err)
	}
	return encoded, nil
}

// Check reports whether password matches encoded (argon2id or Django
// pbkdf2_sha256) and, when it does, whether encoded should be replaced
// because it uses another algorithm than PASSWORD_HASHER or a weaker cost.
// An unparseable hash is a mismatch, answered without taking a slot.
func (h *Hasher) Check(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	var derive func() ([]byte, error)
	var want []byte
	var weaker bool
	var algorithm string
	switch {
	case strings.HasPrefix(encoded, argon2idPrefix):
		a, parsed := parseArgon2id(encoded)
		if !parsed {
			return false, false, nil
		}
		derive = func() ([]byte, error) { return a.derive(password), nil }
		want, weaker, algorithm = a.key, a.weakerThan(h.argon2), argon2idName
	case strings.HasPrefix(encoded, pbkdf2Prefix):
		p, parsed := parsePBKDF2(encoded)
		if !parsed {
			return false, false, nil
		}
		derive = func() ([]byte, error) { return p.derive(password) }
		want, weaker, algorithm = p.key, p.weakerThan(h.pbkdf2), pbkdf2Name
	default:
		return false, false, nil
	}

	var got []byte
	if slotErr := h.inSlotRun(ctx, func() { got, err = derive() }); slotErr != nil {
		return false, false, fmt.Errorf("passhash: check: %w", slotErr)
	}
	if err != nil {
		return false, false, fmt.Errorf("passhash: check: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, algorithm != h.algorithm || weaker, nil
}

// QueueStats reports how many hashes are being computed and how many
// callers wait for a slot, for metrics.
func (h *Hasher) QueueStats() (running, waiting int) {
	return h.gate.stats()
}

// inSlotRun runs fn while holding a hashing slot.
func (h *Hasher) inSlotRun(ctx context.Context, fn func()) error {
	release, err := h.gate.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	if h.inSlot != nil {
		leave := h.inSlot()
		defer leave()
	}
	fn()
	return nil
}

// hashNow computes a new hash with the configured algorithm, outside the
// slot accounting (callers hold a slot, or measure raw throughput).
func (h *Hasher) hashNow(password string) (string, error) {
	if h.algorithm == pbkdf2Name {
		return hashPBKDF2(password, h.pbkdf2)
	}
	return hashArgon2id(password, h.argon2), nil
}
