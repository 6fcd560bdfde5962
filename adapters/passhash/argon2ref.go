package passhash

import (
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/blake2b"
)

// Argon2 as RFC 9106 describes it, for the hashes golang.org/x/crypto/argon2
// cannot compute: the argon2d variant and version 1.0 (0x10), which older
// argon2-cffi releases wrote without a v= field and Django still verifies.
// It runs the lanes of a slice one after another on the calling goroutine
// (the result does not depend on the order), so a check stays on the one
// core its hashing slot stands for. argon2i and argon2id at version 1.3 go
// to x/crypto, whose results the tests compare this code with.

// Argon2 type numbers (y in RFC 9106), hashed into H0.
const (
	argon2TypeD  = 0
	argon2TypeI  = 1
	argon2TypeID = 2
)

// Argon2 versions: 1.0 overwrites blocks on later passes, 1.3 XORs into them.
const (
	argon2Version10 = 0x10
	argon2Version13 = 0x13
)

const (
	argon2BlockWords = 128 // 1 KiB blocks of 64-bit words
	argon2SyncPoints = 4   // slices per pass
)

type argon2Block [argon2BlockWords]uint64

// argon2Ref computes an Argon2 tag. secret and data are the optional key
// and associated data of RFC 9106 (Django uses neither; its test vectors
// do). p must have passed validate.
func argon2Ref(typ, version uint32, password, salt, secret, data []byte, p argon2Params, tagLen uint32) []byte {
	lanes := uint32(p.parallelism)
	h0 := argon2H0(typ, version, password, salt, secret, data, p, tagLen)

	// m' = 4·p·⌊m / 4p⌋ blocks, each lane q = m'/p blocks, each segment q/4.
	memory := p.memoryKiB / (argon2SyncPoints * lanes) * (argon2SyncPoints * lanes)
	laneLen := memory / lanes
	segLen := laneLen / argon2SyncPoints
	mem := make([]argon2Block, memory)

	var buf [1024]byte
	for l := range lanes {
		for i := range uint32(2) {
			binary.LittleEndian.PutUint32(h0[64:], i)
			binary.LittleEndian.PutUint32(h0[68:], l)
			argon2HPrime(buf[:], h0[:])
			for w := range mem[l*laneLen+i] {
				mem[l*laneLen+i][w] = binary.LittleEndian.Uint64(buf[w*8:])
			}
		}
	}

	for pass := range p.iterations {
		for slice := range uint32(argon2SyncPoints) {
			for l := range lanes {
				argon2Segment(mem, typ, version, pass, slice, l, memory, laneLen, segLen, lanes, p.iterations)
			}
		}
	}

	// The final block is the XOR of every lane's last block.
	var final argon2Block
	for l := range lanes {
		for w, v := range mem[l*laneLen+laneLen-1] {
			final[w] ^= v
		}
	}
	for w, v := range final {
		binary.LittleEndian.PutUint64(buf[w*8:], v)
	}
	tag := make([]byte, tagLen)
	argon2HPrime(tag, buf[:])
	return tag
}

// argon2H0 is the 64-byte pre-hash of every parameter and input, with 8
// bytes of room behind it for the block and lane numbers.
func argon2H0(typ, version uint32, password, salt, secret, data []byte, p argon2Params, tagLen uint32) [72]byte {
	h, _ := blake2b.New512(nil) // only a key longer than 64 bytes is an error
	le := func(v uint32) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		h.Write(b[:])
	}
	le(uint32(p.parallelism))
	le(tagLen)
	le(p.memoryKiB)
	le(p.iterations)
	le(version)
	le(typ)
	for _, field := range [][]byte{password, salt, secret, data} {
		le(uint32(len(field)))
		h.Write(field)
	}
	var h0 [72]byte
	h.Sum(h0[:0])
	return h0
}

// argon2HPrime is H', the variable-length hash built from BLAKE2b: up to 64
// bytes in one call, beyond that a chain of 64-byte digests of which each
// contributes its first half, and a last digest sized to what is left.
func argon2HPrime(out, in []byte) {
	var prefix [4]byte
	binary.LittleEndian.PutUint32(prefix[:], uint32(len(out)))
	if len(out) <= blake2b.Size {
		h, _ := blake2b.New(len(out), nil)
		h.Write(prefix[:])
		h.Write(in)
		h.Sum(out[:0])
		return
	}
	h, _ := blake2b.New512(nil)
	h.Write(prefix[:])
	h.Write(in)
	v := h.Sum(nil)
	for len(out) > blake2b.Size {
		copy(out, v[:32])
		out = out[32:]
		next, _ := blake2b.New(min(len(out), blake2b.Size), nil)
		next.Write(v)
		v = next.Sum(nil)
	}
	copy(out, v)
}

// argon2Segment fills one lane's share of one slice.
func argon2Segment(mem []argon2Block, typ, version, pass, slice, lane, memory, laneLen, segLen, lanes, passes uint32) {
	// argon2i, and argon2id in the first half of the first pass, draw the
	// reference positions from a counter instead of from the data.
	independent := typ == argon2TypeI || (typ == argon2TypeID && pass == 0 && slice < argon2SyncPoints/2)
	var input, address, zero argon2Block
	nextAddresses := func() {
		input[6]++
		argon2Compress(&address, &zero, &input, false)
		argon2Compress(&address, &zero, &address, false)
	}
	if independent {
		input[0], input[1], input[2] = uint64(pass), uint64(lane), uint64(slice)
		input[3], input[4], input[5] = uint64(memory), uint64(passes), uint64(typ)
	}

	start := uint32(0)
	if pass == 0 && slice == 0 {
		start = 2 // the first two blocks of each lane come from H0
		if independent {
			nextAddresses()
		}
	}
	for i := start; i < segLen; i++ {
		cur := lane*laneLen + slice*segLen + i
		prev := cur - 1
		if slice == 0 && i == 0 {
			prev = lane*laneLen + laneLen - 1
		}
		var j uint64
		if independent {
			if i%argon2BlockWords == 0 {
				nextAddresses()
			}
			j = address[i%argon2BlockWords]
		} else {
			j = mem[prev][0]
		}
		ref := argon2RefIndex(j, pass, slice, lane, i, laneLen, segLen, lanes)
		argon2Compress(&mem[cur], &mem[prev], &mem[ref], version == argon2Version13 && pass > 0)
	}
}

// argon2RefIndex maps the pseudo-random J (J1 low half, J2 high half) to
// the block a new block mixes in (RFC 9106, 3.4.1.2).
func argon2RefIndex(j uint64, pass, slice, lane, index, laneLen, segLen, lanes uint32) uint32 {
	refLane := uint32(j>>32) % lanes
	if pass == 0 && slice == 0 {
		refLane = lane
	}
	sameLane := refLane == lane

	// The reference set W: blocks already finished, never the previous
	// one, and in another lane nothing of the slice in progress.
	var size, start uint32
	if pass == 0 {
		size = slice * segLen
	} else {
		size = laneLen - segLen
		start = (slice + 1) % argon2SyncPoints * segLen
	}
	if sameLane {
		size += index - 1
	} else if index == 0 {
		size--
	}

	x := (j & 0xFFFFFFFF) * (j & 0xFFFFFFFF) >> 32
	y := uint64(size) * x >> 32
	rel := uint64(size) - 1 - y
	return refLane*laneLen + uint32((uint64(start)+rel)%uint64(laneLen))
}

// argon2Compress is the compression function G: out = P(X) ⊕ X for
// X = a ⊕ b, or out ⊕= that when xor is set (version 1.3, later passes).
func argon2Compress(out, a, b *argon2Block, xor bool) {
	var r, q argon2Block
	for i := range r {
		r[i] = a[i] ^ b[i]
	}
	q = r
	// P on each row of eight 16-byte registers, then on each column.
	for row := range 8 {
		w := row * 16
		argon2Permute(&q, w, w+1, w+2, w+3, w+4, w+5, w+6, w+7, w+8, w+9, w+10, w+11, w+12, w+13, w+14, w+15)
	}
	for col := range 8 {
		w := col * 2
		argon2Permute(&q, w, w+1, w+16, w+17, w+32, w+33, w+48, w+49, w+64, w+65, w+80, w+81, w+96, w+97, w+112, w+113)
	}
	for i := range q {
		if xor {
			out[i] ^= q[i] ^ r[i]
		} else {
			out[i] = q[i] ^ r[i]
		}
	}
}

// argon2Permute is P: BLAKE2b's round on a 4×4 matrix of the words at the
// sixteen indices, with BlaMka's multiplication in G.
func argon2Permute(v *argon2Block, i0, i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11, i12, i13, i14, i15 int) {
	argon2G(v, i0, i4, i8, i12)
	argon2G(v, i1, i5, i9, i13)
	argon2G(v, i2, i6, i10, i14)
	argon2G(v, i3, i7, i11, i15)
	argon2G(v, i0, i5, i10, i15)
	argon2G(v, i1, i6, i11, i12)
	argon2G(v, i2, i7, i8, i13)
	argon2G(v, i3, i4, i9, i14)
}

func argon2G(v *argon2Block, a, b, c, d int) {
	mul := func(x, y uint64) uint64 { return 2 * uint64(uint32(x)) * uint64(uint32(y)) }
	v[a] += v[b] + mul(v[a], v[b])
	v[d] = bits.RotateLeft64(v[d]^v[a], -32)
	v[c] += v[d] + mul(v[c], v[d])
	v[b] = bits.RotateLeft64(v[b]^v[c], -24)
	v[a] += v[b] + mul(v[a], v[b])
	v[d] = bits.RotateLeft64(v[d]^v[a], -16)
	v[c] += v[d] + mul(v[c], v[d])
	v[b] = bits.RotateLeft64(v[b]^v[c], -63)
}
