package httpapi

import (
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
)

// The types below are the bodies of the HTTP contract; the OpenAPI document
// takes their schemas from them. Struct tags carry what holds on every
// server; tuneSchemas adds what depends on the settings.

// registerRequest documents the body of register/. Request bodies are
// decoded by decodeBody (DRF's parsers, byte for byte), never into these
// types: they exist for the document.
type registerRequest struct {
	_               struct{} `additionalProperties:"true"`
	Username        string   `json:"username" maxLength:"150"`
	Email           string   `json:"email,omitempty" format:"email" maxLength:"254"`
	FirstName       string   `json:"first_name,omitempty" maxLength:"150" doc:"Optional; defaults to an empty string."`
	LastName        string   `json:"last_name,omitempty" maxLength:"150" doc:"Optional; defaults to an empty string."`
	Password        string   `json:"password" format:"password" writeOnly:"true" doc:"Checked against the password policy (similarity, minimum length, common passwords, entirely numeric); at most 4096 characters."`
	PasswordConfirm string   `json:"password_confirm,omitempty" format:"password" writeOnly:"true"`
}

// verifyRegistrationRequest documents the body of verify-registration/.
type verifyRegistrationRequest struct {
	_         struct{} `additionalProperties:"true"`
	UserID    string   `json:"user_id"`
	Timestamp int64    `json:"timestamp" doc:"Unix time the link was signed at. A string of digits (also with a .0 suffix) is accepted too."`
	Signature string   `json:"signature" doc:"The link's signature."`
}

// loginRequest documents the body of login/.
type loginRequest struct {
	_        struct{} `additionalProperties:"true"`
	Login    string   `json:"login"`
	Password string   `json:"password" format:"password" writeOnly:"true" doc:"The account's password."`
}

// resendVerificationRequest documents the body of resend-verification/.
type resendVerificationRequest struct {
	_     struct{} `additionalProperties:"true"`
	Login string   `json:"login"`
}

// registeredUser is the body of 201 register/.
type registeredUser struct {
	ID        string `json:"id" doc:"Stable identifier of the user."`
	Username  string `json:"username" doc:"The username as stored (NFKC-normalised)."`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email" doc:"The address as stored, or an empty string."`
}

// verificationResult is the body of 200 verify-registration/.
type verificationResult struct {
	Detail string `json:"detail" doc:"User verified successfully."`
	Token  string `json:"token,omitempty" pattern:"^[0-9a-f]{40}$" doc:"A login token, present with REGISTER_VERIFICATION_AUTO_LOGIN and LOGIN_RETRIEVE_TOKEN."`
}

// loginResult is the body of 200 login/.
type loginResult struct {
	Detail string `json:"detail" doc:"Login successful."`
	Token  string `json:"token,omitempty" pattern:"^[0-9a-f]{40}$" doc:"A new login token (160 random bits as 40 lower-case hex digits), present with LOGIN_RETRIEVE_TOKEN."`
}

// probeStatus is the body of the probes.
type probeStatus struct {
	Status string         `json:"status" doc:"ok (liveness) or ready (readiness)."`
	Outbox *outboxDetails `json:"outbox,omitempty"`
}

// outboxDetails is the relay's backlog as /readyz shows it.
type outboxDetails struct {
	Pending          int     `json:"pending" doc:"How many events wait."`
	OldestAgeSeconds float64 `json:"oldest_age_seconds" doc:"Age of the oldest waiting event, in seconds (0 when none wait)."`
}

// detail is DRF's general error (or success) body.
type detail struct {
	Detail string `json:"detail" doc:"The message; part of the contract word for word."`
}

// detailOf is the body {"detail": msg}.
func detailOf(msg string) detail { return detail{Detail: msg} }

// fieldErrors is DRF's field-error body: each failing request field maps to
// its messages.
type fieldErrors map[string][]string

// Schema describes fieldErrors by hand: its keys are the request's field
// names plus non_field_errors, which a Go map type cannot say (huma.SchemaProvider).
func (fieldErrors) Schema(huma.Registry) *huma.Schema {
	minProps := 1
	return &huma.Schema{
		Type: "object",
		Description: "Django REST framework's field errors: each failing request field maps to its messages, " +
			"in validator order. `non_field_errors` holds errors not tied to one field; it is present " +
			"(possibly empty) when the password stage of registration fails.",
		Properties: map[string]*huma.Schema{
			nonFieldErrorsKey: {Type: "array", Items: &huma.Schema{Type: "string"}, Description: "Errors not tied to one field."},
		},
		AdditionalProperties: &huma.Schema{Type: "array", Items: &huma.Schema{Type: "string"}},
		MinProperties:        &minProps,
	}
}

// objectDocs describe the body types as a whole (Huma takes field
// descriptions from doc tags, but has no tag for a struct's own).
var objectDocs = map[reflect.Type]string{
	reflect.TypeFor[registerRequest]():           "A new account. Unknown keys (including `id`, `is_active`, `is_staff`) are ignored.",
	reflect.TypeFor[verifyRegistrationRequest](): "The three parameters of the verification link, as found in its query string.",
	reflect.TypeFor[loginRequest]():              "Credentials. Unknown keys are ignored.",
	reflect.TypeFor[resendVerificationRequest](): "Who needs a new link. Unknown keys are ignored.",
	reflect.TypeFor[registeredUser]():            "The account as stored. The password never appears in a response.",
	reflect.TypeFor[verificationResult]():        "",
	reflect.TypeFor[loginResult]():               "",
	reflect.TypeFor[probeStatus]():               "",
	reflect.TypeFor[outboxDetails](): "Readiness only: events recorded and not yet published (held, waiting for the " +
		"broker, or about to go out). A growing backlog means the broker is away; registrations go on regardless.",
	reflect.TypeFor[detail]():                "Django REST framework's general error (or success) message.",
	reflect.TypeFor[logoutRequest]():         "Unknown keys are ignored.",
	reflect.TypeFor[profileRequest]():        "The editable fields. Unknown and read-only keys (`id`, `email`, `is_active`, …) are ignored.",
	reflect.TypeFor[changePasswordRequest](): "Unknown keys are ignored.",
	reflect.TypeFor[profileBody]():           "The user's public fields (USER_PUBLIC_FIELDS, or every field but USER_HIDDEN_FIELDS). The password never appears in a response.",
}

// bodySchemas registers every body type in r, tuned to settings s: what a
// field accepts and requires depends on the flows and policies configured.
func bodySchemas(r huma.Registry, s core.Settings) {
	m := r.Map()
	for t, doc := range objectDocs {
		r.Schema(t, true, "")
		if doc != "" {
			m[schemaName(t)].Description = doc
		}
	}
	for _, t := range []reflect.Type{
		reflect.TypeFor[registerRequest](), reflect.TypeFor[verifyRegistrationRequest](),
		reflect.TypeFor[loginRequest](), reflect.TypeFor[resendVerificationRequest](),
		reflect.TypeFor[logoutRequest](), reflect.TypeFor[profileRequest](), reflect.TypeFor[changePasswordRequest](),
	} {
		// Unknown keys are ignored, as DRF's serializers do. Huma forbids
		// them by default; leaving additionalProperties out says they are
		// allowed without making generated clients carry a catch-all map.
		m[schemaName(t)].AdditionalProperties = nil
	}
	// Huma names struct schemas only; the map type is named here so that
	// every 400 answer refers to one definition.
	m[schemaName(reflect.TypeFor[fieldErrors]())] = fieldErrors{}.Schema(r)

	register := m[schemaName(reflect.TypeFor[registerRequest]())]
	register.Properties["username"].Description = "Letters, digits and @/./+/-/_ (letters are Unicode word characters); " +
		"NFKC-normalised before it is stored; unique" + caseNote(s) + "."
	emailDesc := "E-mail address (surrounding spaces trimmed, domain part lower-cased). "
	if s.RegisterVerificationEnabled {
		emailDesc += "Needed on this server: the verification link is sent to it."
	} else {
		emailDesc += "Optional on this server."
	}
	if s.UserEmailUnique {
		emailDesc += " One account per address (compared case-insensitively)."
	}
	register.Properties["email"].Description = emailDesc
	register.Properties["password_confirm"].Description = "Ignored: REGISTER_SERIALIZER_PASSWORD_CONFIRM is off on this server."
	if s.RegisterSerializerPasswordConfirm {
		register.Required = append(register.Required, "password_confirm")
		register.Properties["password_confirm"].Description = "Must equal `password` (`Passwords don't match` otherwise)."
	}

	m[schemaName(reflect.TypeFor[verifyRegistrationRequest]())].Properties["user_id"].Description =
		"What `user_id` holds in the link (USER_VERIFICATION_ID_FIELD=" + s.UserVerificationIDField +
			"), copied from the link; surrounding spaces are trimmed. A JSON number is accepted too."
	loginDesc := "Username or e-mail address (USER_LOGIN_FIELDS=" + strings.Join(s.UserLoginFields, ",") + ")."
	m[schemaName(reflect.TypeFor[loginRequest]())].Properties["login"].Description = loginDesc
	m[schemaName(reflect.TypeFor[resendVerificationRequest]())].Properties["login"].Description = loginDesc
	recoveryBodySchemas(r, s)
	cp := m[schemaName(reflect.TypeFor[changePasswordRequest]())]
	if s.ChangePasswordSerializerPasswordConfirm {
		cp.Required = append(cp.Required, "password_confirm")
	} else {
		cp.Properties["password_confirm"].Description = "Ignored: CHANGE_PASSWORD_SERIALIZER_PASSWORD_CONFIRM is off on this server."
	}
}

// schemaName is the component name of a body type.
func schemaName(t reflect.Type) string { return huma.DefaultSchemaNamer(t, "") }

// schemaRef is the reference to a body type's schema.
func schemaRef(t reflect.Type) *huma.Schema { return &huma.Schema{Ref: schemaPrefix + schemaName(t)} }

func caseNote(s core.Settings) string {
	if s.UsernameCaseInsensitive {
		return " compared case-insensitively (`Ann` and `ann` are the same user)"
	}
	return " (case-sensitive)"
}
