package client_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/openapi/client"
)

func TestGeneratedClientIsCurrent(t *testing.T) {
	cmd := exec.Command("go", "tool", "oapi-codegen", "-generate", "types,client", "-package", "client", "../openapi-3.0.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fresh, err := cmd.Output()
	if err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, stderr.String())
	}
	committed, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Fatal("client.gen.go is stale: run go generate ./openapi/client/ and commit the result")
	}
}

var link = regexp.MustCompile(`user_id=([^&\s]+)&timestamp=(\d+)&signature=([A-Za-z0-9_-]+)`)

// The committed OpenAPI 3.0 document is enough to build a client that
// registers, verifies from the mailed link and logs in.
func TestGeneratedClientDrivesRegisterVerifyLogin(t *testing.T) {
	dir := t.TempDir()
	s := restreg.DefaultConfig()
	s.SecretKey = "generated-client-test-key-9b3d6f1a8c2e5047b6d9f2a4c8e1"
	s.RegisterVerificationURL = "https://frontend-host/verify-user/"
	s.VerificationFromEmail = "noreply@example.com"
	s.ListenAddr = "127.0.0.1:0"
	s.Store = "memory"
	s.FileMail.Dir = filepath.Join(dir, "mail")
	s.RateLimitBackend = "off"
	s.Hashing.Argon2idMemoryKiB, s.Hashing.Argon2idIterations = 64, 1
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := restreg.Start(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()

	c, err := client.NewClientWithResponses(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	email := "ann@example.com"
	password := "correct horse battery"
	reg, err := c.RegisterWithResponse(ctx, client.RegisterJSONRequestBody{
		Username: "ann", Email: (*openapi_types.Email)(&email), Password: &password, PasswordConfirm: &password,
	})
	if err != nil {
		t.Fatal(err)
	}
	if reg.JSON201 == nil || reg.JSON201.Username != "ann" {
		t.Fatalf("register: %d %s", reg.StatusCode(), reg.Body)
	}

	// Documented errors decode into the documented shapes too.
	again, err := c.RegisterWithResponse(ctx, client.RegisterJSONRequestBody{
		Username: "ann", Email: (*openapi_types.Email)(&email), Password: &password, PasswordConfirm: &password,
	})
	if err != nil || again.StatusCode() != 400 || !bytes.Contains(again.Body, []byte("A user with that username already exists.")) {
		t.Fatalf("duplicate register: %v %d %s", err, again.StatusCode(), again.Body)
	}

	mails, _ := filepath.Glob(filepath.Join(s.FileMail.Dir, "*.eml"))
	if len(mails) != 1 {
		t.Fatalf("%d mails, want 1", len(mails))
	}
	raw, err := os.ReadFile(mails[0])
	if err != nil {
		t.Fatal(err)
	}
	m := link.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("no link in the mail")
	}
	var ts int64
	for _, d := range m[2] {
		ts = ts*10 + int64(d-'0')
	}
	ver, err := c.VerifyRegistrationWithResponse(ctx, client.VerifyRegistrationJSONRequestBody{UserId: m[1], Timestamp: ts, Signature: m[3]})
	if err != nil {
		t.Fatal(err)
	}
	if ver.JSON200 == nil || ver.JSON200.Detail != "User verified successfully" {
		t.Fatalf("verify: %d %s", ver.StatusCode(), ver.Body)
	}
	login, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{Login: "ann", Password: &password})
	if err != nil {
		t.Fatal(err)
	}
	if login.JSON200 == nil || login.JSON200.Token == nil || len(*login.JSON200.Token) != 40 {
		t.Fatalf("login: %d %s", login.StatusCode(), login.Body)
	}

	// The authenticated operations, with the token the document describes.
	withToken := func(token string) client.RequestEditorFn {
		return func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Token "+token)
			return nil
		}
	}
	token := *login.JSON200.Token
	anonymous, err := c.GetProfileWithResponse(ctx)
	if err != nil || anonymous.JSON401 == nil || anonymous.JSON401.Detail != "Authentication credentials were not provided." {
		t.Fatalf("profile without a token: %v %d %s", err, anonymous.StatusCode(), anonymous.Body)
	}
	first := "Ann"
	patched, err := c.PatchProfileWithResponse(ctx, client.PatchProfileJSONRequestBody{FirstName: &first}, withToken(token))
	if err != nil || patched.JSON200 == nil || *patched.JSON200.FirstName != "Ann" || *patched.JSON200.Username != "ann" {
		t.Fatalf("patch profile: %v %d %s", err, patched.StatusCode(), patched.Body)
	}
	profile, err := c.GetProfileWithResponse(ctx, withToken(token))
	if err != nil || profile.JSON200 == nil || *profile.JSON200.FirstName != "Ann" || *profile.JSON200.Email != email ||
		*profile.JSON200.Id != reg.JSON201.Id {
		t.Fatalf("profile: %v %d %s", err, profile.StatusCode(), profile.Body)
	}
	other, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{Login: "ann", Password: &password})
	if err != nil || other.JSON200 == nil {
		t.Fatalf("second login: %v", err)
	}
	wrong, newPassword := "not the password", "saffron-Kettle-9031"
	refused, err := c.ChangePasswordWithResponse(ctx, client.ChangePasswordJSONRequestBody{OldPassword: &wrong, Password: &newPassword, PasswordConfirm: &newPassword}, withToken(token))
	if err != nil || refused.StatusCode() != 400 || !bytes.Contains(refused.Body, []byte("Old password is not correct")) {
		t.Fatalf("change-password with a wrong old password: %v %d %s", err, refused.StatusCode(), refused.Body)
	}
	changed, err := c.ChangePasswordWithResponse(ctx, client.ChangePasswordJSONRequestBody{OldPassword: &password, Password: &newPassword, PasswordConfirm: &newPassword}, withToken(token))
	if err != nil || changed.JSON200 == nil || changed.JSON200.Detail != "Password changed successfully" {
		t.Fatalf("change-password: %v %d %s", err, changed.StatusCode(), changed.Body)
	}
	revoked, err := c.GetProfileWithResponse(ctx, withToken(*other.JSON200.Token))
	if err != nil || revoked.JSON401 == nil || revoked.JSON401.Detail != "Invalid token." {
		t.Fatalf("the other session after the change: %v %d %s", err, revoked.StatusCode(), revoked.Body)
	}
}
