package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

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

// apiError is an answer that is not a success: its status, its DRF body
// and, for 429 and 503, how many seconds the client should wait. Operations
// return it as their error; Huma writes it as huma.StatusError and
// huma.HeadersError, and the DRF renderer (drfJSON) writes body alone. The
// cause stays in err for the log and never reaches the client.
type apiError struct {
	status     int
	body       any
	retryAfter int
	// challenge marks a 401, which carries WWW-Authenticate: Token (the
	// scheme the client should authenticate with, as DRF answers).
	challenge bool
	// internal marks answers that hide an unexpected error, which is logged.
	internal bool
	err      error
}

// Error describes the answer and its cause, for logs.
func (e *apiError) Error() string {
	if e.err == nil {
		return strconv.Itoa(e.status) + " " + http.StatusText(e.status)
	}
	return strconv.Itoa(e.status) + " " + http.StatusText(e.status) + ": " + e.err.Error()
}

// Unwrap returns the cause.
func (e *apiError) Unwrap() error { return e.err }

// GetStatus is the answer's status (huma.StatusError).
func (e *apiError) GetStatus() int { return e.status }

// GetHeaders carries Retry-After when the client should wait, and
// WWW-Authenticate on a 401 (huma.HeadersError).
func (e *apiError) GetHeaders() http.Header {
	h := http.Header{}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.challenge {
		h.Set("WWW-Authenticate", core.AuthenticateChallenge)
	}
	if len(h) == 0 {
		return nil
	}
	return h
}

var (
	_ huma.StatusError  = (*apiError)(nil)
	_ huma.HeadersError = (*apiError)(nil)
)

// mapError is the one place where an error becomes an HTTP answer. Anything
// it does not recognise is a 500 whose body says nothing about the cause.
func mapError(err error) *apiError {
	e := answerFor(err)
	e.err = err
	return e
}

func answerFor(err error) *apiError {
	var (
		verr    *core.ValidationError
		derr    *core.DetailError
		jerr    *jsonSyntaxError
		nerr    *notObjectError
		merr    *unsupportedMediaTypeError
		methErr *methodNotAllowedError
		readErr *bodyReadError
		thrErr  *core.ThrottledError
		authErr *core.AuthError
	)
	switch {
	case errors.As(err, &authErr):
		// DRF's NotAuthenticated and AuthenticationFailed: the message,
		// never the token.
		return &apiError{status: http.StatusUnauthorized, body: detailOf(authErr.Detail), challenge: true}
	case errors.As(err, &thrErr):
		// DRF's answer to a throttled request: its message and Retry-After
		// in whole seconds, rounded up.
		return &apiError{status: http.StatusTooManyRequests, body: detailOf(core.ThrottledMessage(thrErr.Wait)), retryAfter: thrErr.WaitSeconds()}
	case errors.As(err, &verr):
		return &apiError{status: http.StatusBadRequest, body: fieldErrorsBody(verr)}
	case errors.As(err, &derr):
		return &apiError{status: http.StatusBadRequest, body: detailOf(derr.Detail)}
	case errors.As(err, &jerr):
		return &apiError{status: http.StatusBadRequest, body: detailOf(msgJSONParseError + jerr.msg)}
	case errors.As(err, &nerr):
		msg := "Invalid data. Expected a dictionary, but got " + nerr.typeName + "."
		if nerr.typeName == "NoneType" {
			// DRF's serializer says this for a null body instead.
			msg = msgNoData
		}
		return &apiError{status: http.StatusBadRequest, body: fieldErrors{nonFieldErrorsKey: {msg}}}
	case errors.As(err, &merr):
		return &apiError{status: http.StatusUnsupportedMediaType, body: detailOf("Unsupported media type \"" + merr.contentType + "\" in request.")}
	case errors.As(err, &methErr):
		return &apiError{status: http.StatusMethodNotAllowed, body: detailOf("Method \"" + methErr.method + "\" not allowed.")}
	case errors.Is(err, errBodyTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, body: detailOf(msgBodyTooLarge)}
	case errors.As(err, &readErr):
		return &apiError{status: http.StatusBadRequest, body: detailOf(msgUnreadableBody)}
	case errors.Is(err, errNotFound), errors.Is(err, core.ErrFlowDisabled):
		return &apiError{status: http.StatusNotFound, body: detailOf(msgNotFound)}
	case errors.Is(err, core.ErrOverloaded):
		return &apiError{status: http.StatusServiceUnavailable, body: detailOf(msgUnavailable), retryAfter: retryAfterOverloaded}
	case errors.Is(err, core.ErrUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, body: detailOf(msgUnavailable), retryAfter: retryAfterUnavailable}
	default:
		return &apiError{status: http.StatusInternalServerError, body: detailOf(msgServerError), internal: true}
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
func requestFailure(ctx context.Context, err error) *apiError {
	f := mapError(err)
	if f.status >= http.StatusInternalServerError && clientGone(ctx) {
		return &apiError{status: StatusClientClosedRequest, body: detailOf(msgClientClosed), err: err}
	}
	return f
}

// fieldErrorsBody is DRF's `{"field": ["message", …]}` body.
func fieldErrorsBody(e *core.ValidationError) fieldErrors {
	body := make(fieldErrors, len(e.Fields)+1)
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
	if a, ok := body.(jsonAppender); ok {
		return a.appendJSON(nil)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		// Bodies are maps and structs of strings; this cannot happen.
		return []byte(`{"detail":"` + msgServerError + `"}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// jsonAppender is a body that writes its own JSON (as DRF renders it),
// for answers served often enough that reflection shows.
type jsonAppender interface {
	appendJSON(out []byte) []byte
}

// rendered is a body drfJSON's transformer has encoded already.
type rendered []byte

// renderDRF is the Huma transformer of every answer: it encodes the body as
// DRF's renderer does (an apiError as its DRF body) and declares its length,
// as Django does.
func renderDRF(ctx huma.Context, _ string, v any) (any, error) {
	if e, ok := v.(*apiError); ok {
		v = e.body
	}
	b := encodeJSON(v)
	ctx.SetHeader("Content-Length", strconv.Itoa(len(b)))
	return rendered(b), nil
}

// drfJSON is the JSON format of the Huma API: it writes what renderDRF
// encoded. Request bodies never reach its Unmarshal (see accountInput).
var drfJSON = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		b, ok := v.(rendered)
		if !ok {
			b = encodeJSON(v)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write body: %w", err)
		}
		return nil
	},
	Unmarshal: json.Unmarshal,
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

// writeFailure writes the answer mapError chose, for the answers given
// before or outside Huma (routing, body limit, panics).
func writeFailure(w http.ResponseWriter, f *apiError) {
	for name, values := range f.GetHeaders() {
		w.Header()[name] = values
	}
	writeJSON(w, f.status, f.body)
}
