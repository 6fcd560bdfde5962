package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// The password reset and e-mail change operations
// (send-reset-password-link/, reset-password/, register-email/,
// verify-email/), and the
// verification of mailed links by GET (django-rest-registration's
// contrib/verification_redirects).

// ResetLinkSender queues a reset-password link
// (usecase.SendResetPasswordLink).
type ResetLinkSender interface {
	Handle(context.Context, usecase.SendResetInput) (usecase.SendResetResult, error)
}

// PasswordResetter sets a new password from a link (usecase.ResetPassword).
type PasswordResetter interface {
	Handle(context.Context, usecase.ResetPasswordInput) error
}

// EmailRegisterer starts an address change for the authenticated user
// (usecase.RegisterEmail).
type EmailRegisterer interface {
	Handle(context.Context, usecase.RegisterEmailInput) error
}

// EmailVerifier moves a user to the address a link names
// (usecase.VerifyEmail).
type EmailVerifier interface {
	Handle(context.Context, usecase.VerifyEmailInput) error
}

// sendResetLinkRequest documents the body of send-reset-password-link/.
type sendResetLinkRequest struct {
	_     struct{} `additionalProperties:"true"`
	Login string   `json:"login,omitempty"`
	Email string   `json:"email,omitempty"`
}

// resetPasswordRequest documents the body of reset-password/.
type resetPasswordRequest struct {
	_               struct{} `additionalProperties:"true"`
	UserID          string   `json:"user_id"`
	Timestamp       int64    `json:"timestamp" doc:"Unix time the link was signed at. A string of digits (also with a .0 suffix) is accepted too."`
	Signature       string   `json:"signature" doc:"The link's signature."`
	Password        string   `json:"password" format:"password" writeOnly:"true" doc:"The new password, checked against the password policy with the user's attributes."`
	PasswordConfirm string   `json:"password_confirm,omitempty" format:"password" writeOnly:"true"`
}

// registerEmailRequest documents the body of register-email/.
type registerEmailRequest struct {
	_     struct{} `additionalProperties:"true"`
	Email string   `json:"email" format:"email" maxLength:"254" doc:"The new address (surrounding spaces trimmed); the link is sent to it."`
}

// verifyEmailRequest documents the body of verify-email/.
type verifyEmailRequest struct {
	_         struct{} `additionalProperties:"true"`
	UserID    string   `json:"user_id"`
	Email     string   `json:"email" format:"email" doc:"The new address, exactly as in the link (the signature covers it, case included)."`
	Timestamp int64    `json:"timestamp" doc:"Unix time the link was signed at."`
	Signature string   `json:"signature" doc:"The link's signature."`
}

// recoveryObjectDocs describe the body types of these operations.
var recoveryObjectDocs = map[reflect.Type]string{
	reflect.TypeFor[sendResetLinkRequest](): "Who forgot the password: `login` (USER_LOGIN_FIELDS), or `email` with " +
		"SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL. Unknown keys are ignored.",
	reflect.TypeFor[resetPasswordRequest](): "The parameters of the reset link and the new password.",
	reflect.TypeFor[registerEmailRequest](): "The new address. Unknown keys are ignored.",
	reflect.TypeFor[verifyEmailRequest]():   "The four parameters of the verify-email link, as found in its query string.",
}

// recoveryBodySchemas registers the body types of these operations in m's
// registry r, tuned to settings s.
func recoveryBodySchemas(r huma.Registry, s core.Settings) {
	m := r.Map()
	for t, doc := range recoveryObjectDocs {
		r.Schema(t, true, "")
		m[schemaName(t)].Description = doc
		m[schemaName(t)].AdditionalProperties = nil
	}
	send := m[schemaName(reflect.TypeFor[sendResetLinkRequest]())]
	if s.SendResetPasswordLinkSerializerUseEmail {
		send.Required = []string{"email"}
		send.Properties["email"].Description = "The account's e-mail address."
		send.Properties["login"].Description = "Ignored on this server (SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL is on)."
	} else {
		send.Required = []string{"login"}
		send.Properties["login"].Description = "Username or e-mail address (USER_LOGIN_FIELDS=" + strings.Join(s.UserLoginFields, ",") + ")."
		send.Properties["email"].Description = "Ignored on this server (SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL is off)."
	}
	reset := m[schemaName(reflect.TypeFor[resetPasswordRequest]())]
	reset.Properties["user_id"].Description = "What `user_id` holds in the link (USER_VERIFICATION_ID_FIELD=" +
		s.UserVerificationIDField + "), copied from the link."
	reset.Properties["password_confirm"].Description = "Ignored: RESET_PASSWORD_SERIALIZER_PASSWORD_CONFIRM is off on this server."
	if s.ResetPasswordSerializerPasswordConfirm {
		reset.Required = append(reset.Required, "password_confirm")
		reset.Properties["password_confirm"].Description = "Must equal `password` (`Passwords don't match` otherwise)."
	}
}

// recoveryOps are the operations of this file.
type recoveryOps struct {
	sendResetLink, resetPassword, registerEmail, verifyEmail huma.Operation
	// verifyRegistrationGET and verifyEmailGET verify a mailed link opened
	// in a browser (VERIFICATION_REDIRECT_SUCCESS_URL set).
	verifyRegistrationGET, verifyEmailGET huma.Operation
}

func recoveryOperations(basePath string) recoveryOps {
	base := strings.TrimRight(basePath, "/")
	public := func() []map[string][]string { return []map[string][]string{} }
	withErrors := func(rs map[string]*huma.Response) map[string]*huma.Response {
		for code, r := range errorResponses(true) {
			rs[code] = r
		}
		return rs
	}
	notServed := "Answers 404 when RESET_PASSWORD_VERIFICATION_ENABLED is false or RESET_PASSWORD_VERIFICATION_URL is not set."

	sendResetLink := huma.Operation{
		OperationID: "sendResetPasswordLink",
		Method:      http.MethodPost,
		Path:        base + "/send-reset-password-link/",
		Summary:     "Send a reset-password link",
		Description: "Mails a signed link to RESET_PASSWORD_VERIFICATION_URL to the account a `login` names " +
			"(USER_LOGIN_FIELDS; `email` with SEND_RESET_PASSWORD_LINK_SERIALIZER_USE_EMAIL).\n\n" +
			"By default (RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND=false) the answer is always `" + core.MsgResetLinkSentIfExists +
			"`, after the same work whatever the login names: the login is looked up after the answer, and every " +
			"account it names is mailed. With RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND the answers are " +
			"django-rest-registration's: `" + core.MsgUserNotFound + "` (400) or `" + core.MsgResetLinkSent + "`.\n\n" +
			"The link is signed when the mail is sent and stamped with the time of the request; it is valid for " +
			"RESET_PASSWORD_VERIFICATION_PERIOD and, with RESET_PASSWORD_VERIFICATION_ONE_TIME_USE, until the " +
			"password changes.\n\nThrottled per client address (THROTTLE_RESET_PASSWORD_IP) and per login " +
			"(THROTTLE_RESET_PASSWORD_ACCOUNT). " + notServed,
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("Who forgot the password.", schemaRef(reflect.TypeFor[sendResetLinkRequest]()),
			example{name: "by_login", summary: "By username or e-mail address", value: map[string]any{"login": "alice"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The request was taken.", schemaRef(reflect.TypeFor[detail]()),
				detailExample("taken", "Enumeration-safe answer (the default)", core.MsgResetLinkSentIfExists),
				detailExample("sent", "RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND", core.MsgResetLinkSent)),
			"400": badRequest("The request was rejected; nothing was sent.",
				example{name: "field_errors", summary: "Missing login", value: map[string]any{"login": []any{core.MsgRequired}}},
				detailExample("user_not_found", "RESET_PASSWORD_FAIL_WHEN_USER_NOT_FOUND and no such user", core.MsgUserNotFound)),
		}),
		SkipValidateBody: true,
	}

	resetPassword := huma.Operation{
		OperationID: "resetPassword",
		Method:      http.MethodPost,
		Path:        base + "/reset-password/",
		Summary:     "Reset the password",
		Description: "Sets a new password from a reset link. The checks run in django-rest-registration's order: " +
			"the fields; the user the link names (`" + core.MsgUserNotFound + "`) and the new password against the " +
			"policy with that user's attributes, together with the confirmation (`non_field_errors` present, " +
			"empty); then the signature (`" + core.MsgInvalidSignature + "`) and its age against " +
			"RESET_PASSWORD_VERIFICATION_PERIOD (`" + core.MsgSignatureExpired + "`).\n\n" +
			"Without RESET_PASSWORD_VERIFICATION_ONE_TIME_USE a link is reusable until it expires. With it, " +
			"the link dies when the password changes (a reset, a change, or a login that upgrades a Django hash): " +
			"of concurrent uses of one link exactly one succeeds. With RESET_PASSWORD_REVOKE_TOKENS (the default) " +
			"every login token of the user stops working. Unverified users may reset their password and still " +
			"cannot log in until verified.\n\nThrottled per client address (THROTTLE_RESET_PASSWORD_IP) and per " +
			"`user_id` (THROTTLE_RESET_PASSWORD_ACCOUNT). " + notServed,
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("The link's parameters and the new password.", schemaRef(reflect.TypeFor[resetPasswordRequest]()),
			example{name: "reset", summary: "Parameters copied from the link", value: map[string]any{
				"user_id": "4f9c1f0e-6a0e-4b1b-9a57-5f0c2a7d3e11", "timestamp": 1700000000,
				"signature": "q2B3nFzGJ1S3qg7bFf4dT8mJrY1yWcX0vK9hLsPzEaU",
				"password":  "a-new-correct-horse", "password_confirm": "a-new-correct-horse"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The password was replaced.", schemaRef(reflect.TypeFor[detail]()),
				detailExample("reset", "Reset", core.MsgResetPasswordSuccessful)),
			"400": badRequest("The reset was rejected; nothing changed.",
				example{name: "password_errors", summary: "Password policy and confirmation", value: map[string]any{
					"password": []any{"This password is too common."}, "password_confirm": []any{core.MsgPasswordsMismatch},
					"non_field_errors": []any{}}},
				detailExample("user_not_found", "No such user", core.MsgUserNotFound),
				detailExample("invalid_signature", "Signature does not match (or the password changed, one-time use)", core.MsgInvalidSignature),
				detailExample("expired", "Link older than RESET_PASSWORD_VERIFICATION_PERIOD", core.MsgSignatureExpired)),
		}),
		SkipValidateBody: true,
	}

	registerEmail := huma.Operation{
		OperationID: "registerEmail",
		Method:      http.MethodPost,
		Path:        base + "/register-email/",
		Summary:     "Change the e-mail address",
		Description: "Starts a change of the authenticated user's address. With REGISTER_EMAIL_VERIFICATION_ENABLED " +
			"(the default) a signed link to REGISTER_EMAIL_VERIFICATION_URL is mailed to the new address after the " +
			"answer, and the address changes when the link is posted to verify-email/. As in " +
			"django-rest-registration, an address that another account already has (USER_EMAIL_UNIQUE) is sent a " +
			"notice that it is in use instead of a link, and the answer is the same, so it tells nothing about " +
			"other accounts. Without verification the address changes at once (`" + core.MsgEmailAlreadyRegistered +
			"` when it is taken), with the old address notified (REGISTER_EMAIL_NOTIFY_OLD_ADDRESS) and a " +
			"user_changed_email event; the answer text is the same.\n\nThrottled per account " +
			"(THROTTLE_EMAIL_CHANGE_ACCOUNT). Answers 404 when REGISTER_EMAIL_VERIFICATION_ENABLED is true and " +
			"REGISTER_EMAIL_VERIFICATION_URL is not set.",
		Tags:     []string{tagAccounts},
		Security: tokenSecurity(),
		RequestBody: requestBody("The new address.", schemaRef(reflect.TypeFor[registerEmailRequest]()),
			example{name: "new_address", summary: "A new address", value: map[string]any{"email": "alice.new@example.com"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The link was queued for the new address (or, without verification, the address changed).",
				schemaRef(reflect.TypeFor[detail]()), detailExample("sent", "Sent", core.MsgRegisterEmailSent)),
			"400": withNoStore(badRequest("The change was rejected; nothing changed or was sent.",
				example{name: "field_errors", summary: "Not an address", value: map[string]any{"email": []any{core.MsgInvalidEmail}}},
				detailExample("taken", "Without verification: another account has the address", core.MsgEmailAlreadyRegistered))),
		}),
		SkipValidateBody: true,
	}

	verifyEmail := huma.Operation{
		OperationID: "verifyEmail",
		Method:      http.MethodPost,
		Path:        base + "/verify-email/",
		Summary:     "Verify a new e-mail address",
		Description: "Moves the user a verify-email link names to the address it carries; no token is needed. " +
			"The checks run in this order: the fields (`email` as DRF's EmailField), the signature (`" +
			core.MsgInvalidSignature + "`), its age against REGISTER_EMAIL_VERIFICATION_PERIOD (`" +
			core.MsgSignatureExpired + "`), the address (`" + core.MsgEmailAlreadyRegistered + "` when addresses are " +
			"unique and an account has it, the user's own included), and the user, who must be active (`" +
			core.MsgUserNotFound + "`). Uniqueness is checked again in the write itself, so of two users verifying " +
			"one address at once at most one gets it. With REGISTER_EMAIL_NOTIFY_OLD_ADDRESS (the default) the old " +
			"address is told of the change; a user_changed_email event carries both addresses.\n\n" +
			"Throttled per client address (THROTTLE_VERIFY_IP) and per `user_id` (THROTTLE_VERIFY_USER). Answers " +
			"404 when REGISTER_EMAIL_VERIFICATION_ENABLED is false or REGISTER_EMAIL_VERIFICATION_URL is not set.",
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("The parameters of the verify-email link.", schemaRef(reflect.TypeFor[verifyEmailRequest]()),
			example{name: "link", summary: "Parameters copied from the link", value: map[string]any{
				"user_id": "4f9c1f0e-6a0e-4b1b-9a57-5f0c2a7d3e11", "email": "alice.new@example.com", "timestamp": 1700000000,
				"signature": "q2B3nFzGJ1S3qg7bFf4dT8mJrY1yWcX0vK9hLsPzEaU"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The address was changed.", schemaRef(reflect.TypeFor[detail]()),
				detailExample("verified", "Verified", core.MsgEmailVerified)),
			"400": badRequest("The link was rejected; nothing changed.",
				example{name: "field_errors", summary: "Malformed parameters", value: map[string]any{"email": []any{core.MsgInvalidEmail}}},
				detailExample("invalid_signature", "Signature does not match", core.MsgInvalidSignature),
				detailExample("expired", "Link older than REGISTER_EMAIL_VERIFICATION_PERIOD", core.MsgSignatureExpired),
				detailExample("taken", "Another account has the address", core.MsgEmailAlreadyRegistered),
				detailExample("user_not_found", "No such active user", core.MsgUserNotFound)),
		}),
		SkipValidateBody: true,
	}

	redirect := func(id, path, what string, params ...string) huma.Operation {
		var qs []*huma.Param
		for _, p := range params {
			qs = append(qs, &huma.Param{Name: p, In: "query", Description: "The link's `" + p + "` parameter.",
				Schema: &huma.Schema{Type: "string"}})
		}
		found := &huma.Response{Description: "Redirect to VERIFICATION_REDIRECT_SUCCESS_URL when the link " + what +
			", otherwise to VERIFICATION_REDIRECT_FAILURE_URL with the reason in its `error` query parameter.",
			Headers: map[string]*huma.Param{"Location": {Description: "Where the browser goes.", Schema: &huma.Schema{Type: "string", Format: "uri"}}}}
		return huma.Operation{
			OperationID: id,
			Method:      http.MethodGet,
			Path:        base + path,
			Summary:     "Open a mailed link in a browser",
			Description: "Served only with VERIFICATION_REDIRECT_SUCCESS_URL set (django-rest-registration's " +
				"verification redirects): the link in the e-mail points here, and opening it " + what + " and " +
				"redirects. Mail scanners that open every link in an incoming e-mail use the link too, before " +
				"its owner does, so POST from a frontend page stays the default. Throttled and answered like the " +
				"POST operation when the request cannot be served (429, 503).",
			Tags:          []string{tagAccounts},
			Security:      public(),
			Parameters:    qs,
			DefaultStatus: http.StatusFound,
			Responses: map[string]*huma.Response{
				"302": found,
				"404": {Ref: responseRef + "FlowDisabled"},
				"405": response("VERIFICATION_REDIRECT_SUCCESS_URL is not set: the path serves POST only.",
					schemaRef(reflect.TypeFor[detail]()), detailExample("redirects_off", "Verification by GET is off", `Method "GET" not allowed.`)),
				"429": {Ref: responseRef + "TooManyRequests"},
				"500": {Ref: responseRef + "ServerError"},
				"503": {Ref: responseRef + "ServiceUnavailable"},
			},
		}
	}
	return recoveryOps{
		sendResetLink: sendResetLink, resetPassword: resetPassword, registerEmail: registerEmail, verifyEmail: verifyEmail,
		verifyRegistrationGET: redirect("verifyRegistrationByLink", "/verify-registration/", "verifies the registration",
			"user_id", "timestamp", "signature"),
		verifyEmailGET: redirect("verifyEmailByLink", "/verify-email/", "verifies the new address",
			"user_id", "email", "timestamp", "signature"),
	}
}

// registerRecoveryOperations registers the operations of this file.
func (s *Server) registerRecoveryOperations(ops recoveryOps) {
	for _, op := range []huma.Operation{ops.sendResetLink, ops.resetPassword, ops.verifyEmail} {
		s.router.markAPI(op.Path)
	}
	s.router.markAPI(ops.registerEmail.Path)
	s.router.markNoStore(ops.registerEmail.Path)
	s.router.markAuthenticated(ops.registerEmail.Path)
	registerAccountOp(s.api, ops.registerEmail, s.registerEmail)
	registerAccountOp(s.api, ops.sendResetLink, s.sendResetPasswordLink)
	registerAccountOp(s.api, ops.resetPassword, s.resetPassword)
	registerAccountOp(s.api, ops.verifyEmail, s.verifyEmail)
	if s.settings.VerificationRedirectSuccessURL == "" {
		// Off: described, so that one document serves every deployment,
		// and answered 405 like any method a path does not serve.
		for _, op := range []huma.Operation{ops.verifyRegistrationGET, ops.verifyEmailGET} {
			s.router.describeOnly(op.Method, op.Path)
		}
	}
	huma.Register(s.api, ops.verifyRegistrationGET, s.verifyRegistrationByLink)
	huma.Register(s.api, ops.verifyEmailGET, s.verifyEmailByLink)
}

func (s *Server) sendResetPasswordLink(ctx context.Context, in *accountInput) (*resendOutput, error) {
	f, err := in.fields(s.settings.ResetPasswordEnabled())
	if err != nil {
		return nil, s.fail(ctx, "send-reset-password-link", err)
	}
	if s.uc.SendResetLink == nil {
		return nil, s.fail(ctx, "send-reset-password-link", core.ErrFlowDisabled)
	}
	res, err := s.uc.SendResetLink.Handle(ctx, usecase.SendResetInput{Login: f["login"], Email: f["email"]})
	if err != nil {
		return nil, s.fail(ctx, "send-reset-password-link", err)
	}
	return &resendOutput{Status: http.StatusOK, Body: detailOf(res.Detail)}, nil
}

func (s *Server) resetPassword(ctx context.Context, in *accountInput) (*resendOutput, error) {
	f, err := in.fields(s.settings.ResetPasswordEnabled())
	if err != nil {
		return nil, s.fail(ctx, "reset-password", err)
	}
	if s.uc.ResetPassword == nil {
		return nil, s.fail(ctx, "reset-password", core.ErrFlowDisabled)
	}
	if err := s.uc.ResetPassword.Handle(ctx, usecase.ResetPasswordInput{
		UserID: f["user_id"], Timestamp: f["timestamp"], Signature: f["signature"],
		Password: f["password"], PasswordConfirm: f["password_confirm"],
	}); err != nil {
		return nil, s.fail(ctx, "reset-password", err)
	}
	return &resendOutput{Status: http.StatusOK, Body: detailOf(core.MsgResetPasswordSuccessful)}, nil
}

func (s *Server) registerEmail(ctx context.Context, in *accountInput) (*changePasswordOutput, error) {
	who, err := requirePrincipal(ctx)
	if err != nil {
		return nil, s.fail(ctx, "register-email", err)
	}
	f, err := in.fields(s.settings.RegisterEmailEnabled())
	if err != nil {
		return nil, s.fail(ctx, "register-email", err)
	}
	if s.uc.RegisterEmail == nil {
		return nil, s.fail(ctx, "register-email", core.ErrFlowDisabled)
	}
	if err := s.uc.RegisterEmail.Handle(ctx, usecase.RegisterEmailInput{User: who.User, Email: f["email"]}); err != nil {
		return nil, s.fail(ctx, "register-email", err)
	}
	return &changePasswordOutput{Status: http.StatusOK, CacheControl: noStore, Body: detailOf(core.MsgRegisterEmailSent)}, nil
}

// verifyEmailServed reports whether verify-email/ is served.
func (s *Server) verifyEmailServed() bool {
	return s.settings.RegisterEmailEnabled() && s.settings.RegisterEmailVerificationEnabled && s.uc.VerifyEmail != nil
}

func (s *Server) verifyEmail(ctx context.Context, in *accountInput) (*resendOutput, error) {
	f, err := in.fields(s.verifyEmailServed())
	if err != nil {
		return nil, s.fail(ctx, "verify-email", err)
	}
	if s.uc.VerifyEmail == nil {
		return nil, s.fail(ctx, "verify-email", core.ErrFlowDisabled)
	}
	if err := s.uc.VerifyEmail.Handle(ctx, usecase.VerifyEmailInput{
		UserID: f["user_id"], Email: f["email"], Timestamp: f["timestamp"], Signature: f["signature"],
	}); err != nil {
		return nil, s.fail(ctx, "verify-email", err)
	}
	return &resendOutput{Status: http.StatusOK, Body: detailOf(core.MsgEmailVerified)}, nil
}

// linkQuery is the query string of a mailed link opened in a browser. The
// documented parameters are declared on the operation; Resolve keeps the
// query itself, so that an absent parameter stays absent (DRF's "This field
// is required.") rather than becoming an empty one.
type linkQuery struct {
	values url.Values
}

// Resolve reads the query string (huma.Resolver).
func (q *linkQuery) Resolve(ctx huma.Context) []error {
	u := ctx.URL()
	q.values = u.Query()
	return nil
}

// value is one parameter as a request field.
func (q *linkQuery) value(name string) core.Value {
	if !q.values.Has(name) {
		return core.Value{}
	}
	return core.Str(q.values.Get(name))
}

// redirectOutput is the answer of a link opened in a browser.
type redirectOutput struct {
	Status       int
	Location     string `header:"Location"`
	CacheControl string `header:"Cache-Control"`
}

func (s *Server) verifyRegistrationByLink(ctx context.Context, q *linkQuery) (*redirectOutput, error) {
	if s.uc.Verify == nil {
		return nil, s.fail(ctx, "verify-registration", core.ErrFlowDisabled)
	}
	_, err := s.uc.Verify.Handle(ctx, usecase.VerifyInput{UserID: q.value("user_id"), Timestamp: q.value("timestamp"), Signature: q.value("signature")})
	return s.redirect(ctx, "verify-registration", err)
}

func (s *Server) verifyEmailByLink(ctx context.Context, q *linkQuery) (*redirectOutput, error) {
	if s.uc.VerifyEmail == nil {
		return nil, s.fail(ctx, "verify-email", core.ErrFlowDisabled)
	}
	err := s.uc.VerifyEmail.Handle(ctx, usecase.VerifyEmailInput{UserID: q.value("user_id"), Email: q.value("email"),
		Timestamp: q.value("timestamp"), Signature: q.value("signature")})
	return s.redirect(ctx, "verify-email", err)
}

// redirect sends the browser to VERIFICATION_REDIRECT_SUCCESS_URL, or, when
// the link was refused (an answer of 400 to the POST), to
// VERIFICATION_REDIRECT_FAILURE_URL with the reason in `error`. A request
// that could not be served (throttled, a dependency down) is answered as
// the POST would be: the link is not at fault and may work later.
func (s *Server) redirect(ctx context.Context, op string, err error) (*redirectOutput, error) {
	if err == nil {
		return &redirectOutput{Status: http.StatusFound, Location: s.settings.VerificationRedirectSuccessURL, CacheControl: noStore}, nil
	}
	var detailErr *core.DetailError
	var invalid *core.ValidationError
	reason := ""
	switch {
	case errors.As(err, &detailErr):
		reason = detailErr.Detail
	case errors.As(err, &invalid):
		reason = firstFieldError(invalid)
	default:
		// A flow switched off answers 404, as django-rest-registration's
		// Http404 escapes its redirect views.
		return nil, s.fail(ctx, op, err)
	}
	target := s.settings.VerificationRedirectFailureURL
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return &redirectOutput{Status: http.StatusFound, Location: target + sep + "error=" + url.QueryEscape(reason), CacheControl: noStore}, nil
}

// firstFieldError is "field: message" of the first failing field in name
// order, the reason a failure redirect carries.
func firstFieldError(e *core.ValidationError) string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 || len(e.Fields[names[0]]) == 0 {
		if len(e.NonFieldErrors) > 0 {
			return e.NonFieldErrors[0]
		}
		return "invalid request"
	}
	return names[0] + ": " + e.Fields[names[0]][0]
}
