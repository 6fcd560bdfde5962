package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// noInput is the Huma input of every operation: bodies reach the operation
// through readBody and are decoded by decodeBody, never by Huma, so that no
// Huma validation error can reach a client.
type noInput struct{}

// reply is the Huma output of every operation: the operation writes the
// whole response itself.
type reply struct {
	Body func(huma.Context)
}

// registeredUser is the body of 201 register/.
type registeredUser struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// detailToken is the body of 200 verify-registration/ and login/.
type detailToken struct {
	Detail string `json:"detail"`
	Token  string `json:"token,omitempty"`
}

// probeStatus is the body of the probes.
type probeStatus struct {
	Status string         `json:"status"`
	Outbox *outboxDetails `json:"outbox,omitempty"`
}

// outboxDetails is the relay's backlog as /readyz shows it.
type outboxDetails struct {
	Pending          int     `json:"pending"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// jsonReply writes status and body as JSON, with Retry-After when set.
func jsonReply(status int, body any, retryAfter int) *reply {
	b := encodeJSON(body)
	return &reply{Body: func(hc huma.Context) {
		hc.SetHeader("Content-Type", "application/json")
		hc.SetHeader("Content-Length", strconv.Itoa(len(b)))
		if retryAfter > 0 {
			hc.SetHeader("Retry-After", strconv.Itoa(retryAfter))
		}
		hc.SetStatus(status)
		_, _ = hc.BodyWriter().Write(b)
	}}
}

// fail answers err as requestFailure decides, logging what the client is
// not told.
func (s *Server) fail(ctx context.Context, op string, err error) *reply {
	f := requestFailure(ctx, err)
	id := core.RequestInfoFrom(ctx).ID
	switch {
	case f.status == StatusClientClosedRequest:
		// Nothing went wrong on this side, and nobody is waiting for the answer.
		s.log.DebugContext(ctx, "client closed the request before the answer", slog.String("operation", op), slog.String("request_id", id), slog.Any("error", err))
	case f.internal:
		s.log.ErrorContext(ctx, "request failed", slog.String("operation", op), slog.String("request_id", id), slog.Any("error", err))
	case f.status == http.StatusServiceUnavailable:
		s.log.WarnContext(ctx, "request refused: dependency unavailable or server overloaded", slog.String("operation", op), slog.String("request_id", id), slog.Any("error", err))
	case f.status == http.StatusTooManyRequests:
		s.log.InfoContext(ctx, "request throttled", slog.String("operation", op), slog.String("request_id", id),
			slog.String("client", core.RequestInfoFrom(ctx).RemoteAddr), slog.Int("retry_after", f.retryAfter))
	}
	return jsonReply(f.status, f.body, f.retryAfter)
}

// fields decodes the body readBody stored in ctx. A well-formed body that is
// not an object answers 404 when the flow is switched off, because DRF
// checks the flow before the serializer sees the data (while syntax errors
// and unsupported types come first).
func fields(ctx context.Context, flowEnabled bool) (map[string]core.Value, error) {
	raw, _ := ctx.Value(rawBodyKey{}).(*rawBody)
	if raw == nil {
		raw = &rawBody{}
	}
	f, err := decodeBody(raw.contentType, raw.body)
	var notObject *notObjectError
	if errors.As(err, &notObject) && !flowEnabled {
		return nil, core.ErrFlowDisabled
	}
	return f, err
}

func (s *Server) register(ctx context.Context, _ *noInput) (*reply, error) {
	in, err := fields(ctx, s.settings.RegisterFlowEnabled)
	if err != nil {
		return s.fail(ctx, "register", err), nil
	}
	u, err := s.uc.Register.Handle(ctx, usecase.RegisterInput{
		Username:        in["username"],
		Email:           in["email"],
		FirstName:       in["first_name"],
		LastName:        in["last_name"],
		Password:        in["password"],
		PasswordConfirm: in["password_confirm"],
	})
	if err != nil {
		return s.fail(ctx, "register", err), nil
	}
	return jsonReply(http.StatusCreated, registeredUser{
		ID: u.ID, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
	}, 0), nil
}

func (s *Server) verifyRegistration(ctx context.Context, _ *noInput) (*reply, error) {
	in, err := fields(ctx, s.settings.RegisterVerificationEnabled)
	if err != nil {
		return s.fail(ctx, "verify-registration", err), nil
	}
	res, err := s.uc.Verify.Handle(ctx, usecase.VerifyInput{
		UserID:    in["user_id"],
		Timestamp: in["timestamp"],
		Signature: in["signature"],
	})
	if err != nil {
		return s.fail(ctx, "verify-registration", err), nil
	}
	return jsonReply(http.StatusOK, detailToken{Detail: core.MsgUserVerified, Token: res.Token}, 0), nil
}

func (s *Server) login(ctx context.Context, _ *noInput) (*reply, error) {
	in, err := fields(ctx, true)
	if err != nil {
		return s.fail(ctx, "login", err), nil
	}
	res, err := s.uc.Login.Handle(ctx, usecase.LoginInput{
		Login:    in["login"],
		Password: in["password"],
	})
	if err != nil {
		return s.fail(ctx, "login", err), nil
	}
	return jsonReply(http.StatusOK, detailToken{Detail: core.MsgLoginSuccessful, Token: res.Token}, 0), nil
}

func (s *Server) resendVerification(ctx context.Context, _ *noInput) (*reply, error) {
	in, err := fields(ctx, s.settings.ResendEnabled())
	if err != nil {
		return s.fail(ctx, "resend-verification", err), nil
	}
	if s.uc.Resend == nil {
		return s.fail(ctx, "resend-verification", core.ErrFlowDisabled), nil
	}
	if err := s.uc.Resend.Handle(ctx, usecase.ResendInput{Login: in["login"]}); err != nil {
		return s.fail(ctx, "resend-verification", err), nil
	}
	return jsonReply(http.StatusOK, detail(usecase.MsgResendAnswer), 0), nil
}

func (s *Server) healthz(context.Context, *noInput) (*reply, error) {
	return jsonReply(http.StatusOK, probeStatus{Status: "ok"}, 0), nil
}

func (s *Server) readyz(ctx context.Context, _ *noInput) (*reply, error) {
	if s.ready != nil {
		cctx, cancel := context.WithTimeout(ctx, readinessTimeout)
		defer cancel()
		if err := s.ready(cctx); err != nil {
			if clientGone(ctx) {
				s.log.DebugContext(ctx, "client closed the readiness probe before the answer", slog.Any("error", err))
				return jsonReply(StatusClientClosedRequest, detail(msgClientClosed), 0), nil
			}
			s.log.WarnContext(ctx, "not ready", slog.Any("error", err))
			return jsonReply(http.StatusServiceUnavailable, detail(msgUnavailable), retryAfterUnavailable), nil
		}
	}
	status := probeStatus{Status: "ready"}
	if fn := s.backlog.Load(); fn != nil {
		cctx, cancel := context.WithTimeout(ctx, readinessTimeout)
		defer cancel()
		if n, oldest, err := (*fn)(cctx); err == nil {
			status.Outbox = &outboxDetails{Pending: n}
			if n > 0 && !oldest.IsZero() {
				status.Outbox.OldestAgeSeconds = math.Round(time.Since(oldest).Seconds()*10) / 10
			}
		}
	}
	return jsonReply(http.StatusOK, status, 0), nil
}

// registerOperations registers every documented operation with Huma.
func (s *Server) registerOperations() {
	ops := operations(s.settings)
	for _, op := range []huma.Operation{ops.register, ops.verify, ops.login, ops.resend} {
		s.router.markAPI(op.Path)
	}
	// login/ answers with a token, and so does verify-registration/ with
	// REGISTER_VERIFICATION_AUTO_LOGIN: no cache may keep their answers.
	for _, op := range []huma.Operation{ops.verify, ops.login} {
		s.router.markNoStore(op.Path)
	}
	huma.Register(s.api, ops.register, s.register)
	huma.Register(s.api, ops.verify, s.verifyRegistration)
	huma.Register(s.api, ops.login, s.login)
	huma.Register(s.api, ops.resend, s.resendVerification)
	huma.Register(s.api, ops.healthz, s.healthz)
	huma.Register(s.api, ops.readyz, s.readyz)
	pruneComponents(s.api.OpenAPI())
}

// registerDocuments serves the OpenAPI document in both versions and formats.
func (s *Server) registerDocuments() {
	serve := func(path, contentType string, body []byte) {
		s.router.handle(http.MethodGet+" "+path, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body)
		}))
	}
	serve("/openapi.json", "application/json", s.docs.JSON)
	serve("/openapi.yaml", "application/yaml", s.docs.YAML)
	serve("/openapi-3.0.json", "application/json", s.docs.JSON30)
	serve("/openapi-3.0.yaml", "application/yaml", s.docs.YAML30)
}
