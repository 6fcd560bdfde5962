package httpapi

import (
	"strings"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
)

// Request bodies are decoded here rather than by Huma: the contract is Django
// REST framework's, whose answers to malformed input (415, "JSON parse error
// - …", "Expected a dictionary") are part of it.

// bodyKind is how a request body is parsed, chosen from its content type.
type bodyKind int

const (
	bodyUnsupported bodyKind = iota
	bodyJSON
	bodyForm
)

// mediaType is a parsed Content-Type header.
type mediaType struct {
	main, sub string
	charset   string
}

// parseMediaType splits a Content-Type header leniently, as Django does:
// type and parameter names are case-insensitive, malformed parameters are
// skipped.
func parseMediaType(header string) mediaType {
	parts := strings.Split(header, ";")
	full := strings.ToLower(strings.TrimSpace(parts[0]))
	var mt mediaType
	mt.main, mt.sub, _ = strings.Cut(full, "/")
	for _, p := range parts[1:] {
		name, value, ok := strings.Cut(p, "=")
		if !ok || strings.ToLower(strings.TrimSpace(name)) != "charset" {
			continue
		}
		mt.charset = strings.Trim(strings.TrimSpace(value), `"`)
	}
	return mt
}

// matches reports whether the request's type satisfies a parser's type,
// with DRF's wildcard rule: a "*" on either side matches anything.
func (m mediaType) matches(main, sub string) bool {
	if m.sub != "*" && m.sub != sub {
		return false
	}
	return m.main == "*" || m.main == main
}

// kind picks the parser the way DRF tries its parsers: JSON first, then form.
func (m mediaType) kind() bodyKind {
	switch {
	case m.matches("application", "json"):
		return bodyJSON
	case m.matches("application", "x-www-form-urlencoded"):
		return bodyForm
	default:
		return bodyUnsupported
	}
}

// unsupportedMediaTypeError is a body whose content type no parser accepts.
type unsupportedMediaTypeError struct{ contentType string }

func (e *unsupportedMediaTypeError) Error() string {
	return "unsupported media type " + e.contentType
}

// notObjectError is a JSON body that is valid but not an object.
type notObjectError struct{ typeName string }

func (e *notObjectError) Error() string { return "request body is a JSON " + e.typeName }

// decodeBody turns a request body into the fields a use case receives.
// Errors: *unsupportedMediaTypeError, *jsonSyntaxError, *notObjectError.
//
// An empty body is an empty set of fields whatever its declared type, as in
// DRF (the answer is then "This field is required." per field); a non-empty
// body without a Content-Type is unsupported.
func decodeBody(contentType string, body []byte) (map[string]core.Value, error) {
	mt := parseMediaType(contentType)
	kind := mt.kind()
	if len(body) == 0 && (kind != bodyUnsupported || strings.TrimSpace(contentType) == "") {
		return map[string]core.Value{}, nil
	}
	switch kind {
	case bodyJSON:
		return decodeJSONBody(body, mt.charset)
	case bodyForm:
		return decodeFormBody(body), nil
	default:
		return nil, &unsupportedMediaTypeError{contentType: contentType}
	}
}

func decodeJSONBody(body []byte, charset string) (map[string]core.Value, error) {
	doc, err := decodeText(body, charset)
	if err != nil {
		return nil, err
	}
	top, err := parsePythonJSON(doc)
	if err != nil {
		return nil, err
	}
	if top.typeName != "dict" {
		return nil, &notObjectError{typeName: top.typeName}
	}
	return top.fields, nil
}

// decodeFormBody parses application/x-www-form-urlencoded like Django's
// QueryDict: pairs split on "&", "+" is a space, malformed escapes stay as
// typed, undecodable bytes become U+FFFD, a key without "=" has an empty
// value, and of repeated keys the last one counts.
func decodeFormBody(body []byte) map[string]core.Value {
	text := string(body)
	if !utf8.Valid(body) {
		// Django retries a body that is not UTF-8 as Latin-1.
		rs := make([]rune, len(body))
		for i, c := range body {
			rs[i] = rune(c)
		}
		text = string(rs)
	}
	fields := map[string]core.Value{}
	for _, pair := range strings.Split(text, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		fields[formUnquote(name)] = core.Value{Present: true, Text: formUnquote(value)}
	}
	return fields
}

// formUnquote is Python's unquote_plus with errors="replace".
func formUnquote(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	raw := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			raw = append(raw, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			raw = append(raw, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			raw = append(raw, c)
		}
	}
	if utf8.Valid(raw) {
		return string(raw)
	}
	var b strings.Builder
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		b.WriteRune(r)
		raw = raw[size:]
	}
	return b.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
