package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/restreg/restreg/core"
)

// Messages of the HTTP contract that belong to the transport rather than to
// a use case.
const (
	msgNotFound           = "Not found."
	msgBodyTooLarge       = "Request body too large."
	msgUnavailable        = "Service temporarily unavailable, please try again later."
	msgServerError        = "A server error occurred."
	msgJSONParseError     = "JSON parse error - "
	msgNoData             = "No data provided"
	msgUnreadableBody     = "The request body could not be read."
	msgClientClosed       = "Client closed request."
	nonFieldErrorsKey     = "non_field_errors"
	retryAfterOverloaded  = 1
	retryAfterUnavailable = 5
)

// StatusClientClosedRequest is the status of a request whose client hung up
// before the answer was ready (nginx's 499). No client ever receives it; it
// is what the access log and the metrics show instead of a server error.
const StatusClientClosedRequest = 499

var (
	// errNotFound: no route matches the path.
	errNotFound = errors.New("no such resource")
	// errBodyTooLarge: the body exceeds MAX_BODY_BYTES.
	errBodyTooLarge = errors.New("request body too large")
)

// methodNotAllowedError is a known path asked with a method it does not serve.
type methodNotAllowedError struct{ method string }

func (e *methodNotAllowedError) Error() string { return "method " + e.method + " not allowed" }

// bodyReadError is a body that broke off or timed out while being read.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "read request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// failure is the answer to an error: status, body and, for 429 and 503, how
// many seconds the client should wait.
type failure struct {
	status     int
	body       any
	retryAfter int
	// internal marks answers that hide an unexpected error, which is logged.
	internal bool
}

// detail is DRF's general error body.
func detail(msg string) map[string]string { return map[string]string{"detail": msg} }

// mapError is the one place where an error becomes an HTTP answer. Anything
// it does not recognise is a 500 whose body says nothing about the cause.
func mapError(err error) failure {
	var (
		verr    *core.ValidationError
		derr    *core.DetailError
		jerr    *jsonSyntaxError
		nerr    *notObjectError
		merr    *unsupportedMediaTypeError
		methErr *methodNotAllowedError
		readErr *bodyReadError
		thrErr  *core.ThrottledError
	)
	switch {
	case errors.As(err, &thrErr):
		// DRF's answer to a throttled request: its message and Retry-After
		// in whole seconds, rounded up.
		return failure{status: http.StatusTooManyRequests, body: detail(core.ThrottledMessage(thrErr.Wait)), retryAfter: thrErr.WaitSeconds()}
	case errors.As(err, &verr):
		return failure{status: http.StatusBadRequest, body: fieldErrorsBody(verr)}
	case errors.As(err, &derr):
		return failure{status: http.StatusBadRequest, body: detail(derr.Detail)}
	case errors.As(err, &jerr):
		return failure{status: http.StatusBadRequest, body: detail(msgJSONParseError + jerr.msg)}
	case errors.As(err, &nerr):
		msg := "Invalid data. Expected a dictionary, but got " + nerr.typeName + "."
		if nerr.typeName == "NoneType" {
			// DRF's serializer says this for a null body instead.
			msg = msgNoData
		}
		return failure{status: http.StatusBadRequest, body: map[string][]string{nonFieldErrorsKey: {msg}}}
	case errors.As(err, &merr):
		return failure{status: http.StatusUnsupportedMediaType, body: detail("Unsupported media type \"" + merr.contentType + "\" in request.")}
	case errors.As(err, &methErr):
		return failure{status: http.StatusMethodNotAllowed, body: detail("Method \"" + methErr.method + "\" not allowed.")}
	case errors.Is(err, errBodyTooLarge):
		return failure{status: http.StatusRequestEntityTooLarge, body: detail(msgBodyTooLarge)}
	case errors.As(err, &readErr):
		return failure{status: http.StatusBadRequest, body: detail(msgUnreadableBody)}
	case errors.Is(err, errNotFound), errors.Is(err, core.ErrFlowDisabled):
		return failure{status: http.StatusNotFound, body: detail(msgNotFound)}
	case errors.Is(err, core.ErrOverloaded):
		return failure{status: http.StatusServiceUnavailable, body: detail(msgUnavailable), retryAfter: retryAfterOverloaded}
	case errors.Is(err, core.ErrUnavailable):
		return failure{status: http.StatusServiceUnavailable, body: detail(msgUnavailable), retryAfter: retryAfterUnavailable}
	default:
		return failure{status: http.StatusInternalServerError, body: detail(msgServerError), internal: true}
	}
}

// clientGone reports whether the client of the request whose context is ctx
// has hung up: net/http cancels a request's context when its connection
// closes.
func clientGone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// requestFailure is mapError for an error met while serving the request
// whose context is ctx. Once the client has hung up, a failure is the
// cancellation surfacing in a dependency (a hashing slot given up, a query
// interrupted, whatever the driver calls it), not a fault of the server:
// it is answered 499 rather than 5xx. Answers decided on the request's own
// merits (4xx) keep their status.
func requestFailure(ctx context.Context, err error) failure {
	f := mapError(err)
	if f.status >= http.StatusInternalServerError && clientGone(ctx) {
		return failure{status: StatusClientClosedRequest, body: detail(msgClientClosed)}
	}
	return f
}

// fieldErrorsBody is DRF's `{"field": ["message", …]}` body.
func fieldErrorsBody(e *core.ValidationError) map[string][]string {
	body := make(map[string][]string, len(e.Fields)+1)
	for field, msgs := range e.Fields {
		body[field] = msgs
	}
	if len(e.NonFieldErrors) > 0 || e.ShowNonFieldErrors {
		nfe := e.NonFieldErrors
		if nfe == nil {
			nfe = []string{}
		}
		body[nonFieldErrorsKey] = nfe
	}
	return body
}

// encodeJSON renders body like DRF's JSON renderer: compact, non-ASCII kept
// as is.
func encodeJSON(body any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		// Bodies are maps and structs of strings; this cannot happen.
		return []byte(`{"detail":"` + msgServerError + `"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// writeJSON writes a complete JSON response.
func writeJSON(w http.ResponseWriter, status int, body any) {
	b := encodeJSON(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeFailure writes the answer mapError chose.
func writeFailure(w http.ResponseWriter, f failure) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
	}
	writeJSON(w, f.status, f.body)
}
