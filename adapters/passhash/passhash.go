// Package passhash hashes and checks passwords with argon2id (PHC string
// format) and verifies the hashes of every Django 3.2 password hasher,
// running at most HASH_CONCURRENCY computations at once.
package passhash

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"go.uber.org/fx"

	"github.com/restreg/restreg/ports"
)

// Module provides the password hasher, built from the Config the app
// supplies, as ports.PasswordHasher and as *Hasher (for its queue metrics).
var Module = fx.Module("passhash",
	fx.Provide(fx.Annotate(New, fx.As(fx.Self()), fx.As(new(ports.PasswordHasher)))),
)

// Hasher is the ports.PasswordHasher that bounds its memory use by running
// a fixed number of hashes at once.
type Hasher struct {
	algorithm string
	argon2    argon2Params
	pbkdf2    int
	legacy    bool
	gate      *gate

	// inSlot, when set, runs while a computation holds its slot and
	// returns what to run when it lets go; tests use it to watch the bound.
	inSlot func() (leave func())
}

var _ ports.PasswordHasher = (*Hasher)(nil)

// New returns a Hasher that produces PASSWORD_HASHER hashes at the
// configured cost and admits HASH_CONCURRENCY computations at once.
func New(s Config) (*Hasher, error) {
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
		legacy: s.PasswordLegacyHashers,
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

// Check reports whether password matches encoded and, when it does,
// whether encoded should be replaced because it uses another algorithm
// than PASSWORD_HASHER or a weaker cost. encoded may be restreg's argon2id
// PHC string or any Django 3.2 hash (the legacy ones only with
// PASSWORD_LEGACY_HASHERS); anything else — Django's unusable `!…`
// marker, a malformed or unknown hash — is a mismatch, never an error.
//
// Every answer costs at least the work of checking a hash Hash made now:
// unusable, malformed and disabled hashes, and the legacy digests that
// cost next to nothing, are padded with that work. The login use case
// checks a hash made by Hash for unknown logins, so the time of a failed
// login tells neither whether the account exists nor whether its password
// is usable.
// Errors: core.ErrOverloaded when no slot frees up in time, ctx.Err().
func (h *Hasher) Check(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	s, known := h.identify(encoded)
	if slotErr := h.inSlotRun(ctx, func() {
		if !known || s.cheap {
			h.padding(password)
		}
		if known {
			ok, err = s.matches(password)
		}
	}); slotErr != nil {
		return false, false, fmt.Errorf("passhash: check: %w", slotErr)
	}
	if err != nil {
		return false, false, fmt.Errorf("passhash: check: %w", err)
	}
	if !ok {
		return false, false, nil
	}
	return true, s.algorithm != h.algorithm || s.weaker, nil
}

// stored is a hash Check knows how to verify.
type stored struct {
	// algorithm is Django's name for the hasher ("argon2id" for restreg's
	// own PHC strings), compared with PASSWORD_HASHER.
	algorithm string
	// weaker is set when the hash is in the configured format but below
	// the configured cost.
	weaker bool
	// cheap marks the legacy digests, which need padding to cost what a
	// configured hash costs.
	cheap bool
	// matches recomputes the hash from password and compares in constant
	// time.
	matches func(password string) (bool, error)
}

// identify parses encoded into what Check needs; known is false for an
// unusable, malformed or unknown hash and for legacy hashes while
// PASSWORD_LEGACY_HASHERS is off. Parsing checks every cost against its
// cap, so no stored hash can pin a slot or allocate without bound.
func (h *Hasher) identify(encoded string) (s stored, known bool) {
	infallible := func(matches func(string) bool) func(string) (bool, error) {
		return func(password string) (bool, error) { return matches(password), nil }
	}
	switch {
	case strings.HasPrefix(encoded, "!"):
		// Django's unusable password (set_unusable_password), even in front
		// of a real hash.
		return s, false
	case strings.HasPrefix(encoded, argon2idPrefix):
		a, ok := parseArgon2id(encoded)
		return stored{algorithm: argon2idName, weaker: a.weakerThan(h.argon2), matches: infallible(a.matches)}, ok
	case strings.HasPrefix(encoded, djangoArgon2Prefix):
		// Django's Argon2PasswordHasher: "argon2" in front of a PHC string.
		a, ok := parseArgon2PHC(strings.TrimPrefix(encoded, djangoArgon2Name))
		return stored{algorithm: djangoArgon2Name, matches: infallible(a.matches)}, ok
	case strings.HasPrefix(encoded, "pbkdf2_"):
		p, ok := parsePBKDF2(encoded)
		return stored{algorithm: p.variant.name, weaker: p.weakerThan(h.pbkdf2), matches: p.matches}, ok
	case strings.HasPrefix(encoded, "bcrypt"):
		b, ok := parseBcrypt(encoded)
		return stored{algorithm: b.algorithm, matches: infallible(b.matches)}, ok
	}
	if !h.legacy {
		return s, false
	}
	l, ok := parseLegacy(encoded)
	return stored{algorithm: l.algorithm, cheap: true, matches: infallible(l.matches)}, ok
}

// padding spends the work of checking a hash at the configured cost, on
// a fresh salt, and throws the result away.
func (h *Hasher) padding(password string) {
	_, _ = h.hashNow(password) // only the time spent matters, not the hash or an error
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
