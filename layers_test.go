package restreg_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/restreg/restreg"

// isStdlib reports whether an import path belongs to the standard library:
// its first element has no dot.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// adapterOf returns the adapter a package of this module belongs to
// (adapters/<name>/…), or "".
func adapterOf(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/adapters/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// ioPackages are the standard library's doors to files, processes and the
// network, which core leaves to adapters and the composition.
var ioPackages = []string{"os", "os/exec", "io/ioutil", "net", "net/http", "database/sql", "syscall"}

// layerViolation names the rule an import from pkg to imp breaks, or "".
// The rules keep the hexagon's promise: the core decides without I/O
// libraries, ports name no technology, an adapter is chosen on its own, and
// the Core composition links no adapter, nor does the token middleware that
// other services import.
func layerViolation(pkg, imp string) string {
	within := func(root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }
	switch {
	case within(module + "/core"):
		if slices.Contains(ioPackages, imp) {
			return "core does no I/O: the application reads files and talks to the network"
		}
		if !isStdlib(imp) && !strings.HasPrefix(imp, "golang.org/x/") && !strings.HasPrefix(imp, module+"/core") && imp != module+"/ports" {
			return "core imports only the standard library, golang.org/x, core and ports"
		}
	case within(module + "/ports"):
		if adapterOf(imp) != "" || strings.HasPrefix(imp, module+"/app") {
			return "ports import no adapter and no app package"
		}
	case adapterOf(pkg) != "":
		if a := adapterOf(imp); a != "" && a != adapterOf(pkg) {
			return "an adapter imports no other adapter"
		}
		if imp == module || strings.HasPrefix(imp, module+"/app") || strings.HasPrefix(imp, module+"/examples") {
			return "an adapter imports no composition"
		}
	case within(module + "/tokenauth"):
		allowed := isStdlib(imp) || strings.HasPrefix(imp, "golang.org/x/") || strings.HasPrefix(imp, module+"/core") || imp == module+"/ports"
		if !allowed {
			return "the middleware for other services imports only core, ports, golang.org/x and the standard library: it links no adapter"
		}
	case pkg == module:
		allowed := isStdlib(imp) || strings.HasPrefix(imp, "golang.org/x/") || strings.HasPrefix(imp, "go.uber.org/fx") ||
			strings.HasPrefix(imp, module+"/core") || imp == module+"/ports" || imp == module+"/templates"
		if !allowed {
			return "the Core package imports only core, ports, templates, fx, golang.org/x and the standard library"
		}
	}
	return ""
}

// Every production import of the module keeps to the layers. Test files are
// not checked: a use-case test may run on an adapter as its fixture.
func TestImportsKeepToTheLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg := fields[0]
		for _, imp := range fields[1:] {
			checked++
			if rule := layerViolation(pkg, imp); rule != "" {
				t.Errorf("%s imports %s: %s", pkg, imp, rule)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list reported no imports to check")
	}
}

// The rules catch each kind of wrong import.
func TestLayerRulesRefuseWrongImports(t *testing.T) {
	for _, c := range []struct{ pkg, imp string }{
		{module + "/core", "github.com/google/uuid"},
		{module + "/core/email", "os"},
		{module + "/core/usecase", module + "/adapters/memstore"},
		{module + "/ports", module + "/adapters/memstore"},
		{module + "/adapters/httpapi", module + "/adapters/prommetrics"},
		{module + "/adapters/watermillpub/brokers", module + "/adapters/memstore"},
		{module + "/adapters/memstore", module + "/app/restreg"},
		{module, module + "/adapters/memlimit"},
		{module, "github.com/prometheus/client_golang/prometheus"},
		{module + "/tokenauth", module + "/adapters/memstore"},
		{module + "/tokenauth", module + "/app/restreg"},
		{module + "/tokenauth", "go.uber.org/fx"},
	} {
		if layerViolation(c.pkg, c.imp) == "" {
			t.Errorf("%s importing %s passed the layer rules", c.pkg, c.imp)
		}
	}
	for _, c := range []struct{ pkg, imp string }{
		{module + "/core/usecase", "golang.org/x/crypto/argon2"},
		{module + "/core/usecase", module + "/ports"},
		{module + "/core", "net/mail"},
		{module + "/adapters/watermillpub/brokers", module + "/adapters/watermillpub"},
		{module, "go.uber.org/fx"},
		{module + "/app/restreg", module + "/adapters/memstore"},
		{module + "/tokenauth", module + "/core/usecase"},
		{module + "/tokenauth", module + "/ports"},
		{module + "/tokenauth", "net/http"},
	} {
		if rule := layerViolation(c.pkg, c.imp); rule != "" {
			t.Errorf("%s importing %s refused: %s", c.pkg, c.imp, rule)
		}
	}
}
