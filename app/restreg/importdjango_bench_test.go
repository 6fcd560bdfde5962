package restreg_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/restreg/restreg/adapters/djangodb/djangotest"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core/usecase"
)

// BenchmarkImportDjango runs restreg import-django on a Django database in
// PostgreSQL holding RESTREG_IMPORT_BENCH_USERS generated users (default
// 100,000, each with a DRF token) into a new SQLite store and into a new
// PostgreSQL store, and reports users/s for each, measured in one run.
// RESTREG_IMPORT_BENCH_WORKERS, a comma-separated list, compares values of
// --workers (default: the command's default):
//
//	go test -run '^$' -bench BenchmarkImportDjango -benchtime 1x ./app/restreg/
func BenchmarkImportDjango(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("RESTREG_IMPORT_BENCH_USERS")); err == nil && v > 0 {
		n = v
	}
	d := djangotest.Postgres(b)
	d.Generate(b, 1, n)
	workers := []string{strconv.Itoa(usecase.DefaultImportWorkers)}
	if v := os.Getenv("RESTREG_IMPORT_BENCH_WORKERS"); v != "" {
		workers = strings.Split(v, ",")
	}
	for _, store := range []string{"sqlite", "postgres"} {
		for _, w := range workers {
			b.Run(store+"/workers="+w, func(b *testing.B) { benchImport(b, d, store, w, n) })
		}
	}
}

// benchImport imports the n users of d into a new store b.N times.
func benchImport(b *testing.B, d *djangotest.Database, store, workers string, n int) {
	for b.Loop() {
		b.StopTimer()
		env := importEnv(b, store)
		b.StartTimer()
		var stdout, stderr bytes.Buffer
		args := []string{"import-django", "--from", d.URL, "--progress", "never", "--workers", workers}
		if code := restreg.Main(context.Background(), args, envOf(env), &stdout, &stderr); code != 0 {
			b.Fatalf("import-django exited %d: %s", code, stderr.String())
		}
		b.StopTimer()
		if m := summaryRe.FindStringSubmatch(stdout.String()); m == nil || m[3] != strconv.Itoa(n) {
			b.Fatalf("summary %q: want %d users created", stdout.String(), n)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "users/s")
}
