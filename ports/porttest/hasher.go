package porttest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/restreg/restreg/ports"
)

// PasswordHasher checks the behaviour every ports.PasswordHasher owes its
// callers. h must admit at least four concurrent callers without refusing.
func PasswordHasher(t *testing.T, h ports.PasswordHasher) {
	t.Helper()

	hash := func(t *testing.T, password string) string {
		t.Helper()
		encoded, err := h.Hash(t.Context(), password)
		if err != nil {
			t.Fatalf("Hash: unexpected error: %v", err)
		}
		if encoded == "" {
			t.Fatal("Hash returned an empty string")
		}
		return encoded
	}
	check := func(t *testing.T, password, encoded string) (ok, rehash bool) {
		t.Helper()
		ok, rehash, err := h.Check(t.Context(), password, encoded)
		if err != nil {
			t.Fatalf("Check: unexpected error: %v", err)
		}
		return ok, rehash
	}

	t.Run("hash then check succeeds without asking for a rehash", func(t *testing.T) {
		encoded := hash(t, "correct horse battery staple")
		ok, rehash := check(t, "correct horse battery staple", encoded)
		if !ok {
			t.Fatal("Check rejected the password the hash was made from")
		}
		if rehash {
			t.Error("Check asked to rehash a hash Hash has just produced")
		}
	})

	t.Run("wrong passwords fail", func(t *testing.T) {
		encoded := hash(t, "correct horse battery staple")
		// No trailing-NUL variant: PBKDF2-HMAC pads short keys with zeros,
		// so Django's format cannot tell "pw" from "pw\x00" (requests with
		// NUL characters are refused before any hashing).
		for _, wrong := range []string{
			"",
			"Correct horse battery staple",
			"correct horse battery stapl",
			"correct horse battery staple ",
			"totally different",
		} {
			if ok, rehash := check(t, wrong, encoded); ok || rehash {
				t.Errorf("Check(%q) = ok %v, rehash %v; want false, false", wrong, ok, rehash)
			}
		}
	})

	t.Run("hashes are salted", func(t *testing.T) {
		a := hash(t, "same password twice")
		b := hash(t, "same password twice")
		if a == b {
			t.Fatal("two hashes of one password are identical: no random salt")
		}
		for _, encoded := range []string{a, b} {
			if ok, _ := check(t, "same password twice", encoded); !ok {
				t.Error("a salted hash does not verify its own password")
			}
		}
	})

	t.Run("unparseable hashes are a mismatch, not an error", func(t *testing.T) {
		valid := hash(t, "p4ssw0rd-for-garbage")
		garbage := []string{
			"",
			"garbage",
			"$",
			"$$$$$",
			"!unusable-password-marker",
			valid[:len(valid)/2],
			valid + "$extra",
			strings.ToUpper(valid),
			strings.Repeat("$a", 10_000),
			"\x00\xff\xfe",
		}
		for _, encoded := range garbage {
			ok, rehash, err := h.Check(t.Context(), "p4ssw0rd-for-garbage", encoded)
			if err != nil || ok || rehash {
				t.Errorf("Check(garbage %.40q) = %v, %v, %v; want false, false, nil", encoded, ok, rehash, err)
			}
		}
	})

	t.Run("an unusable password never verifies", func(t *testing.T) {
		// Django marks a password unusable with a leading '!' (users
		// imported with set_unusable_password), also in front of what was
		// a real hash; no password may open such an account.
		valid := hash(t, "once-usable")
		for _, encoded := range []string{"!", "!" + valid, "!" + valid[1:]} {
			ok, rehash, err := h.Check(t.Context(), "once-usable", encoded)
			if err != nil || ok || rehash {
				t.Errorf("Check(%.40q) = %v, %v, %v; want false, false, nil", encoded, ok, rehash, err)
			}
		}
	})

	t.Run("a tampered hash does not verify", func(t *testing.T) {
		encoded := hash(t, "tamper-proof")
		// Changing the last character alters the stored key (or makes it
		// undecodable); either way the password must no longer match.
		last := encoded[len(encoded)-1]
		repl := byte('A')
		if last == 'A' {
			repl = 'B'
		}
		tampered := encoded[:len(encoded)-1] + string(repl)
		ok, _, err := h.Check(t.Context(), "tamper-proof", tampered)
		if err != nil || ok {
			t.Errorf("Check(tampered hash) = %v, %v; want false, nil", ok, err)
		}
	})

	t.Run("unicode passwords", func(t *testing.T) {
		for _, pw := range []string{"lètmein", "пароль-секрет", "密码🔑é", "e\u0301t\u00e9"} {
			encoded := hash(t, pw)
			if ok, _ := check(t, pw, encoded); !ok {
				t.Errorf("Check rejected unicode password %q", pw)
			}
		}
		// Composed and decomposed é are different byte strings; a hasher
		// must not fold one into the other behind the caller's back.
		encoded := hash(t, "caf\u00e9-password")
		if ok, _ := check(t, "cafe\u0301-password", encoded); ok {
			t.Error("Check accepted a different byte sequence for a unicode password")
		}
	})

	t.Run("long passwords are used in full", func(t *testing.T) {
		long := strings.Repeat("x", 4095) + "a"
		encoded := hash(t, long)
		if ok, _ := check(t, long, encoded); !ok {
			t.Fatal("Check rejected a 4096-character password")
		}
		// A hasher that truncates (as bcrypt does at 72 bytes) would let the
		// last character change unnoticed.
		if ok, _ := check(t, strings.Repeat("x", 4095)+"b", encoded); ok {
			t.Error("Check accepted a 4096-character password differing only in its last character")
		}
		if ok, _ := check(t, long[:4095], encoded); ok {
			t.Error("Check accepted a 4096-character password missing its last character")
		}
	})

	t.Run("the hash never contains the password", func(t *testing.T) {
		for _, pw := range []string{"VerySecretPassword123", "c2VjcmV0LXBhc3M", "密码密码密码密码"} {
			if encoded := hash(t, pw); strings.Contains(encoded, pw) {
				t.Errorf("hash of %q contains the password", pw)
			}
		}
	})

	t.Run("a cancelled context is reported", func(t *testing.T) {
		encoded := hash(t, "cancel-me")
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := h.Hash(ctx, "cancel-me"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash(cancelled ctx) error = %v; want context.Canceled", err)
		}
		ok, _, err := h.Check(ctx, "cancel-me", encoded)
		if !errors.Is(err, context.Canceled) || ok {
			t.Errorf("Check(cancelled ctx) = %v, %v; want false, context.Canceled", ok, err)
		}
	})

	t.Run("concurrent use", func(t *testing.T) {
		const n = 4
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			pw := strings.Repeat("concurrent", i+1)
			wg.Go(func() {
				encoded, err := h.Hash(t.Context(), pw)
				if err != nil {
					errs <- err
					return
				}
				ok, _, err := h.Check(t.Context(), pw, encoded)
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					errs <- errors.New("a hash made concurrently does not verify")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
