package restreg

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/adapters/passhash"
	"github.com/restreg/restreg/core"
)

// Version is set at build time with -ldflags "-X …/app/restreg.Version=v1.2.3".
var Version = ""

// Main runs the restreg command with args (without the program name) and
// returns its exit code. ctx ends the server (SIGINT/SIGTERM in the binary).
func Main(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, getenv, stdout, stderr)
	case "check":
		return checkCmd(args, getenv, stdout, stderr)
	case "openapi":
		return openapiCmd(args, getenv, stdout, stderr)
	case "import-django":
		return importDjangoCmd(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "restreg", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "restreg: unknown command %q\n%s", cmd, usage)
	return 2
}

const usage = `usage: restreg [command] [flags]

commands:
  serve     serve the API (default) [--config FILE] [--dev]
  check     validate the settings and exit non-zero on problems [--config FILE] [--dev]
  openapi   print the OpenAPI document [--format yaml|json] [--openapi 3.1|3.0]
  import-django
            copy the users and tokens of a Django database into the store
            --from URL [--dry-run] [--resume] (restreg import-django -h)
  version   print the version

Settings come from the defaults, then the YAML file given by --config, then
environment variables of the same names. --dev fills in what a local demo
needs: a generated SECRET_KEY kept in DATA_DIR, a verification URL, a From
address, and no rate limits (everything comes from 127.0.0.1).
`

func versionString() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}

// devDefaults are the settings a local demo needs and has no natural value for.
func devDefaults() Config {
	s := DefaultConfig()
	s.RegisterVerificationURL = "http://localhost:3000/verify-user/"
	// Every flow is served in a demo: the reset and e-mail change links
	// point at the same local frontend.
	s.ResetPasswordVerificationURL = "http://localhost:3000/reset-password/"
	s.RegisterEmailVerificationURL = "http://localhost:3000/verify-email/"
	s.VerificationFromEmail = "restreg <noreply@localhost>"
	// A local demo and the load tool send everything from 127.0.0.1; set
	// RATE_LIMIT_BACKEND=memory to try the limits locally.
	s.RateLimitBackend = "off"
	return s
}

// loadFor parses the flags shared by serve and check and loads the settings.
func loadFor(name string, args []string, getenv func(string) (string, bool), stderr io.Writer) (Config, bool, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "YAML settings file")
	dev := fs.Bool("dev", false, "local demo defaults (generated SECRET_KEY kept in DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return Config{}, false, usageError{err}
	}
	base := DefaultConfig()
	if *dev {
		base = devDefaults()
	}
	s, err := LoadSettings(base, *config, getenv)
	if err != nil {
		return s, *dev, err
	}
	if *dev && s.SecretKey == "" {
		key, err := devSecretKey(s.DataDir)
		if err != nil {
			return s, *dev, err
		}
		s.SecretKey = key
	}
	return s, *dev, s.Validate()
}

// devSecretKey reads DATA_DIR/secret_key, creating it with a random key on
// first use, so links stay valid across restarts of a demo.
func devSecretKey(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "secret_key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create DATA_DIR: %w", err)
	}
	raw := make([]byte, 48)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate SECRET_KEY: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store generated SECRET_KEY: %w", err)
	}
	return key, nil
}

func printProblems(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "restreg: "+line)
	}
}

func checkCmd(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	s, _, err := loadFor("check", args, getenv, stderr)
	if err != nil {
		if !errors.As(err, new(usageError)) {
			printProblems(stderr, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "settings OK: store=%s mail=%s events=%s listen=%s base_path=%s\n",
		s.Store, s.MailBackend, s.EventsBackend, s.ListenAddr, s.HTTP.BasePath)
	return 0
}

// usageError is a flag error, already printed by the flag package.
type usageError struct{ error }

func openapiCmd(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "yaml", "yaml or json")
	version := fs.String("openapi", "3.1", "3.1 or 3.0")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	s, h := DocumentSettings()
	if v, ok := getenv("BASE_PATH"); ok && v != "" {
		h.BasePath = v
	}
	doc, err := httpapi.OpenAPI(s, h)
	if err != nil {
		fmt.Fprintln(stderr, "restreg: openapi:", err)
		return 1
	}
	var out []byte
	switch {
	case *version == "3.1" && *format == "yaml":
		out = doc.YAML
	case *version == "3.1" && *format == "json":
		out = doc.JSON
	case *version == "3.0" && *format == "yaml":
		out = doc.YAML30
	case *version == "3.0" && *format == "json":
		out = doc.JSON30
	default:
		fmt.Fprintln(stderr, "restreg: openapi: --format must be yaml or json and --openapi 3.1 or 3.0")
		return 2
	}
	_, _ = stdout.Write(out)
	return 0
}

// DocumentSettings are the settings the committed OpenAPI document is
// generated from: the defaults, so the document describes every flow.
func DocumentSettings() (core.Settings, httpapi.Config) {
	s := devDefaults()
	s.SecretKey = "unused-for-documents"
	return s.Settings, s.HTTP
}

func serveCmd(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	s, dev, err := loadFor("serve", args, getenv, stderr)
	if err != nil {
		if !errors.As(err, new(usageError)) {
			printProblems(stderr, err)
		}
		return 1
	}
	log := NewLogger(s.Operations, stderr)
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(MemoryTarget(s.Hashing))
	}
	app, err := New(s, log, fx.Invoke(func(l *Listener, admin *AdminListener, lc fx.Lifecycle) {
		lc.Append(fx.Hook{OnStart: func(context.Context) error {
			printWhere(stdout, s, l, admin, dev)
			return nil
		}})
	}))
	if err != nil {
		printProblems(stderr, err)
		return 1
	}
	startCtx, cancel := context.WithTimeout(ctx, app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		if ctx.Err() != nil {
			// Asked to stop while starting (SIGTERM right after launch): fx
			// has stopped what had started, which is the shutdown asked for.
			log.Info("stopped during start-up")
			return 0
		}
		log.Error("start-up failed", "error", err)
		return 1
	}
	<-ctx.Done()
	log.Info("shutting down")
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		log.Error("shutdown incomplete", "error", err)
		return 1
	}
	return 0
}

// printWhere tells a person where the API, its docs and the mail are.
func printWhere(w io.Writer, s Config, l *Listener, admin *AdminListener, dev bool) {
	base := l.URL()
	fmt.Fprintf(w, "restreg %s listening on %s\n", versionString(), base)
	fmt.Fprintf(w, "  API:      %s%s/register/\n", base, strings.TrimRight(s.HTTP.BasePath, "/"))
	if s.DocsEnabled {
		fmt.Fprintf(w, "  docs:     %s/docs  (OpenAPI: %s/openapi.yaml)\n", base, base)
	} else {
		fmt.Fprintf(w, "  OpenAPI:  %s/openapi.yaml\n", base)
	}
	if u := admin.URL(); u != "" {
		fmt.Fprintf(w, "  admin:    %s/metrics, %s/debug/pprof/\n", u, u)
	}
	switch s.MailBackend {
	case "file":
		fmt.Fprintf(w, "  mail:     %s (one .eml file per message)\n", s.MailFileDir())
	default:
		fmt.Fprintf(w, "  mail:     %s\n", s.MailBackend)
	}
	if s.Store == "sqlite" {
		fmt.Fprintf(w, "  data:     %s\n", filepath.Join(s.DataDir, "restreg.db"))
	}
	if dev {
		fmt.Fprintf(w, "  secret:   kept in %s (development mode)\n", filepath.Join(s.DataDir, "secret_key"))
	}
	if s.RateLimitBackend == "off" {
		fmt.Fprintln(w, "  limits:   rate limiting is off (RATE_LIMIT_BACKEND=off)")
	}
}

// MemoryTarget is the soft memory limit serve sets unless GOMEMLIMIT is
// given: a base for the server plus twice the argon2id memory of every
// hashing slot. Each hash allocates its memory afresh, so without a limit the
// garbage collector lets the heap grow to a multiple of what is live when many
// registrations arrive at once.
func MemoryTarget(s passhash.Config) int64 {
	const base = 64 << 20
	perHash := int64(s.Argon2idMemoryKiB) << 10
	return base + 2*int64(s.HashConcurrency)*perHash
}

// NewLogger returns the slog logger LOG_LEVEL and LOG_FORMAT ask for.
func NewLogger(s Operations, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(s.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
