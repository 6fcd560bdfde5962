package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// appendJSONString writes a JSON string that reads back as the string it
// was given.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "alice", "Zoë", `quo"te`, `back\slash`, "tab\tnew\nline", "\x00\x1f\x7f\b\f",
		"<script>&amp;", "line\u2028sep\u2029", "日本語", "emoji 🙂", "ｗｉｄｅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		out := appendJSONString([]byte("x"), s)
		var back string
		if err := json.Unmarshal(out[1:], &back); err != nil || back != s || out[0] != 'x' {
			t.Fatalf("appendJSONString(%q) = %s, reads back as %q (%v)", s, out, back, err)
		}
	})
}

// The profile body renders its public fields in order, each as DRF shows
// it, the same whether Huma's renderer or encoding/json asks.
func TestProfileBodyRendersPublicFieldsInOrder(t *testing.T) {
	joined := time.Date(2026, 11, 30, 6, 0, 0, 123456000, time.UTC)
	u := core.User{ID: "u-1", Username: "zoë", FirstName: `Ann "A"`, LastName: "O'Hara\u2028", Email: "zoe@example.com",
		IsActive: true, CreatedAt: joined}
	for _, c := range []struct {
		fields []string
		want   string
	}{
		{[]string{"id", "username", "first_name", "last_name", "email"},
			`{"id":"u-1","username":"zoë","first_name":"Ann \"A\"","last_name":"O'Hara\u2028","email":"zoe@example.com"}`},
		{[]string{"email", "last_login", "is_active", "date_joined"},
			`{"email":"zoe@example.com","last_login":null,"is_active":true,"date_joined":"2026-11-30T06:00:00.123456Z"}`},
		{nil, `{}`},
	} {
		b := profileOf(usecase.ProfileResult{User: u, Fields: c.fields})
		if got := string(b.appendJSON(nil)); got != c.want {
			t.Errorf("fields %v: %s, want %s", c.fields, got, c.want)
		}
		if got := string(encodeJSON(b)); got != c.want {
			t.Errorf("fields %v through encoding/json: %s, want %s", c.fields, got, c.want)
		}
	}
	u.LastLogin = joined.Add(time.Hour).Truncate(time.Second)
	got := string(profileOf(usecase.ProfileResult{User: u, Fields: []string{"last_login"}}).appendJSON(nil))
	if !strings.Contains(got, `"last_login":"2026-11-30T07:00:00Z"`) {
		t.Errorf("last_login: %s", got)
	}
}
