package usecase_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// brokenHasher fails every check, as a hasher out of memory would.
type brokenHasher struct{ ports.PasswordHasher }

func (brokenHasher) Check(context.Context, string, string) (bool, bool, error) {
	return false, false, errors.New("argon2: cannot allocate")
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Every use case is built with the decorators of package decorator: its
// failures are logged with its name and the request id, at the level of
// their kind, and never with the input's password.
func TestUseCaseFailuresAreLoggedByTheDecorators(t *testing.T) {
	const password = "correct horse battery"
	f := newFixture(t, nil)
	logs := &lockedBuffer{}
	f.log = slog.New(slog.NewTextHandler(logs, nil))
	f.hasher = brokenHasher{PasswordHasher: f.hasher}
	f.build(t)
	ctx := core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "req-42", RemoteAddr: "192.0.2.7"})

	if _, err := f.login.Handle(ctx, usecase.LoginInput{Login: core.Str("nobody"), Password: core.Str(password)}); err == nil {
		t.Fatal("login with a broken hasher succeeded")
	}
	f.mailer.Fail(fmt.Errorf("smtp: dial: %w", core.ErrUnavailable))
	f.hasher = f.hasher.(brokenHasher).PasswordHasher
	f.build(t)
	if _, err := f.reg.Handle(ctx, registration("lena")); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("register with the mailer down = %v, want unavailable", err)
	}
	if _, err := f.login.Handle(ctx, usecase.LoginInput{Login: core.Str("nobody"), Password: core.Str(password)}); err == nil {
		t.Fatal("login of an unknown user succeeded")
	}

	out := logs.String()
	if strings.Contains(out, password) {
		t.Fatalf("a password reached the log:\n%s", out)
	}
	for _, want := range []string{
		`level=ERROR msg="use case failed" use_case=login error="login: check password: argon2: cannot allocate" request_id=req-42`,
		`level=WARN msg="use case failed: dependency unavailable or overloaded" use_case=register`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	// A wrong login is the contract's answer, not a problem: nothing at
	// the default level.
	if n := strings.Count(out, "use_case=login"); n != 1 {
		t.Errorf("%d lines about login, want only the broken hasher's:\n%s", n, out)
	}
}
