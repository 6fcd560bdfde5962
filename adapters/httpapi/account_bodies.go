package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

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

	// fields are the public fields in order; values holds what each shows.
	fields []string
	values map[string]any
}

// profileOf renders a profile answer: each public field as DRF's serializer
// renders it (dates in ISO 8601, UTC as "Z", microseconds when not zero).
func profileOf(res usecase.ProfileResult) profileBody {
	u := res.User
	b := profileBody{fields: res.Fields, values: make(map[string]any, len(res.Fields))}
	for _, f := range res.Fields {
		switch f {
		case "id":
			b.ID = u.ID
			b.values[f] = u.ID
		case "username":
			b.Username = u.Username
			b.values[f] = u.Username
		case "first_name":
			b.FirstName = u.FirstName
			b.values[f] = u.FirstName
		case "last_name":
			b.LastName = u.LastName
			b.values[f] = u.LastName
		case "email":
			b.Email = u.Email
			b.values[f] = u.Email
		case "is_active":
			b.IsActive = u.IsActive
			b.values[f] = u.IsActive
		case "date_joined":
			b.DateJoined = drfDateTime(u.CreatedAt)
			b.values[f] = b.DateJoined
		case "last_login":
			if !u.LastLogin.IsZero() {
				s := drfDateTime(u.LastLogin)
				b.LastLogin = &s
			}
			b.values[f] = b.LastLogin
		}
	}
	return b
}

// MarshalJSON writes the public fields in their order, as DRF does.
func (b profileBody) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range b.fields {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("profile field name: %w", err)
		}
		buf.Write(k)
		buf.WriteByte(':')
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(b.values[f]); err != nil {
			return nil, fmt.Errorf("profile field %s: %w", f, err)
		}
		buf.Truncate(buf.Len() - 1) // the encoder's newline
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
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
