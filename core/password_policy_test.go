package core_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/restreg/restreg/core"
)

var defaultValidators = []string{"similarity", "length", "common", "numeric"}

type passwordCase struct {
	User struct {
		Username  string `json:"username"`
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Email     string `json:"email"`
	} `json:"user"`
	Password  string          `json:"password"`
	MinLength *int            `json:"min_length"`
	Errors    []vectorMessage `json:"errors"`
}

// vectorMessage accepts both vector formats: Django's {"code", "message"}
// objects and plain message strings.
type vectorMessage string

func (m *vectorMessage) UnmarshalJSON(b []byte) error {
	var withCode struct {
		Message string `json:"message"`
	}
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &withCode); err != nil {
			return err
		}
		*m = vectorMessage(withCode.Message)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*m = vectorMessage(s)
	return nil
}

func (c passwordCase) attrs() core.PasswordAttributes {
	return core.PasswordAttributes{Username: c.User.Username, FirstName: c.User.FirstName, LastName: c.User.LastName, Email: c.User.Email}
}

func (c passwordCase) want() []string {
	var out []string
	for _, e := range c.Errors {
		out = append(out, string(e))
	}
	return out
}

func newPolicy(t testing.TB, validators []string, min int) *core.PasswordPolicy {
	t.Helper()
	p, err := core.NewPasswordPolicy(validators, min)
	if err != nil {
		t.Fatalf("NewPasswordPolicy(%v, %d): %v", validators, min, err)
	}
	return p
}

func runPasswordVectors(t *testing.T, file string, wantCases int) {
	var v struct {
		Cases []passwordCase `json:"cases"`
	}
	readTestdataJSON(t, file, &v)
	if len(v.Cases) < wantCases {
		t.Fatalf("%s: expected at least %d cases, found %d", file, wantCases, len(v.Cases))
	}
	policies := map[int]*core.PasswordPolicy{}
	for i, c := range v.Cases {
		min := 8
		if c.MinLength != nil {
			min = *c.MinLength
		}
		if policies[min] == nil {
			policies[min] = newPolicy(t, defaultValidators, min)
		}
		got := policies[min].Validate(c.Password, c.attrs())
		if !slices.Equal(got, c.want()) {
			t.Errorf("case %d: password %+q for %+v (min %d):\n got %q\nwant %q", i, c.Password, c.User, min, got, c.want())
		}
	}
}

func TestPasswordPolicyMatchesDjango(t *testing.T) {
	runPasswordVectors(t, "django-password-validation-vectors.json", 288)
}

func TestPasswordPolicyUnicodeSemantics(t *testing.T) {
	runPasswordVectors(t, "password-unicode-vectors.json", 400)
}

func TestPasswordPolicyValidPasswordHasNoMessages(t *testing.T) {
	p := newPolicy(t, defaultValidators, 8)
	if got := p.Validate("correct horse battery staple", core.PasswordAttributes{Username: "alice", Email: "alice@example.com"}); got != nil {
		t.Errorf("Validate = %q, want nil", got)
	}
}

func TestPasswordPolicyTooLong(t *testing.T) {
	p := newPolicy(t, defaultValidators, 8)
	for _, c := range []struct {
		name     string
		password string
		tooLong  bool
	}{
		{"4096 ASCII characters", strings.Repeat("a", 4096), false},
		{"4097 ASCII characters", strings.Repeat("a", 4097), true},
		{"4096 two-byte characters", strings.Repeat("é", 4096), false},
		{"4097 two-byte characters", strings.Repeat("é", 4097), true},
		{"4097 digits, also numeric and common-looking", strings.Repeat("1", 4097), true},
	} {
		got := p.Validate(c.password, core.PasswordAttributes{Username: "aaaa"})
		if isTooLong := slices.Equal(got, []string{core.MsgPasswordTooLong}); isTooLong != c.tooLong {
			t.Errorf("%s: Validate = %q", c.name, got)
		}
	}
}

func TestPasswordPolicyRunsValidatorsInConfiguredOrder(t *testing.T) {
	short := "This password is too short. It must contain at least 8 characters."
	attrs := core.PasswordAttributes{Username: "12345"}
	for _, c := range []struct {
		validators []string
		password   string
		want       []string
	}{
		{[]string{"numeric", "length"}, "12345", []string{core.MsgPasswordEntirelyNumeric, short}},
		{[]string{"length", "numeric"}, "12345", []string{short, core.MsgPasswordEntirelyNumeric}},
		{[]string{"common", "similarity"}, "12345", []string{core.MsgPasswordTooCommon, "The password is too similar to the username."}},
		{[]string{"length"}, "12345", []string{short}},
		{nil, "1", nil},
		{[]string{}, "", nil},
	} {
		got := newPolicy(t, c.validators, 8).Validate(c.password, attrs)
		if !slices.Equal(got, c.want) {
			t.Errorf("%v on %q: got %q, want %q", c.validators, c.password, got, c.want)
		}
	}
}

func TestPasswordPolicyLengthMessagePlural(t *testing.T) {
	for _, c := range []struct {
		min  int
		want []string
	}{
		{1, []string{"This password is too short. It must contain at least 1 character."}},
		{2, []string{"This password is too short. It must contain at least 2 characters."}},
		{0, nil},
	} {
		if got := newPolicy(t, []string{"length"}, c.min).Validate("", core.PasswordAttributes{}); !slices.Equal(got, c.want) {
			t.Errorf("min %d: got %q, want %q", c.min, got, c.want)
		}
	}
}

func TestNewPasswordPolicyRejectsBadConfiguration(t *testing.T) {
	for _, c := range []struct {
		validators []string
		min        int
	}{
		{[]string{"similarity", "entropy"}, 8},
		{[]string{"Length"}, 8},
		{[]string{""}, 8},
		{defaultValidators, -1},
	} {
		if p, err := core.NewPasswordPolicy(c.validators, c.min); err == nil {
			t.Errorf("NewPasswordPolicy(%q, %d) = %v, want an error", c.validators, c.min, p)
		}
	}
}

func TestPasswordPolicyIsSafeForConcurrentUse(t *testing.T) {
	p := newPolicy(t, defaultValidators, 8)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				pw := fmt.Sprintf("Ωmega-%d-%d", g, i)
				if got := p.Validate(pw, core.PasswordAttributes{Username: "ΣΊΣΥΦΟΣ"}); got != nil {
					t.Errorf("Validate(%q) = %q", pw, got)
					return
				}
				if got := p.Validate("password", core.PasswordAttributes{}); !slices.Equal(got, []string{core.MsgPasswordTooCommon}) {
					t.Errorf("Validate(password) = %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkPasswordPolicy(b *testing.B) {
	p := newPolicy(b, defaultValidators, 8)
	attrs := core.PasswordAttributes{Username: "john.doe-99", FirstName: "John", LastName: "Doe", Email: "john.doe@mail.example.org"}
	b.Run("typical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Validate("Tr0ub4dor&3-horse", attrs)
		}
	})
	b.Run("4096 characters", func(b *testing.B) {
		long := strings.Repeat("abcdefgh", 512)
		b.ReportAllocs()
		for b.Loop() {
			p.Validate(long, attrs)
		}
	})
}
