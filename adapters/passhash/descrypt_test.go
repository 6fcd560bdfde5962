package passhash

import (
	"crypto/des" // the reference the DES code is compared with
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// The DES inside desCrypt, with the expansion table unperturbed (salt
// "..", all zero bits), is plain DES: it must agree with crypto/des on
// random keys and blocks. The salt's effect is covered by the Django
// vectors, whose crypt hashes use three different salts.
func TestDESMatchesCryptoDES(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		key, block := r.Uint64(), r.Uint64()
		var k, in, want [8]byte
		binary.BigEndian.PutUint64(k[:], key)
		binary.BigEndian.PutUint64(in[:], block)
		c, err := des.NewCipher(k[:])
		if err != nil {
			t.Fatal(err)
		}
		c.Encrypt(want[:], in[:])
		subkeys := desSubkeys(key)
		e := desExpansion
		if got := desEncrypt(block, &subkeys, &e); got != binary.BigEndian.Uint64(want[:]) {
			t.Fatalf("DES(%016x, %016x) = %016x; crypto/des %x", key, block, got, want)
		}
	}
}

func TestDESCryptSalt(t *testing.T) {
	// Two characters of the alphabet, nothing else: libxcrypt refuses the
	// rest, so Django never verifies them.
	for _, salt := range []string{"", "a", "abc", "a$", "a!", "\x00a", "é"} {
		if got, ok := desCrypt([]byte("password"), salt); ok {
			t.Errorf("desCrypt(salt %q) = %q; want a refusal", salt, got)
		}
	}
	// Only the first 8 bytes count, and of each only the low 7 bits.
	a, _ := desCrypt([]byte("12345678"), "ab")
	b, _ := desCrypt([]byte("12345678 and more"), "ab")
	c, _ := desCrypt([]byte("\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8"), "ab")
	if a != b || a != c {
		t.Errorf("desCrypt read past 8 bytes or the 8th bit: %q, %q, %q", a, b, c)
	}
}
