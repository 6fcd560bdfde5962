package restreg

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/restreg/restreg/core/usecase"
	"github.com/restreg/restreg/ports"
)

// ImportInto runs import-django's work from src into store (a running
// server's), keeping the conflicts and checkpoint files at the given paths;
// resume continues after the checkpoint.
func ImportInto(ctx context.Context, s Config, src ports.ImportSource, store ports.Store, conflicts, checkpoint string, resume bool, stdout io.Writer) (usecase.ImportReport, error) {
	f := importFlags{conflicts: conflicts, checkpoint: checkpoint, resume: resume, batch: 4, workers: 3, progress: "never"}
	return runImport(ctx, s, src, store, f, stdout, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// RenderProgress is the import's progress line.
func RenderProgress(done, total int64, elapsed time.Duration) string {
	return renderProgress(done, total, elapsed)
}
