package httpapi

import (
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/restreg/restreg/core"
)

// Names of the security schemes in the OpenAPI document: an operation that
// needs a login token lists both (authenticated), a public one none.
const (
	securityToken  = "Token"
	securityBearer = "Bearer"
)

// securitySchemes documents how a request carries a login token: DRF's
// "Authorization: Token <key>" and, as restreg also accepts it, the
// standard "Authorization: Bearer <key>".
func securitySchemes() map[string]*huma.SecurityScheme {
	return map[string]*huma.SecurityScheme{
		securityToken: {
			Type: "apiKey",
			In:   "header",
			Name: "Authorization",
			Description: "Django REST framework's token authentication: the header `Authorization: Token <key>`, " +
				"where the key is the 40 lower-case hex characters that login/ answered with. The keyword is " +
				"case-insensitive.",
		},
		securityBearer: {
			Type:         "http",
			Scheme:       "bearer",
			BearerFormat: "40 lower-case hex characters",
			Description:  "The same login token as `Authorization: Bearer <key>`.",
		},
	}
}

// authenticated is the security requirement of an operation that needs a
// login token: either scheme.
func authenticated() []map[string][]string {
	return []map[string][]string{{securityToken: {}}, {securityBearer: {}}}
}

// unauthorizedResponse is the 401 of every operation that needs a login
// token, with DRF's messages and its WWW-Authenticate challenge.
func unauthorizedResponse() *huma.Response {
	r := response("The request carries no login token, a malformed Authorization header, an unknown, revoked or "+
		"expired token, or the token of an inactive user (Django REST framework's messages, word for word). "+
		"WWW-Authenticate is `Token`.", schemaRef(reflect.TypeFor[detail]()),
		detailExample("not_provided", "No credentials", core.MsgAuthNotProvided),
		detailExample("invalid_token", "Unknown, revoked or expired token", core.MsgTokenInvalid),
		detailExample("inactive", "The token's user is inactive", core.MsgTokenUserInactive),
		detailExample("no_key", "Keyword without a key", core.MsgTokenNoCredentials),
		detailExample("spaces", "More than one word after the keyword", core.MsgTokenHasSpaces))
	r.Headers["WWW-Authenticate"] = &huma.Param{Ref: headerRef + "WWWAuthenticate"}
	return r
}

// wwwAuthenticateHeader documents the challenge of every 401.
func wwwAuthenticateHeader() *huma.Header {
	return &huma.Header{
		Description: "`Token`: the scheme a client should authenticate with (Django REST framework's challenge).",
		Schema:      &huma.Schema{Type: "string", Enum: []any{core.AuthenticateChallenge}},
	}
}
