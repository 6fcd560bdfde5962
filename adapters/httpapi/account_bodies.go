package httpapi

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/restreg/restreg/core/usecase"
)

// logoutRequest documents the body of logout/.
type logoutRequest struct {
	_           struct{} `additionalProperties:"true"`
	RevokeToken bool     `json:"revoke_token,omitempty" doc:"Revoke the request's token (default false). Django REST framework's booleans: true/false, 1/0, and the strings \"true\", \"yes\", \"on\", \"1\" and their opposites."`
}

// profileRequest documents the body of POST, PUT and PATCH profile/.
type profileRequest struct {
	_         struct{} `additionalProperties:"true"`
	Username  string   `json:"username,omitempty" maxLength:"150" doc:"A new username: letters, digits and @/./+/-/_; NFKC-normalised; unique. Required by POST and PUT when editable."`
	FirstName string   `json:"first_name,omitempty" maxLength:"150"`
	LastName  string   `json:"last_name,omitempty" maxLength:"150"`
}

// changePasswordRequest documents the body of change-password/.
type changePasswordRequest struct {
	_               struct{} `additionalProperties:"true"`
	OldPassword     string   `json:"old_password" format:"password" writeOnly:"true" doc:"The current password."`
	Password        string   `json:"password" format:"password" writeOnly:"true" doc:"The new password, checked against the password policy with the user's attributes."`
	PasswordConfirm string   `json:"password_confirm,omitempty" format:"password" writeOnly:"true" doc:"Must equal password, with CHANGE_PASSWORD_SERIALIZER_PASSWORD_CONFIRM."`
}

// profileBody is the body of 200 profile/: the public fields, in the order
// DRR's serializer lists them (fields), each only when public.
type profileBody struct {
	ID         string  `json:"id,omitempty" doc:"Stable identifier of the user."`
	LastLogin  *string `json:"last_login,omitempty" format:"date-time" nullable:"true" doc:"When the user last logged in (null: never); shown only when public."`
	Username   string  `json:"username,omitempty"`
	FirstName  string  `json:"first_name,omitempty"`
	LastName   string  `json:"last_name,omitempty"`
	Email      string  `json:"email,omitempty" doc:"The address as stored, or an empty string. Read-only here: register-email/ changes it."`
	IsActive   bool    `json:"is_active,omitempty" doc:"Shown only when public."`
	DateJoined string  `json:"date_joined,omitempty" format:"date-time" doc:"When the user registered; shown only when public."`

	// fields are the public fields, in the order shown.
	fields []string
}

// profileOf renders a profile answer: each public field as DRF's serializer
// renders it (dates in ISO 8601, UTC as "Z", microseconds when not zero).
func profileOf(res usecase.ProfileResult) profileBody {
	u := res.User
	b := profileBody{ID: u.ID, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
		IsActive: u.IsActive, fields: res.Fields}
	for _, f := range res.Fields {
		switch f {
		case "date_joined":
			b.DateJoined = drfDateTime(u.CreatedAt)
		case "last_login":
			if !u.LastLogin.IsZero() {
				s := drfDateTime(u.LastLogin)
				b.LastLogin = &s
			}
		}
	}
	return b
}

// MarshalJSON writes the public fields in their order, as DRF does.
func (b profileBody) MarshalJSON() ([]byte, error) {
	return b.appendJSON(make([]byte, 0, 160)), nil
}

// appendJSON appends the body as JSON. Every authenticated client asks for
// it, so it writes the few value kinds a profile has directly instead of
// through reflection (encodeJSON takes this path).
func (b profileBody) appendJSON(out []byte) []byte {
	out = append(out, '{')
	for i, f := range b.fields {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, f)
		out = append(out, ':')
		switch f {
		case "id":
			out = appendJSONString(out, b.ID)
		case "username":
			out = appendJSONString(out, b.Username)
		case "first_name":
			out = appendJSONString(out, b.FirstName)
		case "last_name":
			out = appendJSONString(out, b.LastName)
		case "email":
			out = appendJSONString(out, b.Email)
		case "is_active":
			out = strconv.AppendBool(out, b.IsActive)
		case "date_joined":
			out = appendJSONString(out, b.DateJoined)
		case "last_login":
			if b.LastLogin == nil {
				out = append(out, "null"...)
			} else {
				out = appendJSONString(out, *b.LastLogin)
			}
		default:
			out = append(out, "null"...)
		}
	}
	return append(out, '}')
}

// appendJSONString appends s as a JSON string the way DRF's renderer writes
// it: non-ASCII kept as is, quotes, backslashes and control characters
// escaped, and U+2028 and U+2029 escaped (as DRF does for JavaScript's
// sake); invalid UTF-8 becomes U+FFFD.
func appendJSONString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out = append(out, '\\', byte(r))
		case r == '\n':
			out = append(out, '\\', 'n')
		case r == '\r':
			out = append(out, '\\', 'r')
		case r == '\t':
			out = append(out, '\\', 't')
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			out = append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return append(out, '"')
}

// drfDateTime renders t as DRF's DateTimeField does in UTC: ISO 8601,
// microseconds only when there are any, "Z" for UTC.
func drfDateTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}
