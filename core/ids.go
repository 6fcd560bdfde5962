package core

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// idClock keeps the timestamps of NewID strictly increasing within the
// process, even when the wall clock stands still or steps back.
var idClock struct {
	sync.Mutex
	last uint64 // Unix milliseconds << 12 | 12-bit fraction of the millisecond
}

// NewID returns a new random UUID of version 7 (RFC 9562) in canonical
// lower-case form, e.g. "0195f2c4-7e2a-7b3c-9d1e-3f5a6b7c8d9e". Its first 48
// bits are the Unix time in milliseconds and the next 12 a finer fraction of
// that millisecond, so ids sort by creation time (strictly, within one
// process); the last 62 bits come from crypto/rand, so ids cannot be
// guessed. Users and events are identified by such ids.
func NewID() string {
	now := time.Now()
	ts := uint64(now.UnixMilli())<<12 | uint64(now.Nanosecond()%1_000_000)*4096/1_000_000
	idClock.Lock()
	if ts <= idClock.last {
		ts = idClock.last + 1
	}
	idClock.last = ts
	idClock.Unlock()

	var u [16]byte
	_, _ = rand.Read(u[8:]) // never fails: crypto/rand aborts the program instead
	ms, frac := ts>>12, ts&0xfff
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | byte(frac>>8) // version 7
	u[7] = byte(frac)
	u[8] = 0x80 | u[8]&0x3f // variant 10 (RFC 9562)

	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
