package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sort"
)

// Verification links are signed the way django-rest-registration signs
// them, so that restreg and a Django backend sharing one SECRET_KEY accept
// each other's links:
//
//	value = pickle.dumps(sorted((str(k), str(v)) for k, v in data.items()), 4)
//	key   = SHA-256(salt + "signer" + SECRET_KEY)
//	sig   = base64url(HMAC-SHA256(key, value)), "=" padding removed
//
// The pickle below is byte for byte what CPython's pickle.dumps writes for
// such a list (checked against CPython 3.11 and Django's own signatures).

// Pickle opcodes of protocol 4 used for a list of string pairs.
const (
	pickleProto          = 0x80
	pickleFrame          = 0x95
	pickleEmptyList      = 0x5d
	pickleMemoize        = 0x94
	pickleMark           = 0x28
	pickleShortUnicode   = 0x8c
	pickleUnicode        = 0x58
	pickleUnicode8       = 0x8d
	pickleTuple2         = 0x86
	pickleAppend         = 0x61
	pickleAppends        = 0x65
	pickleStop           = 0x2e
	pickleFrameSizeMin   = 4         // smaller frames are written without a FRAME opcode
	pickleFrameSizeLimit = 64 * 1024 // a frame is closed once it reaches this size
	pickleBatchSize      = 1000      // list items per MARK … APPENDS batch
)

// pickler reproduces the framing of CPython's pickler for protocol 4:
// opcodes are collected in frames; before each object is written, a frame
// that has reached 64 KiB is closed and given its FRAME header; strings of
// 64 KiB or more are written outside any frame.
type pickler struct {
	out   []byte
	frame []byte
}

// commit closes the current frame. Frames under 4 bytes get no header.
func (p *pickler) commit() {
	if len(p.frame) >= pickleFrameSizeMin {
		p.out = append(p.out, pickleFrame)
		p.out = binary.LittleEndian.AppendUint64(p.out, uint64(len(p.frame)))
	}
	p.out = append(p.out, p.frame...)
	p.frame = p.frame[:0]
}

// boundary runs where CPython's save() starts on an object.
func (p *pickler) boundary() {
	if len(p.frame) >= pickleFrameSizeLimit {
		p.commit()
	}
}

func (p *pickler) str(s string) {
	p.boundary()
	n := len(s)
	switch {
	case n < 256:
		p.frame = append(p.frame, pickleShortUnicode, byte(n))
		p.frame = append(p.frame, s...)
	case n >= pickleFrameSizeLimit:
		p.commit()
		if uint64(n) > 0xffffffff {
			p.out = append(p.out, pickleUnicode8)
			p.out = binary.LittleEndian.AppendUint64(p.out, uint64(n))
		} else {
			p.out = append(p.out, pickleUnicode)
			p.out = binary.LittleEndian.AppendUint32(p.out, uint32(n))
		}
		p.out = append(p.out, s...)
	default:
		p.frame = append(p.frame, pickleUnicode)
		p.frame = binary.LittleEndian.AppendUint32(p.frame, uint32(n))
		p.frame = append(p.frame, s...)
	}
	p.frame = append(p.frame, pickleMemoize)
}

func (p *pickler) pair(k, v string) {
	p.boundary()
	p.str(k)
	p.str(v)
	p.frame = append(p.frame, pickleTuple2, pickleMemoize)
}

// PickleSignedData returns the bytes that are signed for data: CPython's
// pickle (protocol 4) of the list of its (key, value) pairs sorted by key.
//
// Every string is written in full. CPython instead refers back to a string
// object it has already written, which happens only when the very same
// object occurs twice; the fields of a verification link are distinct
// objects, so their pickle never contains such a reference. Strings are
// expected to be valid UTF-8, as Python strings always are.
func PickleSignedData(data map[string]string) []byte {
	keys := make([]string, 0, len(data))
	size := 16
	for k, v := range data {
		keys = append(keys, k)
		size += len(k) + len(v) + 16
	}
	// Byte order of UTF-8 is code-point order, Python's order for str.
	sort.Strings(keys)

	p := &pickler{out: make([]byte, 0, size+11), frame: make([]byte, 0, min(size, pickleFrameSizeLimit+16))}
	p.out = append(p.out, pickleProto, 4)
	p.frame = append(p.frame, pickleEmptyList, pickleMemoize)
	// CPython's C pickler appends a lone item with APPEND, and the items of
	// a longer list in batches of MARK … APPENDS, even a last batch of one.
	switch len(keys) {
	case 0:
	case 1:
		p.pair(keys[0], data[keys[0]])
		p.frame = append(p.frame, pickleAppend)
	default:
		for start := 0; start < len(keys); start += pickleBatchSize {
			p.frame = append(p.frame, pickleMark)
			for _, k := range keys[start:min(start+pickleBatchSize, len(keys))] {
				p.pair(k, data[k])
			}
			p.frame = append(p.frame, pickleAppends)
		}
	}
	p.frame = append(p.frame, pickleStop)
	p.commit()
	return p.out
}

// DjangoSigner signs verification data as Django's Signer (SHA-256) signs
// django-rest-registration's pickled data, and checks signatures against
// SECRET_KEY and every SECRET_KEY_FALLBACKS entry. It is safe for concurrent
// use; printing it never shows a key.
type DjangoSigner struct {
	keys [][]byte // SECRET_KEY first, then the fallbacks
}

// NewDjangoSigner returns a signer that signs with secret and also accepts
// signatures made with any of fallbacks (older keys being rotated out).
func NewDjangoSigner(secret string, fallbacks []string) *DjangoSigner {
	keys := make([][]byte, 0, 1+len(fallbacks))
	keys = append(keys, []byte(secret))
	for _, f := range fallbacks {
		keys = append(keys, []byte(f))
	}
	return &DjangoSigner{keys: keys}
}

// Sign returns the signature of data under salt with SECRET_KEY: 43
// characters of unpadded base64url. The signer must come from
// NewDjangoSigner; a zero DjangoSigner has no key to sign with.
func (s DjangoSigner) Sign(data map[string]string, salt string) string {
	if len(s.keys) == 0 {
		panic("core: DjangoSigner has no key; create it with NewDjangoSigner")
	}
	return djangoSignature(s.keys[0], salt, PickleSignedData(data))
}

// Verify reports whether sig is the signature of data under salt with
// SECRET_KEY or any fallback key. Every key is tried and compared in
// constant time, so timing reveals neither the signature nor which key
// matched.
func (s DjangoSigner) Verify(data map[string]string, salt, sig string) bool {
	value := PickleSignedData(data)
	match := 0
	for _, key := range s.keys {
		match |= subtle.ConstantTimeCompare([]byte(sig), []byte(djangoSignature(key, salt, value)))
	}
	return match == 1
}

// String hides the keys.
func (s DjangoSigner) String() string {
	return fmt.Sprintf("DjangoSigner{keys: %d, redacted}", len(s.keys))
}

// GoString hides the keys from %#v.
func (s DjangoSigner) GoString() string { return s.String() }

// Format hides the keys whatever the verb, so that no fmt or slog call can
// print a secret.
func (s DjangoSigner) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// djangoSignature is django.core.signing's base64_hmac(salt + "signer",
// value, secret, algorithm="sha256").
func djangoSignature(secret []byte, salt string, value []byte) string {
	derive := sha256.New()
	derive.Write([]byte(salt))
	derive.Write([]byte("signer"))
	derive.Write(secret)
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write(value)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// RegisterSalt returns the salt of registration links: "register", or with
// REGISTER_VERIFICATION_ONE_TIME_USE "register:False" / "register:True"
// after the user's verification flag, so a used link stops verifying.
func RegisterSalt(oneTimeUse bool, userActive bool) string {
	switch {
	case !oneTimeUse:
		return "register"
	case userActive:
		return "register:True"
	default:
		return "register:False"
	}
}

// ResetPasswordSalt returns the salt of reset-password links:
// "reset-password", or with RESET_PASSWORD_VERIFICATION_ONE_TIME_USE
// "reset-password:" followed by the user's whole encoded password hash, so
// that any change of the password (the reset itself, a change, a hash
// upgrade on login) kills every link made before it.
func ResetPasswordSalt(oneTimeUse bool, passwordHash string) string {
	if !oneTimeUse {
		return "reset-password"
	}
	return "reset-password:" + passwordHash
}

// RegisterEmailSalt is the salt of verify-email links; django-rest-registration
// has no one-time variant of it.
const RegisterEmailSalt = "register-email"

// LinkParam is one query parameter of a mailed link, in the order it is
// written.
type LinkParam struct {
	Key, Value string
}
