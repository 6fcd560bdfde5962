package core_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/restreg/restreg/core"
)

// drfTokenVectors is testdata/drf-token-vectors.json: how DRF 3.14's
// TokenAuthentication read 26 Authorization headers.
type drfTokenVectors struct {
	Vectors []struct {
		ID            string  `json:"id"`
		HeaderPresent bool    `json:"header_present"`
		HeaderHex     *string `json:"header_bytes_hex"`
		Authenticate  struct {
			Result   string `json:"result"`
			Detail   string `json:"detail"`
			TokenKey string `json:"token_key"`
		} `json:"authenticate"`
	} `json:"vectors"`
}

func TestParseTokenHeaderMatchesDRF(t *testing.T) {
	raw, err := os.ReadFile("testdata/drf-token-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs drfTokenVectors
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs.Vectors) != 26 {
		t.Fatalf("%d vectors, want 26", len(vs.Vectors))
	}
	for _, v := range vs.Vectors {
		t.Run(v.ID, func(t *testing.T) {
			header := ""
			if v.HeaderHex != nil {
				b, err := hex.DecodeString(*v.HeaderHex)
				if err != nil {
					t.Fatal(err)
				}
				header = string(b)
			}
			got := core.ParseTokenHeader(header)
			a := v.Authenticate
			switch {
			case v.ID == "bearer":
				// restreg's addition: Bearer is a second keyword.
				if !got.Attempted || got.Key != "abcdef0123456789abcdef0123456789abcdef01" || got.Problem != "" {
					t.Fatalf("Bearer header = %+v, want the key", got)
				}
			case a.Result == "not_attempted":
				if got.Attempted {
					t.Fatalf("ParseTokenHeader(%q) = %+v, want no attempt", header, got)
				}
			case a.Result == "authenticated":
				if !got.Attempted || got.Key != a.TokenKey || got.Problem != "" {
					t.Fatalf("ParseTokenHeader(%q) = %+v, want key %q", header, got, a.TokenKey)
				}
			case a.Detail == core.MsgTokenInvalid || a.Detail == core.MsgTokenUserInactive:
				// Well formed: the key decides (unknown, or an inactive user).
				if !got.Attempted || got.Problem != "" || got.Key == "" {
					t.Fatalf("ParseTokenHeader(%q) = %+v, want a key to look up", header, got)
				}
			default:
				if !got.Attempted || got.Problem != a.Detail {
					t.Fatalf("ParseTokenHeader(%q) = %+v, want problem %q", header, got, a.Detail)
				}
			}
		})
	}
}
