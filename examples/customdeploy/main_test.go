package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg"
	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/memstore"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// inbox is the mailer this test writes: it keeps what it was given.
type inbox struct {
	mu   sync.Mutex
	msgs []core.Message
}

func (b *inbox) Send(_ context.Context, msg core.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, msg)
	return nil
}

func (b *inbox) received() []core.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]core.Message(nil), b.msgs...)
}

// The composition registers a user over HTTP and hands the verification
// e-mail to the application's own mailer.
func TestCustomDeploymentRegistersAndMails(t *testing.T) {
	s := core.DefaultSettings()
	s.SecretKey = "customdeploy-secret-key-for-tests-only-5f1c8e27a9d34b60"
	s.RegisterVerificationURL = "https://app.example.com/verify-user/"
	s.VerificationFromEmail = "noreply@example.com"
	hashing := passhash.DefaultConfig()
	hashing.Argon2idMemoryKiB, hashing.Argon2idIterations = 64, 1
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	mail := &inbox{}
	var listener *httpapi.Listener
	app := fx.New(
		fx.NopLogger,
		deployment(s, hashing, httpapi.ServeConfig{ListenAddr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler)),
		fx.Provide(fx.Annotate(func() *inbox { return mail }, fx.As(new(ports.Mailer)))),
		fx.Populate(&listener),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	defer func() {
		if err := app.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()

	body := `{"username":"ann","email":"ann@example.com","password":"correct horse battery","password_confirm":"correct horse battery"}`
	resp, err := http.Post(listener.URL()+httpapi.DefaultConfig().BasePath+"/register/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var user map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&user); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || user["username"] != "ann" {
		t.Fatalf("register answered %d %v, want 201 with the new user", resp.StatusCode, user)
	}
	for deadline := time.Now().Add(10 * time.Second); len(mail.received()) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the application's mailer never received the verification e-mail")
		}
		time.Sleep(20 * time.Millisecond)
	}
	msg := mail.received()[0]
	if len(msg.To) != 1 || msg.To[0] != "ann@example.com" || !strings.Contains(msg.Text, s.RegisterVerificationURL+"?user_id=") {
		t.Errorf("verification e-mail = %+v, want one to ann@example.com with a link to %s", msg, s.RegisterVerificationURL)
	}
}

// The composition links no adapter it does not use: Core and the chosen
// adapters pull in no database driver, broker client, SendGrid or Prometheus.
func TestCustomDeploymentLinksOnlyItsAdapters(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	forbidden := []string{
		"go.mongodb.org/", "github.com/FerretDB/", "modernc.org/sqlite", "github.com/jackc/pgx",
		"github.com/nats-io/", "github.com/ThreeDotsLabs/watermill-nats", "github.com/rabbitmq/",
		"github.com/ThreeDotsLabs/watermill-amqp", "github.com/redis/", "github.com/ThreeDotsLabs/watermill-redisstream",
		"github.com/sendgrid/", "github.com/prometheus/",
		"github.com/restreg/restreg/app/", "github.com/restreg/restreg/adapters/sqlitestore",
		"github.com/restreg/restreg/adapters/smtpmail",
	}
	for _, p := range pkgs {
		for _, f := range forbidden {
			if strings.HasPrefix(p, f) {
				t.Errorf("the custom deployment links %s", p)
			}
		}
	}
	t.Logf("the custom deployment links %d packages", len(pkgs))
}

// Core has no hidden rate limiter: a composition without one does not
// start, rather than silently counting requests in memory.
func TestCoreRequiresARateLimiter(t *testing.T) {
	s := core.DefaultSettings()
	s.SecretKey = "customdeploy-secret-key-for-tests-only-5f1c8e27a9d34b60"
	s.RegisterVerificationURL = "https://app.example.com/verify-user/"
	s.VerificationFromEmail = "noreply@example.com"
	err := fx.ValidateApp(fx.NopLogger,
		fx.Supply(s, slog.New(slog.DiscardHandler), httpapi.DefaultServeConfig(), httpapi.DefaultConfig(), passhash.DefaultConfig(), watermillpub.DefaultConfig()),
		restreg.SystemClock, restreg.Core,
		memstore.Module, watermillpub.GoChannelModule, passhash.Module, httpapi.Edge,
		fx.Provide(fx.Annotate(func() *inbox { return &inbox{} }, fx.As(new(ports.Mailer)))),
	)
	if err == nil || !strings.Contains(err.Error(), "ports.RateLimiter") {
		t.Fatalf("Core without a rate limiter: err = %v, want one naming ports.RateLimiter", err)
	}
	err = fx.ValidateApp(fx.NopLogger,
		fx.Supply(s, slog.New(slog.DiscardHandler), httpapi.DefaultServeConfig(), httpapi.DefaultConfig(), passhash.DefaultConfig(), watermillpub.DefaultConfig()),
		restreg.SystemClock, restreg.Core, restreg.Unlimited,
		memstore.Module, watermillpub.GoChannelModule, passhash.Module, httpapi.Edge,
		fx.Provide(fx.Annotate(func() *inbox { return &inbox{} }, fx.As(new(ports.Mailer)))),
	)
	if err != nil {
		t.Fatalf("Core with restreg.Unlimited: %v", err)
	}
}

// README's "Composing your own deployment" shows this very program.
func TestREADMEShowsThisProgram(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	program := string(src[strings.Index(string(src), "package main"):])
	if !strings.Contains(string(readme), "```go\n"+program+"```\n") {
		t.Error("README.md does not show examples/customdeploy/main.go as it is; copy it from \"package main\" on")
	}
}
