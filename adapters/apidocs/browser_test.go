package apidocs

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// artifactsDir keeps the screenshot for a person to look at; it is
// git-ignored.
const artifactsDir = "testdata/artifacts"

// TestPageRendersTheRegisterOperationInChromium loads /docs/ in headless
// Chromium, with background networking off, and checks that Swagger UI
// rendered the operations of the served OpenAPI document.
func TestPageRendersTheRegisterOperationInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("needs headless Chromium; runs without -short (make test)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("headless Chromium is needed to render the docs page and %s is missing; install it with: apt-get install -y chromium", chromiumPath)
	}
	srv := newDocsServer(t)

	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Summary     string `json:"summary"`
		} `json:"paths"`
	}
	raw, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse the OpenAPI document: %v", err)
	}
	var registerPath, registerSummary string
	for p, ops := range doc.Paths {
		if strings.HasSuffix(p, "/register/") {
			registerPath, registerSummary = p, ops["post"].Summary
		}
	}
	if registerPath == "" || registerSummary == "" {
		t.Fatalf("the OpenAPI document has no register operation with a summary")
	}

	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot, err := filepath.Abs(filepath.Join(artifactsDir, "docs.png"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(shot)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(),
		"--window-size=1280,1400",
		// Virtual time runs the page's scripts and its fetch of the document
		// to completion before the DOM is dumped.
		"--virtual-time-budget=10000",
		"--screenshot="+shot,
		"--dump-dom",
		srv.URL+"/docs/",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 2000))
	}
	dom := stdout.String()

	if strings.Contains(dom, "Failed to load API definition") {
		t.Fatalf("Swagger UI could not load /openapi.json:\n%s", tail(dom, 2000))
	}
	for _, want := range []string{
		`data-path="` + registerPath + `"`,
		registerSummary,
		`opblock-post`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q (Swagger UI did not render the register operation)\n%s", want, tail(dom, 3000))
		}
	}
	info, err := os.Stat(shot)
	if err != nil || info.Size() == 0 {
		t.Errorf("no screenshot written to %s: %v", shot, err)
	} else {
		t.Logf("screenshot: %s", shot)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
