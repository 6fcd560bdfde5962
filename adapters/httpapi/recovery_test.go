package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// sendResetFunc is a fake ResetLinkSender.
type sendResetFunc func(context.Context, usecase.SendResetInput) (usecase.SendResetResult, error)

func (f sendResetFunc) Handle(ctx context.Context, in usecase.SendResetInput) (usecase.SendResetResult, error) {
	return f(ctx, in)
}

// resetFunc is a fake PasswordResetter.
type resetFunc func(context.Context, usecase.ResetPasswordInput) error

func (f resetFunc) Handle(ctx context.Context, in usecase.ResetPasswordInput) error {
	return f(ctx, in)
}

// registerEmailFunc is a fake EmailRegisterer.
type registerEmailFunc func(context.Context, usecase.RegisterEmailInput) error

func (f registerEmailFunc) Handle(ctx context.Context, in usecase.RegisterEmailInput) error {
	return f(ctx, in)
}

// verifyEmailFunc is a fake EmailVerifier.
type verifyEmailFunc func(context.Context, usecase.VerifyEmailInput) error

func (f verifyEmailFunc) Handle(ctx context.Context, in usecase.VerifyEmailInput) error {
	return f(ctx, in)
}

// recoverySettings serve the reset and e-mail change flows and verification
// by GET.
func recoverySettings(s *testConfig) {
	s.ResetPasswordVerificationURL = "https://frontend-host/reset-password/"
	s.RegisterEmailVerificationURL = "https://frontend-host/verify-email/"
	s.VerificationRedirectSuccessURL = "https://frontend-host/verified/"
	s.VerificationRedirectFailureURL = "https://frontend-host/not-verified/"
}

// recoveryFakes answer by the request's words: the signature "good" and the
// login "ann" succeed, "down" is an outage; everything else is refused as
// the use cases refuse it.
func recoveryFakes(uc *UseCases) {
	outcome := func(v core.Value, what string) error {
		switch {
		case !v.Present:
			return &core.ValidationError{Fields: map[string][]string{what: {core.MsgRequired}}}
		case v.Text == "down":
			return core.ErrUnavailable
		case v.Text != "good":
			return core.Detail(core.MsgInvalidSignature)
		}
		return nil
	}
	uc.SendResetLink = sendResetFunc(func(_ context.Context, in usecase.SendResetInput) (usecase.SendResetResult, error) {
		if !in.Login.Present {
			return usecase.SendResetResult{}, &core.ValidationError{Fields: map[string][]string{"login": {core.MsgRequired}}}
		}
		return usecase.SendResetResult{Detail: core.MsgResetLinkSentIfExists}, nil
	})
	uc.ResetPassword = resetFunc(func(_ context.Context, in usecase.ResetPasswordInput) error {
		if in.Password.Text != "" && in.Password.Text == in.UserID.Text {
			return &core.ValidationError{ShowNonFieldErrors: true, NonFieldErrors: []string{},
				Fields: map[string][]string{"password": {"The password is too similar to the username."}}}
		}
		return outcome(in.Signature, "signature")
	})
	uc.RegisterEmail = registerEmailFunc(func(_ context.Context, in usecase.RegisterEmailInput) error {
		if in.User.ID == "" {
			return errors.New("register-email/ called without its user")
		}
		if in.Email.Text == "not-an-address" {
			return &core.ValidationError{Fields: map[string][]string{"email": {core.MsgInvalidEmail}}}
		}
		return nil
	})
	uc.VerifyEmail = verifyEmailFunc(func(_ context.Context, in usecase.VerifyEmailInput) error {
		if in.Email.Text == "taken@example.com" {
			return core.Detail(core.MsgEmailAlreadyRegistered)
		}
		return outcome(in.Signature, "signature")
	})
}

// newRecoveryGoldenServer is the golden "recovery" server: the real
// registration use cases over the golden fakes, and fakes for the reset and
// e-mail change operations.
func newRecoveryGoldenServer(t *testing.T, s testConfig) *Server {
	t.Helper()
	policy, err := core.NewPasswordPolicy(s.PasswordValidators, s.PasswordMinLength)
	if err != nil {
		t.Fatal(err)
	}
	uc := realUseCases(s.Settings, realPorts{Store: goldenStore{&fakeStore{}}, Hasher: fakeHasher{}, Policy: policy,
		Signer: goldenSigner{}, Tokens: fakeTokens{}, Limiter: goldenLimiter{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Accounts: goldenAccounts{}, TokenStore: goldenTokens{}})
	recoveryFakes(&uc)
	srv, err := New(s.Settings, s.Config, uc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// With verification by GET on, the document has the GET operations and
// stays valid; the paths allow GET.
func TestOpenAPIDocumentsVerificationByGET(t *testing.T) {
	s := testSettings()
	recoverySettings(&s)
	docs, err := OpenAPI(s.Settings, s.Config)
	if err != nil {
		t.Fatal(err)
	}
	doc := loadDoc(t, docs.JSON)
	for _, path := range []string{"/api/v1/accounts/verify-registration/", "/api/v1/accounts/verify-email/"} {
		op := doc.Paths.Find(path).Get
		if op == nil || op.Responses.Value("302") == nil || len(op.Parameters) < 3 {
			t.Fatalf("GET %s is not documented with its 302 and parameters", path)
		}
	}
	ts := newRecoveryGoldenServer(t, s)
	req, _ := http.NewRequest(http.MethodPut, "/api/v1/accounts/verify-email/", nil)
	rec := &recorderForTest{header: http.Header{}}
	ts.ServeHTTP(rec, req)
	if rec.status != http.StatusMethodNotAllowed || rec.header.Get("Allow") != "GET, POST, HEAD, OPTIONS" {
		t.Fatalf("PUT verify-email/: %d, Allow %q", rec.status, rec.header.Get("Allow"))
	}
}

// recorderForTest is a minimal http.ResponseWriter.
type recorderForTest struct {
	header http.Header
	status int
}

func (r *recorderForTest) Header() http.Header { return r.header }
func (r *recorderForTest) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *recorderForTest) WriteHeader(status int) { r.status = status }
