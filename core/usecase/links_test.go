package usecase_test

import (
	"testing"

	"github.com/restreg/restreg/core/usecase"
)

func TestQueryURLBuilder(t *testing.T) {
	for _, tc := range []struct{ base, userID, want string }{
		{"https://app/verify/", "42", "https://app/verify/?user_id=42&timestamp=1&signature=s"},
		{"https://app/verify?lang=de", "42", "https://app/verify?lang=de&user_id=42&timestamp=1&signature=s"},
		{"https://app/verify?", "42", "https://app/verify?user_id=42&timestamp=1&signature=s"},
		{"https://app/v/", "a b&c=d/é", "https://app/v/?user_id=a+b%26c%3Dd%2F%C3%A9&timestamp=1&signature=s"},
	} {
		got, err := usecase.QueryURLBuilder{Base: tc.base}.BuildVerificationURL(tc.userID, "1", "s")
		if err != nil || got != tc.want {
			t.Errorf("BuildVerificationURL(%q, %q) = %q, %v; want %q", tc.base, tc.userID, got, err, tc.want)
		}
	}
}
