package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// accountInput is the input of every account operation: the body as read
// (within MAX_BODY_BYTES) and its declared type. decodeBody reads it the way
// DRF's parsers do; Huma neither parses nor validates it, so that no Huma
// validation error can reach a client.
type accountInput struct {
	ContentType string `header:"Content-Type" hidden:"true"`
	RawBody     []byte
}

// fields decodes the body. A well-formed body that is not an object answers
// 404 when the flow is switched off, because DRF checks the flow before the
// serializer sees the data (while syntax errors and unsupported types come
// first).
func (in *accountInput) fields(flowEnabled bool) (map[string]core.Value, error) {
	f, err := decodeBody(in.ContentType, in.RawBody)
	var notObject *notObjectError
	if errors.As(err, &notObject) && !flowEnabled {
		return nil, core.ErrFlowDisabled
	}
	return f, err
}

// probeInput is the input of the probes: nothing.
type probeInput struct{}

// registerOutput is the answer of register/.
type registerOutput struct {
	Status int
	Body   registeredUser
}

// verifyOutput is the answer of verify-registration/.
type verifyOutput struct {
	Status       int
	CacheControl string `header:"Cache-Control" enum:"no-store" doc:"no-store: the answer may carry a login token, which no cache may keep."`
	Body         verificationResult
}

// loginOutput is the answer of login/.
type loginOutput struct {
	Status       int
	CacheControl string `header:"Cache-Control" enum:"no-store" doc:"no-store: the answer carries a login token, which no cache may keep."`
	Body         loginResult
}

// resendOutput is the answer of resend-verification/.
type resendOutput struct {
	Status int
	Body   detail
}

// probeOutput is the answer of the probes.
type probeOutput struct {
	Status int
	Body   probeStatus
}

// noStore is the Cache-Control of answers that may carry a token.
const noStore = "no-store"

// fail turns err into the answer requestFailure decides. What went wrong
// inside is logged once, by the use cases' decorators
// (core/usecase/decorator); here only what the transport adds: a client that
// left, and a throttled client's address.
func (s *Server) fail(ctx context.Context, op string, err error) error {
	f := requestFailure(ctx, err)
	id := core.RequestInfoFrom(ctx).ID
	switch f.status {
	case StatusClientClosedRequest:
		// Nothing went wrong on this side, and nobody is waiting for the answer.
		s.log.DebugContext(ctx, "client closed the request before the answer", slog.String("operation", op), slog.String("request_id", id), slog.Any("error", err))
	case http.StatusTooManyRequests:
		s.log.InfoContext(ctx, "request throttled", slog.String("operation", op), slog.String("request_id", id),
			slog.String("client", core.RequestInfoFrom(ctx).RemoteAddr), slog.Int("retry_after", f.retryAfter))
	}
	return f
}

func (s *Server) register(ctx context.Context, in *accountInput) (*registerOutput, error) {
	f, err := in.fields(s.settings.RegisterFlowEnabled)
	if err != nil {
		return nil, s.fail(ctx, "register", err)
	}
	u, err := s.uc.Register.Handle(ctx, usecase.RegisterInput{
		Username:        f["username"],
		Email:           f["email"],
		FirstName:       f["first_name"],
		LastName:        f["last_name"],
		Password:        f["password"],
		PasswordConfirm: f["password_confirm"],
	})
	if err != nil {
		return nil, s.fail(ctx, "register", err)
	}
	return &registerOutput{Status: http.StatusCreated, Body: registeredUser{
		ID: u.ID, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
	}}, nil
}

func (s *Server) verifyRegistration(ctx context.Context, in *accountInput) (*verifyOutput, error) {
	f, err := in.fields(s.settings.RegisterVerificationEnabled)
	if err != nil {
		return nil, s.fail(ctx, "verify-registration", err)
	}
	res, err := s.uc.Verify.Handle(ctx, usecase.VerifyInput{
		UserID:    f["user_id"],
		Timestamp: f["timestamp"],
		Signature: f["signature"],
	})
	if err != nil {
		return nil, s.fail(ctx, "verify-registration", err)
	}
	return &verifyOutput{Status: http.StatusOK, CacheControl: noStore,
		Body: verificationResult{Detail: core.MsgUserVerified, Token: res.Token}}, nil
}

func (s *Server) login(ctx context.Context, in *accountInput) (*loginOutput, error) {
	f, err := in.fields(true)
	if err != nil {
		return nil, s.fail(ctx, "login", err)
	}
	res, err := s.uc.Login.Handle(ctx, usecase.LoginInput{
		Login:    f["login"],
		Password: f["password"],
	})
	if err != nil {
		return nil, s.fail(ctx, "login", err)
	}
	return &loginOutput{Status: http.StatusOK, CacheControl: noStore,
		Body: loginResult{Detail: core.MsgLoginSuccessful, Token: res.Token}}, nil
}

func (s *Server) resendVerification(ctx context.Context, in *accountInput) (*resendOutput, error) {
	f, err := in.fields(s.settings.ResendEnabled())
	if err != nil {
		return nil, s.fail(ctx, "resend-verification", err)
	}
	if s.uc.Resend == nil {
		return nil, s.fail(ctx, "resend-verification", core.ErrFlowDisabled)
	}
	if err := s.uc.Resend.Handle(ctx, usecase.ResendInput{Login: f["login"]}); err != nil {
		return nil, s.fail(ctx, "resend-verification", err)
	}
	return &resendOutput{Status: http.StatusOK, Body: detailOf(usecase.MsgResendAnswer)}, nil
}

func (s *Server) healthz(context.Context, *probeInput) (*probeOutput, error) {
	return &probeOutput{Status: http.StatusOK, Body: probeStatus{Status: "ok"}}, nil
}

func (s *Server) readyz(ctx context.Context, _ *probeInput) (*probeOutput, error) {
	if s.ready != nil {
		cctx, cancel := context.WithTimeout(ctx, readinessTimeout)
		defer cancel()
		if err := s.ready(cctx); err != nil {
			if clientGone(ctx) {
				s.log.DebugContext(ctx, "client closed the readiness probe before the answer", slog.Any("error", err))
				return nil, &apiError{status: StatusClientClosedRequest, body: detailOf(msgClientClosed), err: err}
			}
			s.log.WarnContext(ctx, "not ready", slog.Any("error", err))
			return nil, &apiError{status: http.StatusServiceUnavailable, body: detailOf(msgUnavailable), retryAfter: retryAfterUnavailable, err: err}
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
	return &probeOutput{Status: http.StatusOK, Body: status}, nil
}

// registerOperations registers every documented operation with Huma.
func (s *Server) registerOperations() {
	ops := operations(s.config.BasePath)
	for _, op := range []huma.Operation{ops.register, ops.verify, ops.login, ops.resend} {
		s.router.markAPI(op.Path)
	}
	// login/ answers with a token, and so does verify-registration/ with
	// REGISTER_VERIFICATION_AUTO_LOGIN: no cache may keep their answers.
	for _, op := range []huma.Operation{ops.verify, ops.login} {
		s.router.markNoStore(op.Path)
	}
	registerAccountOp(s.api, ops.register, s.register)
	registerAccountOp(s.api, ops.verify, s.verifyRegistration)
	registerAccountOp(s.api, ops.login, s.login)
	registerAccountOp(s.api, ops.resend, s.resendVerification)
	s.registerRecoveryOperations(recoveryOperations(s.config.BasePath))
	s.registerAccountOperations()
	huma.Register(s.api, ops.healthz, s.healthz)
	huma.Register(s.api, ops.readyz, s.readyz)
	s.protectTokenOperations()
	pruneComponents(s.api.OpenAPI())
}

// registerAccountOp registers an account operation whose input is
// accountInput. A RawBody makes Huma document the body as a required opaque
// binary and refuse an empty one; these operations take an optional object,
// as JSON or as a form, that decodeBody reads. op.RequestBody is shared with
// the registered operation, so the documented body is put back after
// registration, in the document and for the request path alike.
func registerAccountOp[O any](api huma.API, op huma.Operation, handler func(context.Context, *accountInput) (*O, error)) {
	documented := *op.RequestBody
	documented.Content = maps.Clone(op.RequestBody.Content)
	huma.Register(api, op, handler)
	*op.RequestBody = documented
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
