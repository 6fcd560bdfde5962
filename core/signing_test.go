package core_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// The Django signer is the default implementation of the Signer port.
var _ ports.Signer = (*core.DjangoSigner)(nil)

// readTestdataJSON decodes testdata/name into v.
func readTestdataJSON(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read test vectors: %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

type signingCase struct {
	Secret    string            `json:"secret"`
	Salt      string            `json:"salt"`
	Data      map[string]string `json:"data"`
	PickleHex string            `json:"pickle_hex"`
	Signature string            `json:"signature"`
}

type signingVectors struct {
	Cases      []signingCase `json:"cases"`
	URLExample struct {
		BaseURL string            `json:"base_url"`
		Secret  string            `json:"secret"`
		Salt    string            `json:"salt"`
		Data    map[string]string `json:"data"`
		URL     string            `json:"url"`
	} `json:"url_example"`
}

func loadSigningVectors(t testing.TB) signingVectors {
	t.Helper()
	var v signingVectors
	readTestdataJSON(t, "django-signing-vectors.json", &v)
	if len(v.Cases) != 120 {
		t.Fatalf("expected the 120 Django signing vectors, found %d", len(v.Cases))
	}
	return v
}

func caseName(i int, c signingCase) string {
	id := c.Data["user_id"]
	if len(id) > 12 {
		id = id[:12] + "…"
	}
	return fmt.Sprintf("%03d/%s/%s", i, c.Salt, id)
}

func TestPickleSignedDataMatchesDjango(t *testing.T) {
	for i, c := range loadSigningVectors(t).Cases {
		if got := hex.EncodeToString(core.PickleSignedData(c.Data)); got != c.PickleHex {
			t.Errorf("%s: pickle\n got %s\nwant %s", caseName(i, c), got, c.PickleHex)
		}
	}
}

func TestDjangoSignerReproducesDjangoSignatures(t *testing.T) {
	for i, c := range loadSigningVectors(t).Cases {
		s := core.NewDjangoSigner(c.Secret, nil)
		if got := s.Sign(c.Data, c.Salt); got != c.Signature {
			t.Errorf("%s: Sign = %q, Django signed %q", caseName(i, c), got, c.Signature)
		}
		if !s.Verify(c.Data, c.Salt, c.Signature) {
			t.Errorf("%s: Django's signature does not verify", caseName(i, c))
		}
	}
}

func TestDjangoSignerRejectsAnyChange(t *testing.T) {
	v := loadSigningVectors(t)
	for i, c := range v.Cases {
		s := core.NewDjangoSigner(c.Secret, nil)
		reject := func(what string, data map[string]string, salt, sig string) {
			t.Helper()
			if s.Verify(data, salt, sig) {
				t.Errorf("%s: accepted with %s", caseName(i, c), what)
			}
		}
		for _, pos := range []int{0, len(c.Signature) / 2, len(c.Signature) - 1} {
			b := []byte(c.Signature)
			if b[pos] == 'A' {
				b[pos] = 'B'
			} else {
				b[pos] = 'A'
			}
			reject(fmt.Sprintf("character %d changed", pos), c.Data, c.Salt, string(b))
		}
		reject("signature truncated", c.Data, c.Salt, c.Signature[:len(c.Signature)-1])
		reject("padding added", c.Data, c.Salt, c.Signature+"=")
		reject("empty signature", c.Data, c.Salt, "")
		reject("upper-cased signature", c.Data, c.Salt, strings.ToUpper(c.Signature))
		other := v.Cases[(i+24)%len(v.Cases)] // same secret and data, next salt
		if other.Salt != c.Salt {
			reject("salt "+other.Salt, c.Data, other.Salt, c.Signature)
		}
		reject("another secret", c.Data, c.Salt, core.NewDjangoSigner(c.Secret+"x", nil).Sign(c.Data, c.Salt))
		for k := range c.Data {
			changed := make(map[string]string, len(c.Data))
			for k2, v2 := range c.Data {
				changed[k2] = v2
			}
			changed[k] += "0"
			reject(k+" changed", changed, c.Salt, c.Signature)
			delete(changed, k)
			reject(k+" removed", changed, c.Salt, c.Signature)
		}
		extra := map[string]string{"signature": c.Signature}
		for k2, v2 := range c.Data {
			extra[k2] = v2
		}
		reject("an extra field", extra, c.Salt, c.Signature)
	}
}

func TestDjangoSignerFallbackKeys(t *testing.T) {
	for i, c := range loadSigningVectors(t).Cases {
		rotated := core.NewDjangoSigner("the-new-secret-key", []string{"an-even-older-key", c.Secret})
		if !rotated.Verify(c.Data, c.Salt, c.Signature) {
			t.Errorf("%s: a link signed with a fallback key no longer verifies", caseName(i, c))
		}
		fresh := rotated.Sign(c.Data, c.Salt)
		if want := core.NewDjangoSigner("the-new-secret-key", nil).Sign(c.Data, c.Salt); fresh != want {
			t.Errorf("%s: new links are not signed with SECRET_KEY", caseName(i, c))
		}
		if fresh == c.Signature {
			t.Errorf("%s: new link signed with the fallback key", caseName(i, c))
		}
		if core.NewDjangoSigner(c.Secret, nil).Verify(c.Data, c.Salt, fresh) {
			t.Errorf("%s: the old key accepts a signature of the new key", caseName(i, c))
		}
	}
}

func TestDjangoSignerURLExample(t *testing.T) {
	ex := loadSigningVectors(t).URLExample
	u, err := url.Parse(ex.URL)
	if err != nil {
		t.Fatalf("parse example URL: %v", err)
	}
	q := u.Query()
	if q.Get("user_id") != ex.Data["user_id"] || q.Get("timestamp") != ex.Data["timestamp"] {
		t.Fatalf("example URL carries %v, data is %v", q, ex.Data)
	}
	s := core.NewDjangoSigner(ex.Secret, nil)
	if got := s.Sign(ex.Data, ex.Salt); got != q.Get("signature") {
		t.Errorf("Sign = %q, Django's link has %q", got, q.Get("signature"))
	}
	if !s.Verify(map[string]string{"user_id": q.Get("user_id"), "timestamp": q.Get("timestamp")}, ex.Salt, q.Get("signature")) {
		t.Error("the parameters of Django's link do not verify")
	}
}

func TestPickleSignedDataMatchesCPythonFraming(t *testing.T) {
	var v struct {
		Cases []struct {
			Name          string              `json:"name"`
			Pairs         [][]json.RawMessage `json:"pairs"`
			NumberedPairs int                 `json:"numbered_pairs"`
			Length        int                 `json:"length"`
			SHA256        string              `json:"sha256"`
			PickleHex     string              `json:"pickle_hex"`
		} `json:"cases"`
	}
	readTestdataJSON(t, "pickle-vectors.json", &v)
	expand := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var rep []json.RawMessage
		var ch string
		var n int
		if json.Unmarshal(raw, &rep) != nil || len(rep) != 2 || json.Unmarshal(rep[0], &ch) != nil || json.Unmarshal(rep[1], &n) != nil {
			t.Fatalf("bad string spec %s", raw)
		}
		return strings.Repeat(ch, n)
	}
	if len(v.Cases) < 70 {
		t.Fatalf("expected the pickle vectors, found %d cases", len(v.Cases))
	}
	for _, c := range v.Cases {
		data := map[string]string{}
		for _, p := range c.Pairs {
			data[expand(p[0])] = expand(p[1])
		}
		for i := range c.NumberedPairs {
			data[fmt.Sprintf("k%04d", i)] = fmt.Sprintf("v%04d", i)
		}
		got := core.PickleSignedData(data)
		sum := sha256.Sum256(got)
		if len(got) != c.Length || hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Errorf("%s: %d bytes (sha256 %x), CPython wrote %d bytes (sha256 %s)", c.Name, len(got), sum, c.Length, c.SHA256)
		}
		if c.PickleHex != "" && hex.EncodeToString(got) != c.PickleHex {
			t.Errorf("%s:\n got %x\nwant %s", c.Name, got, c.PickleHex)
		}
	}
}

func TestDjangoSignerNeverShowsItsKeys(t *testing.T) {
	const secret, fallback = "top-secret-signing-key", "older-secret-key"
	s := core.NewDjangoSigner(secret, []string{fallback})
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, *s))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(*s), s.String())
	js, err := json.Marshal(map[string]any{"signer": s, "value": *s})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	out = append(out, string(js))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("signer", "signer", s, "value", *s)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("signer", "signer", s, "value", *s)
	out = append(out, logs.String())
	hexSecret := hex.EncodeToString([]byte(secret))
	for _, o := range out {
		for _, leak := range []string{secret, fallback, hexSecret, "116 111 112"} {
			if strings.Contains(strings.ToLower(o), strings.ToLower(leak)) {
				t.Errorf("printed signer reveals a key: %q", o)
			}
		}
	}
	if !strings.Contains(s.String(), "redacted") {
		t.Errorf("String() = %q, want a redacted description", s.String())
	}
}

func TestZeroDjangoSignerRefusesToWork(t *testing.T) {
	var s core.DjangoSigner
	data := map[string]string{"user_id": "1", "timestamp": "1700000000"}
	if s.Verify(data, "register", core.NewDjangoSigner("", nil).Sign(data, "register")) {
		t.Error("a signer without keys verified a signature")
	}
	defer func() {
		if recover() == nil {
			t.Error("a signer without keys signed")
		}
	}()
	s.Sign(data, "register")
}

func TestRegisterSalt(t *testing.T) {
	for _, c := range []struct {
		oneTime, active bool
		want            string
	}{
		{false, false, "register"},
		{false, true, "register"},
		{true, false, "register:False"},
		{true, true, "register:True"},
	} {
		if got := core.RegisterSalt(c.oneTime, c.active); got != c.want {
			t.Errorf("RegisterSalt(%v, %v) = %q, want %q", c.oneTime, c.active, got, c.want)
		}
	}
}

func FuzzVerifySignature(f *testing.F) {
	for _, c := range loadSigningVectors(f).Cases {
		f.Add(c.Secret, c.Salt, c.Data["user_id"], c.Data["timestamp"], c.Signature)
	}
	f.Fuzz(func(t *testing.T, secret, salt, userID, timestamp, sig string) {
		s := core.NewDjangoSigner(secret, []string{secret + "-old"})
		data := map[string]string{"user_id": userID, "timestamp": timestamp}
		good := s.Sign(data, salt)
		if len(good) != 43 || strings.ContainsAny(good, "+/=") {
			t.Fatalf("signature %q is not 43 characters of unpadded base64url", good)
		}
		if !s.Verify(data, salt, good) {
			t.Fatal("a fresh signature does not verify")
		}
		if s.Verify(data, salt, sig) != (sig == good) {
			t.Fatalf("Verify(%q) disagrees with the signature %q", sig, good)
		}
		p := core.PickleSignedData(data)
		if !bytes.HasPrefix(p, []byte{0x80, 0x04}) || p[len(p)-1] != 0x2e {
			t.Fatalf("pickle %x lacks the protocol header or STOP", p)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	s := core.NewDjangoSigner("benchmark-secret-key-0123456789abcdef", nil)
	data := map[string]string{"user_id": "0195f2c4-7e2a-7b3c-9d1e-123456789abc", "timestamp": "1764374400"}
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(data, "register")
	}
}

func BenchmarkVerify(b *testing.B) {
	s := core.NewDjangoSigner("benchmark-secret-key-0123456789abcdef", []string{"previous-secret-key"})
	data := map[string]string{"user_id": "0195f2c4-7e2a-7b3c-9d1e-123456789abc", "timestamp": "1764374400"}
	sig := s.Sign(data, "register")
	b.ReportAllocs()
	for b.Loop() {
		if !s.Verify(data, "register", sig) {
			b.Fatal("signature does not verify")
		}
	}
}
