package core

import "unicode/utf8"

// DRF's TokenAuthentication messages, word for word.
const (
	MsgAuthNotProvided     = "Authentication credentials were not provided."
	MsgTokenNoCredentials  = "Invalid token header. No credentials provided."
	MsgTokenHasSpaces      = "Invalid token header. Token string should not contain spaces."
	MsgTokenInvalidChars   = "Invalid token header. Token string should not contain invalid characters."
	MsgTokenInvalid        = "Invalid token."
	MsgTokenUserInactive   = "User inactive or deleted."
	AuthenticateChallenge  = "Token"
	tokenKeyword           = "token"
	bearerKeyword          = "bearer"
	maxAuthorizationLength = 4096
)

// TokenHeader is what an Authorization header says, read exactly as Django
// REST framework's TokenAuthentication reads it.
type TokenHeader struct {
	// Attempted is false when the header carries no token credentials at all
	// (absent, empty, another scheme): the request is anonymous.
	Attempted bool
	// Key is the token, when the header is well formed.
	Key string
	// Problem is DRF's message for a malformed header ("" when well formed).
	Problem string
}

// ParseTokenHeader reads an Authorization header value as DRF 3.14 does:
// split on ASCII whitespace; a first part other than the keyword "Token"
// (any case) is no attempt; the keyword alone is "no credentials", more than
// two parts "should not contain spaces", and a key whose bytes are not UTF-8
// "invalid characters". "Bearer" is accepted as a second keyword, an
// addition to DRF (which treats it as no attempt).
func ParseTokenHeader(value string) TokenHeader {
	if len(value) > maxAuthorizationLength {
		return TokenHeader{Attempted: true, Problem: MsgTokenInvalid}
	}
	parts := splitASCIISpace(value)
	if len(parts) == 0 {
		return TokenHeader{}
	}
	switch asciiLower(parts[0]) {
	case tokenKeyword, bearerKeyword:
	default:
		return TokenHeader{}
	}
	switch {
	case len(parts) == 1:
		return TokenHeader{Attempted: true, Problem: MsgTokenNoCredentials}
	case len(parts) > 2:
		return TokenHeader{Attempted: true, Problem: MsgTokenHasSpaces}
	case !utf8.ValidString(parts[1]):
		return TokenHeader{Attempted: true, Problem: MsgTokenInvalidChars}
	}
	return TokenHeader{Attempted: true, Key: parts[1]}
}

// splitASCIISpace splits like Python's bytes.split(): on runs of the ASCII
// whitespace bytes space, \t, \n, \v, \f and \r only (so a no-break space
// does not separate).
func splitASCIISpace(s string) []string {
	var out []string
	start := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\v', '\f', '\r':
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}
