package passhash

import (
	"bytes"
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/argon2"
)

// argon2Ref is the only code computing argon2d and Argon2 1.0; for the
// variants x/crypto also computes it must agree with x/crypto everywhere,
// across lane counts, memory not divisible by 4·lanes, several passes and
// tag lengths either side of BLAKE2b's 64 bytes.
func TestArgon2RefMatchesXCrypto(t *testing.T) {
	password, salt := []byte("pässwörd"), []byte("sixteen byte salt")
	for _, p := range []argon2Params{
		{memoryKiB: 8, iterations: 1, parallelism: 1},
		{memoryKiB: 64, iterations: 2, parallelism: 1},
		{memoryKiB: 100, iterations: 3, parallelism: 3},
		{memoryKiB: 256, iterations: 1, parallelism: 4},
		{memoryKiB: 600, iterations: 2, parallelism: 2}, // more than 128 blocks per segment
	} {
		for _, tagLen := range []uint32{4, 16, 32, 64, 65, 100} {
			if got, want := argon2Ref(argon2TypeID, argon2Version13, password, salt, nil, nil, p, tagLen),
				argon2.IDKey(password, salt, p.iterations, p.memoryKiB, p.parallelism, tagLen); !bytes.Equal(got, want) {
				t.Errorf("argon2id %+v, %d bytes: %x; x/crypto %x", p, tagLen, got, want)
			}
			if got, want := argon2Ref(argon2TypeI, argon2Version13, password, salt, nil, nil, p, tagLen),
				argon2.Key(password, salt, p.iterations, p.memoryKiB, p.parallelism, tagLen); !bytes.Equal(got, want) {
				t.Errorf("argon2i %+v, %d bytes: %x; x/crypto %x", p, tagLen, got, want)
			}
		}
	}
}

// RFC 9106, section 5: the test vectors of each variant, with a secret
// and associated data.
func TestArgon2RefRFC9106(t *testing.T) {
	rep := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	p := argon2Params{memoryKiB: 32, iterations: 3, parallelism: 4}
	for typ, want := range map[uint32]string{
		argon2TypeD:  "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb",
		argon2TypeI:  "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8",
		argon2TypeID: "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
	} {
		got := argon2Ref(typ, argon2Version13, rep(1, 32), rep(2, 16), rep(3, 8), rep(4, 12), p, 32)
		if hex.EncodeToString(got) != want {
			t.Errorf("type %d: tag %x; want %s", typ, got, want)
		}
	}
}
