package httpapi

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
)

// This file parses request JSON the way Python's json module (CPython's C
// scanner, as Django REST framework calls it) does, so that a malformed body
// answers with the same "JSON parse error - …" message a Django backend
// gives, positions counted in characters as Python counts them.

// maxJSONDepth bounds nesting. Python gives up at its recursion limit
// (about 1000 frames); a fixed bound also keeps the stack of this recursive
// parser small whatever MAX_BODY_BYTES is.
const maxJSONDepth = 1000

// jsonSyntaxError is a body Python's json module would refuse, with the
// message it would give.
type jsonSyntaxError struct{ msg string }

func (e *jsonSyntaxError) Error() string { return e.msg }

// jsonTopLevel is the outcome of parsing a whole JSON document.
type jsonTopLevel struct {
	// fields holds the members when the document is an object.
	fields map[string]core.Value
	// typeName is Python's type name of the document ("dict", "list", "int",
	// "float", "str", "bool", "NoneType").
	typeName string
}

// parsePythonJSON parses body (already decoded to characters) like
// json.loads with DRF's strict constants.
func parsePythonJSON(doc []rune) (jsonTopLevel, error) {
	if len(doc) > 0 && doc[0] == '\ufeff' {
		return jsonTopLevel{}, pyErr(doc, "Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
	}
	p := &pyParser{doc: doc}
	idx := p.skipWS(0)
	v, end, err := p.scanOnce(idx, 0, true)
	if err != nil {
		return jsonTopLevel{}, err
	}
	end = p.skipWS(end)
	if end != len(doc) {
		return jsonTopLevel{}, pyErr(doc, "Extra data", end)
	}
	return jsonTopLevel{fields: v.fields, typeName: v.typeName}, nil
}

// pyErr formats a json.JSONDecodeError message: "msg: line L column C (char P)".
func pyErr(doc []rune, msg string, pos int) error {
	line := 1
	lastNL := -1
	for i := 0; i < pos && i < len(doc); i++ {
		if doc[i] == '\n' {
			line++
			lastNL = i
		}
	}
	return &jsonSyntaxError{msg: fmt.Sprintf("%s: line %d column %d (char %d)", msg, line, pos-lastNL, pos)}
}

type pyParser struct {
	doc []rune
}

// pyValue is a scanned JSON value: its Python type and, for the members of
// the top-level object, the core.Value a use case receives.
type pyValue struct {
	typeName string
	value    core.Value
	fields   map[string]core.Value
}

func isWS(c rune) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c rune) bool { return c >= '0' && c <= '9' }

func (p *pyParser) skipWS(i int) int {
	for i < len(p.doc) && isWS(p.doc[i]) {
		i++
	}
	return i
}

// expectingValue is Python's StopIteration turned into JSONDecodeError.
func (p *pyParser) expectingValue(idx int) error { return pyErr(p.doc, "Expecting value", idx) }

// hasWord reports whether word follows at idx with at least one more
// character after it or ending exactly at the end, as CPython checks.
func (p *pyParser) hasWord(idx int, word string) bool {
	i := idx
	for _, c := range word {
		if i >= len(p.doc) || p.doc[i] != c {
			return false
		}
		i++
	}
	return true
}

// scanOnce scans one value at idx; collect asks an object to keep its members.
func (p *pyParser) scanOnce(idx, depth int, collect bool) (pyValue, int, error) {
	doc := p.doc
	if idx >= len(doc) {
		return pyValue{}, 0, p.expectingValue(idx)
	}
	switch doc[idx] {
	case '"':
		s, end, err := p.scanString(idx + 1)
		if err != nil {
			return pyValue{}, 0, err
		}
		return pyValue{typeName: "str", value: core.Value{Present: true, Text: s}}, end, nil
	case '{':
		if depth >= maxJSONDepth {
			return pyValue{}, 0, &jsonSyntaxError{msg: "maximum recursion depth exceeded while decoding a JSON object from a unicode string"}
		}
		fields, end, err := p.parseObject(idx+1, depth+1, collect)
		if err != nil {
			return pyValue{}, 0, err
		}
		return pyValue{typeName: "dict", value: core.Value{Present: true, NotText: true}, fields: fields}, end, nil
	case '[':
		if depth >= maxJSONDepth {
			return pyValue{}, 0, &jsonSyntaxError{msg: "maximum recursion depth exceeded while decoding a JSON array from a unicode string"}
		}
		end, err := p.parseArray(idx+1, depth+1)
		if err != nil {
			return pyValue{}, 0, err
		}
		return pyValue{typeName: "list", value: core.Value{Present: true, NotText: true}}, end, nil
	case 'n':
		if p.hasWord(idx, "null") {
			return pyValue{typeName: "NoneType", value: core.Value{Present: true, Null: true}}, idx + 4, nil
		}
	case 't':
		if p.hasWord(idx, "true") {
			return pyValue{typeName: "bool", value: core.Value{Present: true, NotText: true, Bool: true, Text: "true"}}, idx + 4, nil
		}
	case 'f':
		if p.hasWord(idx, "false") {
			return pyValue{typeName: "bool", value: core.Value{Present: true, NotText: true, Bool: true, Text: "false"}}, idx + 5, nil
		}
	case 'N':
		if p.hasWord(idx, "NaN") {
			return pyValue{}, 0, outOfRange("NaN")
		}
	case 'I':
		if p.hasWord(idx, "Infinity") {
			return pyValue{}, 0, outOfRange("Infinity")
		}
	case '-':
		if p.hasWord(idx, "-Infinity") {
			return pyValue{}, 0, outOfRange("-Infinity")
		}
	}
	return p.matchNumber(idx)
}

// outOfRange is DRF's strict_constant refusal of NaN and the infinities.
func outOfRange(constant string) error {
	return &jsonSyntaxError{msg: "Out of range float values are not JSON compliant: '" + constant + "'"}
}

// matchNumber follows CPython's _match_number_unicode, including its
// backtracking over a dangling exponent ("1e" is 1 followed by extra data).
func (p *pyParser) matchNumber(start int) (pyValue, int, error) {
	doc := p.doc
	end := len(doc) - 1
	idx := start
	if doc[idx] == '-' {
		idx++
		if idx > end {
			return pyValue{}, 0, p.expectingValue(start)
		}
	}
	switch c := doc[idx]; {
	case c >= '1' && c <= '9':
		idx++
		for idx <= end && isDigit(doc[idx]) {
			idx++
		}
	case c == '0':
		idx++
	default:
		return pyValue{}, 0, p.expectingValue(start)
	}
	isFloat := false
	if idx < end && doc[idx] == '.' && isDigit(doc[idx+1]) {
		isFloat = true
		idx += 2
		for idx <= end && isDigit(doc[idx]) {
			idx++
		}
	}
	if idx < end && (doc[idx] == 'e' || doc[idx] == 'E') {
		eStart := idx
		idx++
		if idx < end && (doc[idx] == '-' || doc[idx] == '+') {
			idx++
		}
		for idx <= end && isDigit(doc[idx]) {
			idx++
		}
		if isDigit(doc[idx-1]) {
			isFloat = true
		} else {
			idx = eStart
		}
	}
	typeName := "int"
	if isFloat {
		typeName = "float"
	}
	return pyValue{typeName: typeName, value: core.Value{Present: true, Number: true, Text: string(doc[start:idx])}}, idx, nil
}

// scanString follows CPython's scanstring_unicode in strict mode; end is the
// index just after the opening quote.
func (p *pyParser) scanString(end int) (string, int, error) {
	doc := p.doc
	begin := end - 1
	var b strings.Builder
	for {
		next := end
		var c rune
		for ; next < len(doc); next++ {
			c = doc[next]
			if c == '"' || c == '\\' {
				break
			}
			if c <= 0x1f {
				return "", 0, pyErr(doc, "Invalid control character at", next)
			}
		}
		if next >= len(doc) {
			return "", 0, pyErr(doc, "Unterminated string starting at", begin)
		}
		if c == '"' && b.Len() == 0 {
			// The common case: no escape in the whole string.
			return string(doc[end:next]), next + 1, nil
		}
		writeRunes(&b, doc[end:next])
		next++
		if c == '"' {
			return b.String(), next, nil
		}
		if next == len(doc) {
			return "", 0, pyErr(doc, "Unterminated string starting at", begin)
		}
		c = doc[next]
		if c != 'u' {
			end = next + 1
			switch c {
			case '"', '\\', '/':
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default:
				return "", 0, pyErr(doc, `Invalid \escape`, end-2)
			}
			b.WriteRune(c)
			continue
		}
		next++
		end = next + 4
		if end >= len(doc) {
			return "", 0, pyErr(doc, `Invalid \uXXXX escape`, next-1)
		}
		u, ok := hex4(doc[next:end])
		if !ok {
			return "", 0, pyErr(doc, `Invalid \uXXXX escape`, end-5)
		}
		if u >= 0xd800 && u <= 0xdbff && end+6 < len(doc) && doc[end] == '\\' && doc[end+1] == 'u' {
			u2, ok := hex4(doc[end+2 : end+6])
			if !ok {
				return "", 0, pyErr(doc, `Invalid \uXXXX escape`, end+1)
			}
			if u2 >= 0xdc00 && u2 <= 0xdfff {
				u = 0x10000 + (u-0xd800)<<10 + (u2 - 0xdc00)
				end += 6
			}
		}
		// A lone surrogate is valid to Python but not to Go strings; it
		// becomes U+FFFD, which no field accepts as anything meaningful.
		b.WriteRune(u)
	}
}

func writeRunes(b *strings.Builder, rs []rune) {
	for _, r := range rs {
		b.WriteRune(r)
	}
}

func hex4(rs []rune) (rune, bool) {
	var v rune
	for _, d := range rs {
		v <<= 4
		switch {
		case d >= '0' && d <= '9':
			v |= d - '0'
		case d >= 'a' && d <= 'f':
			v |= d - 'a' + 10
		case d >= 'A' && d <= 'F':
			v |= d - 'A' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

// parseObject follows CPython's _parse_object_unicode; idx is just after '{'.
// Duplicate keys keep the last value, as a Python dict does.
func (p *pyParser) parseObject(idx, depth int, collect bool) (map[string]core.Value, int, error) {
	doc := p.doc
	var fields map[string]core.Value
	if collect {
		fields = map[string]core.Value{}
	}
	idx = p.skipWS(idx)
	if idx < len(doc) && doc[idx] == '}' {
		return fields, idx + 1, nil
	}
	for {
		if idx >= len(doc) || doc[idx] != '"' {
			return nil, 0, pyErr(doc, "Expecting property name enclosed in double quotes", idx)
		}
		key, next, err := p.scanString(idx + 1)
		if err != nil {
			return nil, 0, err
		}
		idx = p.skipWS(next)
		if idx >= len(doc) || doc[idx] != ':' {
			return nil, 0, pyErr(doc, "Expecting ':' delimiter", idx)
		}
		idx = p.skipWS(idx + 1)
		v, next, err := p.scanOnce(idx, depth, false)
		if err != nil {
			return nil, 0, err
		}
		if collect {
			fields[key] = v.value
		}
		idx = p.skipWS(next)
		if idx < len(doc) && doc[idx] == '}' {
			return fields, idx + 1, nil
		}
		if idx >= len(doc) || doc[idx] != ',' {
			return nil, 0, pyErr(doc, "Expecting ',' delimiter", idx)
		}
		idx = p.skipWS(idx + 1)
	}
}

// parseArray follows CPython's _parse_array_unicode; idx is just after '['.
func (p *pyParser) parseArray(idx, depth int) (int, error) {
	doc := p.doc
	idx = p.skipWS(idx)
	if idx < len(doc) && doc[idx] == ']' {
		return idx + 1, nil
	}
	for {
		_, next, err := p.scanOnce(idx, depth, false)
		if err != nil {
			return 0, err
		}
		idx = p.skipWS(next)
		if idx < len(doc) && doc[idx] == ']' {
			return idx + 1, nil
		}
		if idx >= len(doc) || doc[idx] != ',' {
			return 0, pyErr(doc, "Expecting ',' delimiter", idx)
		}
		idx = p.skipWS(idx + 1)
	}
}

// decodeText turns body bytes into characters with the request's charset as
// Python's codecs would: UTF-8 by default (strict, with Python's error
// message), Latin-1 when asked. A multi-byte sequence cut off at the very end
// is dropped silently, as DRF's incremental stream reader does.
func decodeText(body []byte, charset string) ([]rune, error) {
	switch strings.ToLower(strings.ReplaceAll(charset, "_", "-")) {
	case "iso-8859-1", "latin-1", "latin1", "iso8859-1", "l1":
		out := make([]rune, len(body))
		for i, c := range body {
			out[i] = rune(c)
		}
		return out, nil
	}
	out := make([]rune, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			out = append(out, rune(c))
			i++
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, r)
			i += size
			continue
		}
		span, reason := utf8ErrorSpan(body[i:])
		if reason == "unexpected end of data" {
			break
		}
		if span == 1 {
			return nil, &jsonSyntaxError{msg: fmt.Sprintf("'utf-8' codec can't decode byte 0x%02x in position %d: %s", c, i, reason)}
		}
		return nil, &jsonSyntaxError{msg: fmt.Sprintf("'utf-8' codec can't decode bytes in position %d-%d: %s", i, i+span-1, reason)}
	}
	return out, nil
}

// utf8ErrorSpan classifies an invalid UTF-8 sequence at the start of b the
// way CPython's decoder reports it: how many bytes the error covers and why.
func utf8ErrorSpan(b []byte) (int, string) {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xbf)
	switch {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c == 0xed:
		need, hi = 2, 0x9f
	case c >= 0xe1 && c <= 0xef:
		need = 2
	case c == 0xf0:
		need, lo = 3, 0x90
	case c == 0xf4:
		need, hi = 3, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	default:
		return 1, "invalid start byte"
	}
	for k := 1; k <= need; k++ {
		if k >= len(b) {
			return k, "unexpected end of data"
		}
		l, h := byte(0x80), byte(0xbf)
		if k == 1 {
			l, h = lo, hi
		}
		if b[k] < l || b[k] > h {
			return k, "invalid continuation byte"
		}
	}
	// Unreachable for input utf8.DecodeRune rejected; report one byte.
	return 1, "invalid start byte"
}
