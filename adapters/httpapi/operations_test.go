package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// newFakeServer serves uc with the test settings.
func newFakeServer(t *testing.T, uc UseCases) testServer {
	t.Helper()
	srv, err := New(testSettings().Settings, testSettings().Config, uc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testServer{Server: srv}
}

func text(s string) core.Value { return core.Value{Present: true, Text: s} }

// Each operation hands the use case the fields of the body, decoded the way
// DRF decodes JSON and forms, and answers with what the use case returns.
func TestOperationsHandTheDecodedFieldsToTheUseCases(t *testing.T) {
	var (
		gotRegister usecase.RegisterInput
		gotVerify   usecase.VerifyInput
		gotLogin    usecase.LoginInput
		gotResend   usecase.ResendInput
	)
	ts := newFakeServer(t, UseCases{
		Register: registerFunc(func(_ context.Context, in usecase.RegisterInput) (core.PublicUser, error) {
			gotRegister = in
			return core.PublicUser{ID: "id-1", Username: "Zoë", Email: "zoe@example.com"}, nil
		}),
		Verify: verifyFunc(func(_ context.Context, in usecase.VerifyInput) (usecase.VerifyResult, error) {
			gotVerify = in
			return usecase.VerifyResult{}, nil
		}),
		Login: loginFunc(func(_ context.Context, in usecase.LoginInput) (usecase.LoginResult, error) {
			gotLogin = in
			return usecase.LoginResult{Token: "tok"}, nil
		}),
		Resend: resendFunc(func(_ context.Context, in usecase.ResendInput) error {
			gotResend = in
			return nil
		}),
	})

	rec := ts.do(http.MethodPost, register, "application/x-www-form-urlencoded",
		"username=Zo%C3%AB&email=zoe%40example.com&password=p+w&password_confirm=p+w&first_name=")
	if rec.Code != 201 || rec.Body.String() != `{"id":"id-1","username":"Zoë","first_name":"","last_name":"","email":"zoe@example.com"}` {
		t.Errorf("register: %d %s", rec.Code, rec.Body)
	}
	want := usecase.RegisterInput{Username: text("Zoë"), Email: text("zoe@example.com"), FirstName: text(""),
		Password: text("p w"), PasswordConfirm: text("p w")}
	if gotRegister != want {
		t.Errorf("register input %+v, want %+v", gotRegister, want)
	}

	rec = ts.do(http.MethodPost, verify, ctJSON, `{"user_id":7,"timestamp":null,"signature":"s"}`)
	if rec.Code != 200 || rec.Body.String() != `{"detail":"User verified successfully"}` || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("verify: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if v := gotVerify; v.UserID != (core.Value{Present: true, Text: "7", Number: true}) ||
		v.Timestamp != (core.Value{Present: true, Null: true}) || v.Signature != text("s") {
		t.Errorf("verify input %+v", v)
	}

	rec = ts.do(http.MethodPost, login, ctJSON, `{"login":"ann","password":"pw","extra":[1]}`)
	if rec.Code != 200 || rec.Body.String() != `{"detail":"Login successful","token":"tok"}` {
		t.Errorf("login: %d %s", rec.Code, rec.Body)
	}
	if gotLogin != (usecase.LoginInput{Login: text("ann"), Password: text("pw")}) {
		t.Errorf("login input %+v", gotLogin)
	}

	rec = ts.do(http.MethodPost, resend, ctJSON, `{}`)
	if rec.Code != 200 || gotResend != (usecase.ResendInput{}) {
		t.Errorf("resend: %d %s, input %+v", rec.Code, rec.Body, gotResend)
	}
}

// Whatever error a use case returns becomes DRF's answer with the status
// and headers the contract gives it, and the body never tells the cause.
func TestUseCaseErrorsBecomeDRFAnswers(t *testing.T) {
	for _, c := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		body       string
	}{
		{"field errors", &core.ValidationError{Fields: map[string][]string{"login": {core.MsgRequired}}}, 400, "", `{"login":["This field is required."]}`},
		{"detail", fmt.Errorf("login: %w", core.Detail(core.MsgLoginInvalid)), 400, "", `{"detail":"Login or password invalid."}`},
		{"throttled", &core.ThrottledError{Wait: 1500 * time.Millisecond}, 429, "2", `{"detail":"Request was throttled. Expected available in 2 seconds."}`},
		{"unavailable", fmt.Errorf("find: %w", core.ErrUnavailable), 503, "5", `{"detail":"Service temporarily unavailable, please try again later."}`},
		{"overloaded", core.ErrOverloaded, 503, "1", `{"detail":"Service temporarily unavailable, please try again later."}`},
		{"flow disabled", core.ErrFlowDisabled, 404, "", `{"detail":"Not found."}`},
		{"unexpected", errors.New("dial postgres://app:hunter2@db/restreg: refused"), 500, "", `{"detail":"A server error occurred."}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := newFakeServer(t, UseCases{Login: loginFunc(func(context.Context, usecase.LoginInput) (usecase.LoginResult, error) {
				return usecase.LoginResult{}, c.err
			})})
			rec := ts.do(http.MethodPost, login, ctJSON, `{"login":"ann","password":"pw"}`)
			if rec.Code != c.status || rec.Body.String() != c.body {
				t.Errorf("%d %s, want %d %s", rec.Code, rec.Body, c.status, c.body)
			}
			if got := rec.Header().Get("Retry-After"); got != c.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
			}
			if got := rec.Header().Get("Content-Length"); got != fmt.Sprint(len(c.body)) {
				t.Errorf("Content-Length %q for a body of %d bytes", got, len(c.body))
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Error("the body leaks the cause")
			}
		})
	}
}

// The answer to an error is a Go error that Huma writes by itself: its
// status, its Retry-After, and its cause for errors.Is.
func TestAPIErrorIsHumasStatusAndHeadersError(t *testing.T) {
	err := fmt.Errorf("operation: %w", mapError(fmt.Errorf("store: %w", core.ErrUnavailable)))
	var se huma.StatusError
	if !errors.As(err, &se) || se.GetStatus() != http.StatusServiceUnavailable {
		t.Fatalf("not a huma.StatusError with 503: %v", err)
	}
	var he huma.HeadersError
	if !errors.As(err, &he) || he.GetHeaders().Get("Retry-After") != "5" {
		t.Fatalf("not a huma.HeadersError with Retry-After 5: %v", err)
	}
	if !errors.Is(err, core.ErrUnavailable) {
		t.Error("the cause is lost")
	}
	if h := mapError(core.Detail("x")).GetHeaders(); h != nil {
		t.Errorf("a 400 carries headers %v", h)
	}
}

// Without a resend use case, resend-verification/ is switched off.
func TestMissingResendUseCaseAnswers404(t *testing.T) {
	ts := newFakeServer(t, UseCases{})
	assertJSON(t, ts.do(http.MethodPost, resend, ctJSON, `{"login":"ann"}`), 404, `{"detail":"Not found."}`)
}
