// Package decorator is the one place where cross-cutting concerns wrap
// restreg's use cases, whoever calls them (the HTTP API, a library user's
// own adapter, a job).
//
// What belongs here is what every caller of a use case needs and no caller
// should have to remember: today, a structured log line for each failure
// that says which use case failed, for which request, at a level that
// matches the failure (an outage is a warning, an unexpected error an
// error; refusals the contract expects — validation, throttling, a switched
// off flow — and callers that left are only worth a debug line). The input
// is never logged: it holds passwords and signatures.
//
// What belongs in the HTTP middleware is what concerns the transport: the
// access log with status and duration, request ids, body limits, panics,
// CORS, and turning errors into DRF bodies. The two meet at the request id,
// which the HTTP adapter puts into the context and the log lines here repeat.
package decorator

import (
	"context"
	"errors"
	"log/slog"

	"github.com/restreg/restreg/core"
)

// CommandHandler is a use case: it handles one input and answers with a
// result or an error.
type CommandHandler[C, R any] interface {
	Handle(ctx context.Context, cmd C) (R, error)
}

// HandlerFunc turns a function into a CommandHandler.
type HandlerFunc[C, R any] func(ctx context.Context, cmd C) (R, error)

// Handle calls f.
func (f HandlerFunc[C, R]) Handle(ctx context.Context, cmd C) (R, error) { return f(ctx, cmd) }

// ApplyDecorators wraps the use case named name (e.g. "register") in the
// cross-cutting concerns every use case gets: today the failure log on log
// (nil: the default logger).
func ApplyDecorators[C, R any](name string, h CommandHandler[C, R], log *slog.Logger) CommandHandler[C, R] {
	if log == nil {
		log = slog.Default()
	}
	return logging[C, R]{name: name, next: h, log: log}
}

// logging logs the failures of the use case it wraps.
type logging[C, R any] struct {
	name string
	next CommandHandler[C, R]
	log  *slog.Logger
}

// Handle calls the use case and logs its failure, if any.
func (d logging[C, R]) Handle(ctx context.Context, cmd C) (R, error) {
	res, err := d.next.Handle(ctx, cmd)
	if err != nil {
		logFailure(ctx, d.log, d.name, err)
	}
	return res, err
}

// logFailure logs err, the failure of use case name, at the level its kind
// deserves; see the package comment.
func logFailure(ctx context.Context, log *slog.Logger, name string, err error) {
	level, msg := classify(ctx, err)
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("use_case", name), slog.String("error", err.Error())}
	if id := core.RequestInfoFrom(ctx).ID; id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
}

// classify returns the level and message a use case's failure is logged with.
func classify(ctx context.Context, err error) (slog.Level, string) {
	var (
		invalid   *core.ValidationError
		detail    *core.DetailError
		throttled *core.ThrottledError
	)
	switch {
	case ctx.Err() != nil:
		// The caller left or gave up, and whatever failed after that (a
		// store interrupted mid-query says so in its own words) failed
		// because of it: nothing went wrong on this side.
		return slog.LevelDebug, "use case abandoned by its caller"
	case errors.As(err, &invalid), errors.As(err, &detail), errors.As(err, &throttled),
		errors.Is(err, core.ErrFlowDisabled):
		return slog.LevelDebug, "use case refused the request"
	case errors.Is(err, core.ErrUnavailable), errors.Is(err, core.ErrOverloaded):
		return slog.LevelWarn, "use case failed: dependency unavailable or overloaded"
	default:
		return slog.LevelError, "use case failed"
	}
}

// ActionHandler is a use case whose only answer is its error, such as
// resend-verification/, which tells the client nothing.
type ActionHandler[C any] interface {
	Handle(ctx context.Context, cmd C) error
}

// ActionFunc turns a function into an ActionHandler.
type ActionFunc[C any] func(ctx context.Context, cmd C) error

// Handle calls f.
func (f ActionFunc[C]) Handle(ctx context.Context, cmd C) error { return f(ctx, cmd) }

// ApplyActionDecorators is ApplyDecorators for an ActionHandler: the same
// concerns, in the same order.
func ApplyActionDecorators[C any](name string, h ActionHandler[C], log *slog.Logger) ActionHandler[C] {
	wrapped := ApplyDecorators[C, struct{}](name, HandlerFunc[C, struct{}](func(ctx context.Context, cmd C) (struct{}, error) {
		return struct{}{}, h.Handle(ctx, cmd)
	}), log)
	return ActionFunc[C](func(ctx context.Context, cmd C) error {
		_, err := wrapped.Handle(ctx, cmd)
		return err
	})
}
