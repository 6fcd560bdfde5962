package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// The authenticated account API (django-rest-registration's logout/,
// profile/ and change-password/): every operation here needs a token, which
// the router checks before the handler runs (see authenticate).

// Security scheme names in the OpenAPI document.
const (
	securityToken  = "Token"
	securityBearer = "Bearer"
)

// tokenSecurity is the security requirement of an operation that needs an
// authenticated user: a token as `Token <key>` or `Bearer <key>`.
// protectTokenOperations makes the router refuse anonymous requests to
// every operation that declares it.
func tokenSecurity() []map[string][]string {
	return []map[string][]string{{securityToken: {}}, {securityBearer: {}}}
}

// needsToken reports whether op declares tokenSecurity.
func needsToken(op huma.Operation) bool {
	for _, req := range op.Security {
		if len(req) > 0 {
			return true
		}
	}
	return false
}

// securitySchemes are the document's ways to authenticate.
func securitySchemes() map[string]*huma.SecurityScheme {
	return map[string]*huma.SecurityScheme{
		securityToken: {Type: "apiKey", In: "header", Name: "Authorization",
			Description: "Django REST framework's token authentication: the header `Authorization: Token <key>`, " +
				"where the key (40 lower-case hex characters) is what `login/` answered with. The keyword is " +
				"case-insensitive. A header with a malformed, unknown, expired or revoked token is refused with " +
				"401 on every endpoint, also on those that need no authentication."},
		securityBearer: {Type: "http", Scheme: "bearer",
			Description: "The same token as `Authorization: Bearer <key>` (restreg accepts both keywords)."},
	}
}

// logoutOutput is the answer of logout/.
type logoutOutput struct {
	Status       int
	CacheControl string `header:"Cache-Control" enum:"no-store" doc:"no-store: an authenticated answer."`
	Body         detail
}

// profileOutput is the answer of profile/.
type profileOutput struct {
	Status       int
	CacheControl string `header:"Cache-Control" enum:"no-store" doc:"no-store: an authenticated answer."`
	Body         profileBody
}

// changePasswordOutput is the answer of change-password/.
type changePasswordOutput struct {
	Status       int
	CacheControl string `header:"Cache-Control" enum:"no-store" doc:"no-store: an authenticated answer."`
	Body         detail
}

func (s *Server) logout(ctx context.Context, in *accountInput) (*logoutOutput, error) {
	who, err := requirePrincipal(ctx)
	if err != nil {
		return nil, s.fail(ctx, "logout", err)
	}
	f, err := in.fields(true)
	if err != nil {
		return nil, s.fail(ctx, "logout", err)
	}
	if s.uc.Logout == nil {
		return nil, s.fail(ctx, "logout", core.ErrFlowDisabled)
	}
	if err := s.uc.Logout.Handle(ctx, usecase.LogoutInput{Principal: who, RevokeToken: f["revoke_token"]}); err != nil {
		return nil, s.fail(ctx, "logout", err)
	}
	return &logoutOutput{Status: http.StatusOK, CacheControl: noStore, Body: detailOf(usecase.MsgLogoutSuccessful)}, nil
}

func (s *Server) showProfile(ctx context.Context, _ *probeInput) (*profileOutput, error) {
	who, err := requirePrincipal(ctx)
	if err != nil {
		return nil, s.fail(ctx, "profile", err)
	}
	if s.uc.Profile == nil {
		return nil, s.fail(ctx, "profile", core.ErrFlowDisabled)
	}
	res, err := s.uc.Profile.Show(ctx, who)
	if err != nil {
		return nil, s.fail(ctx, "profile", err)
	}
	return &profileOutput{Status: http.StatusOK, CacheControl: noStore, Body: profileOf(res)}, nil
}

// updateProfile serves POST and PUT (every required field) and PATCH
// (partial) profile/.
func (s *Server) updateProfile(partial bool) func(context.Context, *accountInput) (*profileOutput, error) {
	return func(ctx context.Context, in *accountInput) (*profileOutput, error) {
		who, err := requirePrincipal(ctx)
		if err != nil {
			return nil, s.fail(ctx, "profile", err)
		}
		f, err := in.fields(true)
		if err != nil {
			return nil, s.fail(ctx, "profile", err)
		}
		if s.uc.Profile == nil {
			return nil, s.fail(ctx, "profile", core.ErrFlowDisabled)
		}
		res, err := s.uc.Profile.Handle(ctx, usecase.ProfileInput{Principal: who, Partial: partial, Fields: f})
		if err != nil {
			return nil, s.fail(ctx, "profile", err)
		}
		return &profileOutput{Status: http.StatusOK, CacheControl: noStore, Body: profileOf(res)}, nil
	}
}

func (s *Server) changePassword(ctx context.Context, in *accountInput) (*changePasswordOutput, error) {
	who, err := requirePrincipal(ctx)
	if err != nil {
		return nil, s.fail(ctx, "change-password", err)
	}
	f, err := in.fields(true)
	if err != nil {
		return nil, s.fail(ctx, "change-password", err)
	}
	if s.uc.ChangePassword == nil {
		return nil, s.fail(ctx, "change-password", core.ErrFlowDisabled)
	}
	err = s.uc.ChangePassword.Handle(ctx, usecase.ChangePasswordInput{
		Principal:       who,
		OldPassword:     f["old_password"],
		Password:        f["password"],
		PasswordConfirm: f["password_confirm"],
	})
	if err != nil {
		return nil, s.fail(ctx, "change-password", err)
	}
	return &changePasswordOutput{Status: http.StatusOK, CacheControl: noStore, Body: detailOf(usecase.MsgPasswordChanged)}, nil
}

// accountOpSet is every operation of the authenticated account API.
type accountOpSet struct {
	logout, profileGet, profilePost, profilePut, profilePatch, changePassword huma.Operation
}

// unauthorizedExamples are the 401 answers.
func unauthorizedResponse() *huma.Response {
	r := response("No valid token: none was sent (on the operations that need one), or the Authorization "+
		"header is malformed, or its token is unknown, expired or revoked, or its user is inactive. The "+
		"WWW-Authenticate header names the scheme (`Token`).", schemaRef(reflect.TypeFor[detail]()),
		detailExample("not_provided", "No token", core.MsgAuthNotProvided),
		detailExample("invalid", "Unknown, expired or revoked token", core.MsgTokenInvalid),
		detailExample("inactive", "The token's user is inactive", core.MsgTokenUserInactive),
		detailExample("malformed", "Malformed header", core.MsgTokenNoCredentials))
	r.Headers["WWW-Authenticate"] = &huma.Param{Ref: headerRef + "WWWAuthenticate"}
	return r
}

func accountOperations(basePath string) accountOpSet {
	base := strings.TrimRight(basePath, "/")
	// withErrors adds the shared error answers: those about a body only
	// when the operation reads one, 429 only when it is throttled.
	withErrors := func(rs map[string]*huma.Response, body, throttled bool) map[string]*huma.Response {
		for code, r := range errorResponses(false) {
			if (!body && (code == "413" || code == "415")) || (!throttled && code == "429") {
				continue
			}
			rs[code] = r
		}
		return rs
	}
	profileExample := example{name: "profile", summary: "The default public fields", value: map[string]any{
		"id": "4f9c1f0e-6a0e-4b1b-9a57-5f0c2a7d3e11", "username": "alice", "first_name": "Alice",
		"last_name": "Liddell", "email": "alice@example.com"}}
	profileDesc := "The fields shown are DRR's public fields, in the user model's order: `id`, `username`, " +
		"`first_name`, `last_name` and `email` by default, that is every field (`id`, `last_login`, `username`, " +
		"`first_name`, `last_name`, `email`, `is_active`, `date_joined`) but USER_HIDDEN_FIELDS (by default " +
		"`last_login`, `is_active` and `date_joined`); with USER_PUBLIC_FIELDS, its fields and `email`."
	updateDesc := func(verb string) string {
		d := "Changes the authenticated user's editable fields and answers the profile after the change. The " +
			"editable fields are `username`, `first_name` and `last_name` among the public ones " +
			"(USER_EDITABLE_FIELDS narrows them); every other key (`id`, `email`, `is_active`, unknown keys) " +
			"is ignored. Text is trimmed; numbers become text; `true`, lists and objects answer " +
			"`Not a valid string.`. A new username follows register's rules: Django's characters, NFKC, " +
			"unique" + " (also against other users' e-mail addresses), at most 150 characters. A change records " +
			"a `user_profile_updated` event.\n\n"
		if verb == http.MethodPatch {
			return d + "PATCH is partial: absent fields keep their values."
		}
		return d + verb + " needs every required field: `username` (when it is editable)."
	}
	updateOp := func(method, id, summary string) huma.Operation {
		return huma.Operation{
			OperationID: id,
			Method:      method,
			Path:        base + "/profile/",
			Summary:     summary,
			Description: updateDesc(method) + "\n\n" + profileDesc,
			Tags:        []string{tagAccounts},
			Security:    tokenSecurity(),
			RequestBody: requestBody("The fields to change.", schemaRef(reflect.TypeFor[profileRequest]()),
				example{name: "rename", summary: "New names", value: map[string]any{"username": "alice2", "first_name": "Alice", "last_name": "Hargreaves"}}),
			DefaultStatus: http.StatusOK,
			Responses: withErrors(map[string]*huma.Response{
				"200": response("The profile after the change.", nil, profileExample),
				"400": withNoStore(badRequest("The change was rejected; nothing changed.",
					example{name: "username_taken", summary: "Username taken", value: map[string]any{"username": []any{core.MsgUsernameExists}}},
					example{name: "not_a_string", summary: "Not text", value: map[string]any{"first_name": []any{core.MsgNotString}}})),
			}, true, false),
			SkipValidateBody: true,
		}
	}

	logout := huma.Operation{
		OperationID: "logout",
		Method:      http.MethodPost,
		Path:        base + "/logout/",
		Summary:     "Log out",
		Description: "Ends the session of the request's token and records a `user_logged_out` event. With " +
			"`revoke_token` the token stops working at once; without it (the default, as in " +
			"django-rest-registration) it keeps working until it expires (AUTH_TOKEN_TTL) or is revoked.",
		Tags:     []string{tagAccounts},
		Security: tokenSecurity(),
		RequestBody: requestBody("Whether to revoke the token.", schemaRef(reflect.TypeFor[logoutRequest]()),
			example{name: "revoke", summary: "Revoke the token", value: map[string]any{"revoke_token": true}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("Logged out.", schemaRef(reflect.TypeFor[detail]()),
				detailExample("logged_out", "Logged out", usecase.MsgLogoutSuccessful)),
			"400": withNoStore(badRequest("The request is malformed; nothing changed.",
				example{name: "not_boolean", summary: "revoke_token is not a boolean", value: map[string]any{"revoke_token": []any{usecase.MsgInvalidBoolean}}})),
		}, true, false),
		SkipValidateBody: true,
	}

	profileGet := huma.Operation{
		OperationID:   "getProfile",
		Method:        http.MethodGet,
		Path:          base + "/profile/",
		Summary:       "Show the profile",
		Description:   "Answers the authenticated user's public fields. " + profileDesc,
		Tags:          []string{tagAccounts},
		Security:      tokenSecurity(),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The profile.", nil, profileExample),
		}, false, false),
	}

	changePassword := huma.Operation{
		OperationID: "changePassword",
		Method:      http.MethodPost,
		Path:        base + "/change-password/",
		Summary:     "Change the password",
		Description: "Replaces the authenticated user's password. The checks run in stages: (1) the fields, all " +
			"at once, including `old_password` against the current password (`" + usecase.MsgOldPasswordIncorrect +
			"`); (2) the password policy on `password`, with the user's attributes; only when it passes, the " +
			"confirmation (`{\"password_confirm\": [\"" + core.MsgPasswordsMismatch + "\"]}`, with " +
			"CHANGE_PASSWORD_SERIALIZER_PASSWORD_CONFIRM). With CHANGE_PASSWORD_REVOKE_TOKENS (the default) " +
			"the user's other tokens stop working; the request's own token keeps working. Records a " +
			"`user_password_changed` event.\n\nThrottled per client address (THROTTLE_CHANGE_PASSWORD_IP) and " +
			"per account (THROTTLE_CHANGE_PASSWORD_ACCOUNT).",
		Tags:     []string{tagAccounts},
		Security: tokenSecurity(),
		RequestBody: requestBody("The current and the new password.", schemaRef(reflect.TypeFor[changePasswordRequest]()),
			example{name: "change", summary: "A new password", value: map[string]any{
				"old_password": "correct-horse-battery-staple", "password": "purple-Monkey-dishwasher-42",
				"password_confirm": "purple-Monkey-dishwasher-42"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The password was changed.", schemaRef(reflect.TypeFor[detail]()),
				detailExample("changed", "Changed", usecase.MsgPasswordChanged)),
			"400": withNoStore(badRequest("The change was rejected; nothing changed.",
				example{name: "old_password", summary: "Wrong current password", value: map[string]any{"old_password": []any{usecase.MsgOldPasswordIncorrect}}},
				example{name: "policy", summary: "Password policy", value: map[string]any{"password": []any{"This password is too common."}}},
				example{name: "mismatch", summary: "Confirmation differs", value: map[string]any{"password_confirm": []any{core.MsgPasswordsMismatch}}})),
		}, true, true),
		SkipValidateBody: true,
	}

	return accountOpSet{
		logout:         logout,
		profileGet:     profileGet,
		profilePost:    updateOp(http.MethodPost, "replaceProfileByPost", "Update the profile (POST)"),
		profilePut:     updateOp(http.MethodPut, "replaceProfile", "Update the profile"),
		profilePatch:   updateOp(http.MethodPatch, "patchProfile", "Update part of the profile"),
		changePassword: changePassword,
	}
}

// protectTokenOperations makes the router refuse anonymous requests (401,
// before the method check) to the path of every registered operation that
// declares tokenSecurity, and forbid caching its answers. Declaring the
// requirement is all an operation does to need a user; its handler then
// reads the user with requirePrincipal.
func (s *Server) protectTokenOperations() {
	for path, item := range s.api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil && needsToken(*op) {
				s.router.markAuthenticated(path)
			}
		}
	}
}

// registerAccountOperations registers the authenticated operations.
func (s *Server) registerAccountOperations() {
	ops := accountOperations(s.config.BasePath)
	all := []huma.Operation{ops.logout, ops.profileGet, ops.profilePost, ops.profilePut, ops.profilePatch, ops.changePassword}
	for _, op := range all {
		s.router.markAPI(op.Path)
	}
	registerAccountOp(s.api, ops.logout, s.logout)
	huma.Register(s.api, ops.profileGet, s.showProfile)
	registerAccountOp(s.api, ops.profilePost, s.updateProfile(false))
	registerAccountOp(s.api, ops.profilePut, s.updateProfile(false))
	registerAccountOp(s.api, ops.profilePatch, s.updateProfile(true))
	registerAccountOp(s.api, ops.changePassword, s.changePassword)
}
