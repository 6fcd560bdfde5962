package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// APIVersion is the version of the HTTP contract in the OpenAPI document.
const APIVersion = "1.0.0"

const (
	schemaPrefix = "#/components/schemas/"
	mimeJSON     = "application/json"
	mimeForm     = "application/x-www-form-urlencoded"
	tagAccounts  = "accounts"
	tagProbes    = "operations"
)

// Documents is the OpenAPI document of the API in every form it is served in.
type Documents struct {
	// YAML and JSON are the OpenAPI 3.1 document.
	YAML, JSON []byte
	// YAML30 and JSON30 are the same document downgraded to OpenAPI 3.0.3,
	// for generators that do not read 3.1 yet.
	YAML30, JSON30 []byte
}

// OpenAPI returns the OpenAPI documents of the API served with settings s
// and c. It builds the same API as New (no use case is called).
func OpenAPI(s core.Settings, c Config) (Documents, error) {
	srv, err := New(s, c, UseCases{}, nil, nil)
	if err != nil {
		return Documents{}, err
	}
	return srv.docs, nil
}

func renderDocuments(o *huma.OpenAPI) (Documents, error) {
	var d Documents
	raw, err := json.Marshal(o)
	if err != nil {
		return d, fmt.Errorf("marshal 3.1: %w", err)
	}
	if d.JSON, err = indentJSON(raw); err != nil {
		return d, err
	}
	if d.YAML, err = o.YAML(); err != nil {
		return d, fmt.Errorf("yaml 3.1: %w", err)
	}
	raw30, err := o.Downgrade()
	if err != nil {
		return d, fmt.Errorf("downgrade to 3.0: %w", err)
	}
	if d.JSON30, err = indentJSON(raw30); err != nil {
		return d, err
	}
	if d.YAML30, err = o.DowngradeYAML(); err != nil {
		return d, fmt.Errorf("yaml 3.0: %w", err)
	}
	return d, nil
}

func indentJSON(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent openapi json: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// apiConfig is a bare Huma configuration: JSON rendered as DRF renders it,
// and none of Huma's own routes (documents, docs page, schemas), which this
// package serves itself.
func apiConfig(s core.Settings) huma.Config {
	registry := huma.NewMapRegistry(schemaPrefix, huma.DefaultSchemaNamer)
	bodySchemas(registry, s)
	return huma.Config{
		OpenAPI: &huma.OpenAPI{
			OpenAPI: "3.1.0",
			Info: &huma.Info{
				Title:   "restreg",
				Version: APIVersion,
				Description: "Self-service registration with e-mail verification. The HTTP contract is " +
					"django-rest-registration's register flow: `register/` creates an unverified user and " +
					"mails a signed link, `verify-registration/` activates the user from that link, " +
					"`resend-verification/` mails a fresh link, and `login/` checks a username or e-mail and " +
					"password and answers with a token. With that token (`Authorization: Token <key>` or " +
					"`Bearer <key>`), `profile/` shows and changes the user's fields, `change-password/` changes " +
					"the password and `logout/` ends the session; every answer to an authenticated request carries " +
					"`Cache-Control: no-store`. Error bodies are Django REST framework's: `{\"field\": [\"message\"]}` for field " +
					"errors and `{\"detail\": \"message\"}` otherwise. Every account operation is rate-limited " +
					"per client address and per target (THROTTLE_* settings) and answers 429 with DRF's message " +
					"and Retry-After when a limit is reached. Paths end in `/` as in Django; the same paths " +
					"without the final slash work too.",
				Contact: &huma.Contact{Name: "The restreg authors"},
				License: &huma.License{Name: "MIT", URL: "https://opensource.org/license/mit"},
			},
			Servers: []*huma.Server{{URL: "/", Description: "The server that serves this document."}},
			Tags: []*huma.Tag{
				{Name: tagAccounts, Description: "Registration, verification of the e-mail address, login, and the authenticated account operations."},
				{Name: tagProbes, Description: "Liveness and readiness probes for orchestrators and load balancers."},
			},
			Components: &huma.Components{
				Schemas:         registry,
				Headers:         componentHeaders(),
				Responses:       componentResponses(),
				SecuritySchemes: securitySchemes(),
			},
		},
		Formats:       map[string]huma.Format{mimeJSON: drfJSON},
		DefaultFormat: mimeJSON,
		Transformers:  []huma.Transformer{renderDRF},
	}
}

// pruneComponents drops the schemas of Huma's own error model, which Huma
// registers for every operation and this API never answers with (its errors
// are DRF's, see apiError).
func pruneComponents(o *huma.OpenAPI) {
	m := o.Components.Schemas.Map()
	delete(m, "ErrorModel")
	delete(m, "ErrorDetail")
}

// example is a named example value.
type example struct {
	name, summary string
	value         any
}

func examples(list ...example) map[string]*huma.Example {
	m := make(map[string]*huma.Example, len(list))
	for _, e := range list {
		m[e.name] = &huma.Example{Summary: e.summary, Value: e.value}
	}
	return m
}

// requestBody documents a body accepted as JSON and as a form. It is written
// here rather than derived from an input Body field: Huma would then decode
// and validate the body itself, and its answers to malformed input are not
// DRF's (see accountInput).
func requestBody(desc string, schema *huma.Schema, ex ...example) *huma.RequestBody {
	return &huma.RequestBody{
		Description: desc,
		Content: map[string]*huma.MediaType{
			mimeJSON: {Schema: schema, Examples: examples(ex...)},
			mimeForm: {Schema: schema, Examples: examples(ex...)},
		},
	}
}

// Names of shared components.
const (
	headerRef   = "#/components/headers/"
	responseRef = "#/components/responses/"
)

// componentHeaders are the response headers several responses carry.
func componentHeaders() map[string]*huma.Header {
	return map[string]*huma.Header{
		"RequestID": {Description: "The client's X-Request-ID when it is at most 128 printable ASCII characters, " +
			"a generated id otherwise; it appears in the server's log lines and in the events of the request.",
			Schema: &huma.Schema{Type: "string"}},
		"RetryAfter": {Description: "Seconds to wait before retrying.", Schema: &huma.Schema{Type: "integer"}},
		"CacheControl": {Description: "`no-store` on every answer of an operation that may answer with a login " +
			"token or that needs one, so that no browser or proxy cache keeps a token or a user's data.", Schema: &huma.Schema{Type: "string", Enum: []any{"no-store"}}},
		"WWWAuthenticate": {Description: "`Token`: the scheme to authenticate with (Django REST framework's " +
			"TokenAuthentication).", Schema: &huma.Schema{Type: "string", Enum: []any{"Token"}}},
	}
}

// withNoStore documents the Cache-Control header of the error answers of
// operations that may carry a token (their success outputs declare it).
func withNoStore(r *huma.Response) *huma.Response {
	r.Headers["Cache-Control"] = &huma.Param{Ref: headerRef + "CacheControl"}
	return r
}

// response documents an answer with its examples. A success answer passes a
// nil schema: Huma takes it from the operation's output Body type.
func response(desc string, schema *huma.Schema, ex ...example) *huma.Response {
	return &huma.Response{
		Description: desc,
		Headers:     map[string]*huma.Param{"X-Request-ID": {Ref: headerRef + "RequestID"}},
		Content:     map[string]*huma.MediaType{mimeJSON: {Schema: schema, Examples: examples(ex...)}},
	}
}

func detailExample(name, summary, msg string) example {
	return example{name: name, summary: summary, value: map[string]any{"detail": msg}}
}

// componentResponses are the answers shared by several operations.
func componentResponses() map[string]*huma.Response {
	unavailable := response("A dependency (store, mail provider) is unavailable or the server is overloaded; "+
		"retry after the number of seconds in Retry-After.", schemaRef(reflect.TypeFor[detail]()),
		detailExample("unavailable", "Dependency unavailable or server overloaded", msgUnavailable))
	unavailable.Headers["Retry-After"] = &huma.Param{Ref: headerRef + "RetryAfter"}
	throttled := response("A rate limit was reached: too many requests from this client address, or for this "+
		"target (e-mail address, login or link), within the THROTTLE_* setting's period. Nothing was done; retry "+
		"after the number of seconds in Retry-After, which the message repeats (Django REST framework's "+
		"wording, the wait rounded up).", schemaRef(reflect.TypeFor[detail]()),
		detailExample("throttled", "Rate limit reached", core.ThrottledMessage(37*time.Second)))
	throttled.Headers["Retry-After"] = &huma.Param{Ref: headerRef + "RetryAfter"}
	return map[string]*huma.Response{
		"FlowDisabled": response("The flow is switched off by a setting.", schemaRef(reflect.TypeFor[detail]()),
			detailExample("not_found", "Flow switched off", msgNotFound)),
		"MethodNotAllowed": response("The method is not POST (or OPTIONS); the Allow header lists the methods.", schemaRef(reflect.TypeFor[detail]()),
			detailExample("method_not_allowed", "Wrong method", `Method "GET" not allowed.`)),
		"PayloadTooLarge": response("The body is larger than MAX_BODY_BYTES.", schemaRef(reflect.TypeFor[detail]()),
			detailExample("too_large", "Body too large", msgBodyTooLarge)),
		"UnsupportedMediaType": response("The body is neither application/json nor application/x-www-form-urlencoded.", schemaRef(reflect.TypeFor[detail]()),
			detailExample("unsupported", "Unsupported content type", `Unsupported media type "text/plain" in request.`)),
		"ServerError": response("An unexpected error; the body never says more.", schemaRef(reflect.TypeFor[detail]()),
			detailExample("server_error", "Unexpected error", msgServerError)),
		"ServiceUnavailable": unavailable,
		"TooManyRequests":    throttled,
		"Unauthorized":       unauthorizedResponse(),
	}
}

// errorResponses are the answers every account operation can give besides
// its own 400s (429 included: every one is throttled; 401 included: a bad
// token is refused on every operation); withFlowSwitch adds
// the 404 of a flow that can be switched off.
func errorResponses(withFlowSwitch bool) map[string]*huma.Response {
	m := map[string]*huma.Response{
		"401": {Ref: responseRef + "Unauthorized"},
		"405": {Ref: responseRef + "MethodNotAllowed"},
		"413": {Ref: responseRef + "PayloadTooLarge"},
		"415": {Ref: responseRef + "UnsupportedMediaType"},
		"429": {Ref: responseRef + "TooManyRequests"},
		"500": {Ref: responseRef + "ServerError"},
		"503": {Ref: responseRef + "ServiceUnavailable"},
	}
	if withFlowSwitch {
		m["404"] = &huma.Response{Ref: responseRef + "FlowDisabled"}
	}
	return m
}

// malformedExamples are the 400 answers to bodies that are not a JSON object.
func malformedExamples() []example {
	return []example{
		detailExample("json_parse_error", "Body is not valid JSON",
			msgJSONParseError+"Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
		{name: "not_an_object", summary: "JSON body is not an object",
			value: map[string]any{"non_field_errors": []any{"Invalid data. Expected a dictionary, but got list."}}},
	}
}

func badRequest(desc string, ex ...example) *huma.Response {
	return response(desc, &huma.Schema{OneOf: []*huma.Schema{schemaRef(reflect.TypeFor[fieldErrors]()), schemaRef(reflect.TypeFor[detail]())}},
		append(ex, malformedExamples()...)...)
}

// opSet is every documented operation.
type opSet struct {
	register, verify, login, resend, healthz, readyz huma.Operation
}

func operations(basePath string) opSet {
	base := strings.TrimRight(basePath, "/")
	public := func() []map[string][]string { return []map[string][]string{} }
	withErrors := func(rs map[string]*huma.Response, flowSwitch bool) map[string]*huma.Response {
		for code, r := range errorResponses(flowSwitch) {
			rs[code] = r
		}
		return rs
	}

	registerStage1 := map[string]any{"username": []any{core.MsgUsernameExists}, "email": []any{core.MsgInvalidEmail}}
	registerStage2 := map[string]any{
		"password":         []any{"This password is too short. It must contain at least 8 characters.", "This password is too common."},
		"password_confirm": []any{core.MsgPasswordsMismatch},
		"non_field_errors": []any{},
	}
	register := huma.Operation{
		OperationID: "register",
		Method:      http.MethodPost,
		Path:        base + "/register/",
		Summary:     "Register a new user",
		Description: "Creates an account. With verification on (REGISTER_VERIFICATION_ENABLED), the user is stored " +
			"inactive and an e-mail with a signed link to REGISTER_VERIFICATION_URL is sent before the answer; " +
			"if it cannot be sent, nothing remains stored and the answer is 503. With verification off, the user " +
			"is stored active and no e-mail is sent.\n\nValidation runs in stages and the first stage with errors " +
			"answers 400: (1) field checks and uniqueness of username and e-mail, all fields at once; (2) the " +
			"password policy and the confirmation, with `non_field_errors` always present (empty); (3) with " +
			"verification on, an e-mail address is needed (`{\"detail\": \"" + core.MsgNoEmail + "\"}`).\n\n" +
			"With REGISTER_ENUMERATION_SAFE, an e-mail address that already has an account is not reported: the " +
			"answer is a 201 of the same shape (a fresh id, the submitted fields), nothing is stored, and the " +
			"address's owner is sent an \"account already exists\" e-mail instead of a link. A taken username is " +
			"still reported (usernames are public).\n\n" +
			"Throttled per client address (THROTTLE_REGISTER_IP, rejected requests included) and per e-mail " +
			"address (THROTTLE_REGISTER_EMAIL, once the request is valid). Answers 404 when REGISTER_FLOW_ENABLED " +
			"is false.",
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("The new account.", schemaRef(reflect.TypeFor[registerRequest]()),
			example{name: "new_user", summary: "A new user", value: map[string]any{
				"username": "alice", "email": "alice@example.com", "first_name": "Alice", "last_name": "Liddell",
				"password": "correct-horse-battery-staple", "password_confirm": "correct-horse-battery-staple"}}),
		DefaultStatus: http.StatusCreated,
		Responses: withErrors(map[string]*huma.Response{
			"201": response("The user was created (inactive until verified, when verification is on).", nil,
				example{name: "created", summary: "Created", value: map[string]any{
					"id": "4f9c1f0e-6a0e-4b1b-9a57-5f0c2a7d3e11", "username": "alice", "first_name": "Alice",
					"last_name": "Liddell", "email": "alice@example.com"}}),
			"400": badRequest("The request was rejected; nothing was stored or sent.",
				example{name: "field_errors", summary: "Stage 1: field checks and uniqueness", value: registerStage1},
				example{name: "password_errors", summary: "Stage 2: password policy and confirmation", value: registerStage2},
				detailExample("no_email", "Stage 3: verification needs an e-mail address", core.MsgNoEmail)),
		}, true),
		SkipValidateBody: true,
	}

	verify := huma.Operation{
		OperationID: "verifyRegistration",
		Method:      http.MethodPost,
		Path:        base + "/verify-registration/",
		Summary:     "Verify a registration",
		Description: "Activates the user named by a verification link. The checks run in this order: the " +
			"signature (`Invalid signature`), the age against REGISTER_VERIFICATION_PERIOD (`Signature expired`; " +
			"timestamps in the future are accepted), the user (`User not found`). Posting a valid link again " +
			"answers 200 again, except with REGISTER_VERIFICATION_ONE_TIME_USE, where a used link answers " +
			"`Invalid signature` (and an unknown user answers `User not found` whatever the signature).\n\n" +
			"Throttled per client address (THROTTLE_VERIFY_IP) and per `user_id` (THROTTLE_VERIFY_USER). " +
			"Answers 404 when REGISTER_VERIFICATION_ENABLED is false.",
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("The parameters of the verification link.", schemaRef(reflect.TypeFor[verifyRegistrationRequest]()),
			example{name: "link", summary: "Parameters copied from the link", value: map[string]any{
				"user_id": "4f9c1f0e-6a0e-4b1b-9a57-5f0c2a7d3e11", "timestamp": 1700000000,
				"signature": "q2B3nFzGJ1S3qg7bFf4dT8mJrY1yWcX0vK9hLsPzEaU"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The user is verified (and active).", nil,
				example{name: "verified", summary: "Verified", value: map[string]any{"detail": core.MsgUserVerified}},
				example{name: "verified_with_token", summary: "Verified, with auto-login",
					value: map[string]any{"detail": core.MsgUserVerified, "token": "3f786850e387550fdab836ed7e6dc881de23001b"}}),
			"400": withNoStore(badRequest("The link was rejected; nothing changed.",
				example{name: "field_errors", summary: "Missing or malformed parameters",
					value: map[string]any{"timestamp": []any{core.MsgInvalidInteger}, "signature": []any{core.MsgRequired}}},
				detailExample("invalid_signature", "Signature does not match", core.MsgInvalidSignature),
				detailExample("expired", "Link older than REGISTER_VERIFICATION_PERIOD", core.MsgSignatureExpired),
				detailExample("user_not_found", "No such user", core.MsgUserNotFound))),
		}, true),
		SkipValidateBody: true,
	}

	login := huma.Operation{
		OperationID: "login",
		Method:      http.MethodPost,
		Path:        base + "/login/",
		Summary:     "Log in",
		Description: "Checks a username or e-mail address (USER_LOGIN_FIELDS) and a password. A wrong password, " +
			"an unknown login and a user who is not verified yet all get the same answer, after the same " +
			"password-hashing work. With LOGIN_RETRIEVE_TOKEN, each successful login issues a new token.\n\n" +
			"Throttled per client address (THROTTLE_LOGIN_IP) and per login (THROTTLE_LOGIN_ACCOUNT, compared " +
			"case-insensitively).",
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("The credentials.", schemaRef(reflect.TypeFor[loginRequest]()),
			example{name: "by_username", summary: "By username", value: map[string]any{"login": "alice", "password": "correct-horse-battery-staple"}},
			example{name: "by_email", summary: "By e-mail address", value: map[string]any{"login": "alice@example.com", "password": "correct-horse-battery-staple"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The credentials are valid.", nil,
				example{name: "with_token", summary: "With a token",
					value: map[string]any{"detail": core.MsgLoginSuccessful, "token": "3f786850e387550fdab836ed7e6dc881de23001b"}}),
			"400": withNoStore(badRequest("The credentials were rejected.",
				example{name: "field_errors", summary: "Missing fields", value: map[string]any{"password": []any{core.MsgRequired}}},
				detailExample("invalid", "Wrong password, unknown login or user not verified", core.MsgLoginInvalid))),
		}, false),
		SkipValidateBody: true,
	}

	resend := huma.Operation{
		OperationID: "resendVerification",
		Method:      http.MethodPost,
		Path:        base + "/resend-verification/",
		Summary:     "Resend the verification e-mail",
		Description: "Mails a new verification link (signed now) to the user a username or e-mail address names " +
			"(USER_LOGIN_FIELDS), when that user exists, is not verified yet, has an e-mail address, and was not " +
			"sent one within RESEND_VERIFICATION_INTERVAL (registration counts). The answer is always the same " +
			"200, whether or not an e-mail was sent, so it tells nobody which accounts exist; the e-mail is sent " +
			"after the answer, and a failure to send it is logged, not reported.\n\n" +
			"Earlier links stay valid until they expire. With REGISTER_VERIFICATION_ONE_TIME_USE they keep " +
			"working until one of the user's links is used: every link of an unverified user is signed alike, " +
			"and all of them stop working once the user is verified.\n\n" +
			"Throttled per client address (THROTTLE_RESEND_IP) and per login (THROTTLE_RESEND_ACCOUNT). Answers " +
			"404 when RESEND_VERIFICATION_ENABLED or REGISTER_VERIFICATION_ENABLED is false.",
		Tags:     []string{tagAccounts},
		Security: public(),
		RequestBody: requestBody("Who needs a new link.", schemaRef(reflect.TypeFor[resendVerificationRequest]()),
			example{name: "by_email", summary: "By e-mail address", value: map[string]any{"login": "alice@example.com"}},
			example{name: "by_username", summary: "By username", value: map[string]any{"login": "alice"}}),
		DefaultStatus: http.StatusOK,
		Responses: withErrors(map[string]*huma.Response{
			"200": response("The request was taken; an e-mail was sent if there was reason to.", schemaRef(reflect.TypeFor[detail]()),
				detailExample("taken", "Always this answer", usecase.MsgResendAnswer)),
			"400": badRequest("The request is malformed; nothing was sent.",
				example{name: "field_errors", summary: "Missing login", value: map[string]any{"login": []any{core.MsgRequired}}}),
		}, true),
		SkipValidateBody: true,
	}

	probeMethod := response("The method is not GET; the Allow header lists the methods.", schemaRef(reflect.TypeFor[detail]()),
		detailExample("method", "Wrong method", `Method "POST" not allowed.`))
	healthz := huma.Operation{
		OperationID:   "getHealth",
		Method:        http.MethodGet,
		Path:          "/healthz",
		Summary:       "Liveness probe",
		Description:   "Answers 200 while the process is up, whatever its dependencies do.",
		Tags:          []string{tagProbes},
		Security:      public(),
		DefaultStatus: http.StatusOK,
		Responses: map[string]*huma.Response{
			"200": response("The process is up.", nil,
				example{name: "ok", summary: "Up", value: map[string]any{"status": "ok"}}),
			"405": probeMethod,
		},
	}
	notReady := response("The store cannot be reached; retry after the number of seconds in Retry-After.", schemaRef(reflect.TypeFor[detail]()),
		detailExample("not_ready", "Not ready", msgUnavailable))
	notReady.Headers["Retry-After"] = &huma.Param{Ref: headerRef + "RetryAfter"}
	readyz := huma.Operation{
		OperationID:   "getReadiness",
		Method:        http.MethodGet,
		Path:          "/readyz",
		Summary:       "Readiness probe",
		Description:   "Answers 200 when the store is reachable and requests can be served, 503 otherwise.",
		Tags:          []string{tagProbes},
		Security:      public(),
		DefaultStatus: http.StatusOK,
		Responses: map[string]*huma.Response{
			"200": response("Requests can be served.", nil,
				example{name: "ready", summary: "Ready", value: map[string]any{"status": "ready", "outbox": map[string]any{"pending": 0, "oldest_age_seconds": 0}}}),
			"405": probeMethod,
			"503": notReady,
		},
	}
	return opSet{register: register, verify: verify, login: login, resend: resend, healthz: healthz, readyz: readyz}
}
