package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
)

// pythonVector is one body and what DRF's JSON parser made of it, recorded
// by testdata/python_json_vectors.py under CPython.
type pythonVector struct {
	BodyB64 string `json:"body_b64"`
	Error   string `json:"error"`
	Type    string `json:"type"`
	Fields  map[string]struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	} `json:"fields"`
}

func TestJSONErrorsMatchPython(t *testing.T) {
	raw, err := os.ReadFile("testdata/python-json-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []pythonVector
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 50 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		body, err := base64.StdEncoding.DecodeString(v.BodyB64)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := decodeText(body, "utf-8")
		var top jsonTopLevel
		if err == nil {
			top, err = parsePythonJSON(doc)
		}
		if v.Error != "" {
			if err == nil || err.Error() != v.Error {
				t.Errorf("body %q: error %v, Python says %q", body, err, v.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("body %q: unexpected error %v (Python parses it as %s)", body, err, v.Type)
			continue
		}
		if top.typeName != v.Type {
			t.Errorf("body %q: type %s, Python says %s", body, top.typeName, v.Type)
		}
		if v.Type != "dict" {
			continue
		}
		if len(top.fields) != len(v.Fields) {
			t.Errorf("body %q: %d fields, Python has %d", body, len(top.fields), len(v.Fields))
		}
		for name, want := range v.Fields {
			got, ok := top.fields[name]
			if !ok || !got.Present {
				t.Errorf("body %q: field %q missing", body, name)
				continue
			}
			if want.Text != nil && (got.Text != *want.Text || got.NotText || got.Null || got.Number) {
				t.Errorf("body %q: field %q = %+v, want text %q", body, name, got, *want.Text)
			}
			switch want.Type {
			case "NoneType":
				if !got.Null {
					t.Errorf("body %q: field %q = %+v, want null", body, name, got)
				}
			case "int", "float":
				if !got.Number {
					t.Errorf("body %q: field %q = %+v, want a number", body, name, got)
				}
			case "bool", "dict", "list":
				if !got.NotText {
					t.Errorf("body %q: field %q = %+v, want NotText", body, name, got)
				}
			}
		}
	}
}

func TestJSONNumbersKeepTheirLiteralText(t *testing.T) {
	fields, err := decodeBody("application/json", []byte(`{"timestamp": 1700000000.0, "user_id": -12, "e": 1E5}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"timestamp": "1700000000.0", "user_id": "-12", "e": "1E5"}
	for k, text := range want {
		if got := fields[k]; got != core.Num(text) {
			t.Errorf("%s = %+v, want %+v", k, got, core.Num(text))
		}
	}
}

func TestJSONDepthIsBounded(t *testing.T) {
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	_, err := decodeBody("application/json", []byte(deep))
	var syntax *jsonSyntaxError
	if !errors.As(err, &syntax) || !strings.Contains(err.Error(), "maximum recursion depth") {
		t.Fatalf("error = %v, want a recursion-depth parse error", err)
	}
	ok := `{"a":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`
	if _, err := decodeBody("application/json", []byte(ok)); err != nil {
		t.Fatalf("nesting within the bound: %v", err)
	}
}

func TestDecodeBodyContentTypes(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		wantErr                 string // "" = success; else the error kind
		want                    map[string]core.Value
	}{
		{name: "json", contentType: "application/json", body: `{"a":"b"}`, want: map[string]core.Value{"a": core.Str("b")}},
		{name: "json charset, case", contentType: "Application/JSON; charset=UTF-8", body: `{"a":"b"}`, want: map[string]core.Value{"a": core.Str("b")}},
		{name: "json latin-1", contentType: "application/json; charset=iso-8859-1", body: "{\"a\":\"\xe9\"}", want: map[string]core.Value{"a": core.Str("é")}},
		{name: "wildcard matches json first", contentType: "*/*", body: `{"a":"b"}`, want: map[string]core.Value{"a": core.Str("b")}},
		{name: "form", contentType: "application/x-www-form-urlencoded", body: "a=b+c&d=%C3%A9&e&f=", want: map[string]core.Value{
			"a": core.Str("b c"), "d": core.Str("é"), "e": core.Str(""), "f": core.Str("")}},
		{name: "form last value wins", contentType: "application/x-www-form-urlencoded; charset=utf-8", body: "a=1&a=2", want: map[string]core.Value{"a": core.Str("2")}},
		{name: "form malformed escapes kept", contentType: "application/x-www-form-urlencoded", body: "a=%zz%4&b=%ff", want: map[string]core.Value{
			"a": core.Str("%zz%4"), "b": core.Str("\ufffd")}},
		{name: "form keys decoded, empty pairs skipped", contentType: "application/x-www-form-urlencoded", body: "&&user%5Fid=7&&", want: map[string]core.Value{"user_id": core.Str("7")}},
		{name: "empty json body", contentType: "application/json", body: "", want: map[string]core.Value{}},
		{name: "empty body without type", contentType: "", body: "", want: map[string]core.Value{}},
		{name: "body without type", contentType: "", body: `{"a":"b"}`, wantErr: "415"},
		{name: "text", contentType: "text/plain", body: `{"a":"b"}`, wantErr: "415"},
		{name: "empty text body", contentType: "text/plain", body: "", wantErr: "415"},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: "--x--", wantErr: "415"},
		{name: "json-like suffix", contentType: "application/vnd.api+json", body: `{}`, wantErr: "415"},
		{name: "bad json", contentType: "application/json", body: `{"a":}`, wantErr: "syntax"},
		{name: "list", contentType: "application/json", body: `[]`, wantErr: "list"},
		{name: "string", contentType: "application/json", body: `"x"`, wantErr: "str"},
		{name: "null", contentType: "application/json", body: `null`, wantErr: "NoneType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := decodeBody(c.contentType, []byte(c.body))
			var (
				media  *unsupportedMediaTypeError
				syntax *jsonSyntaxError
				notObj *notObjectError
			)
			switch c.wantErr {
			case "":
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if len(got) != len(c.want) {
					t.Fatalf("fields %+v, want %+v", got, c.want)
				}
				for k, v := range c.want {
					if got[k] != v {
						t.Errorf("%s = %+v, want %+v", k, got[k], v)
					}
				}
			case "415":
				if !errors.As(err, &media) || media.contentType != c.contentType {
					t.Fatalf("error %v, want unsupported media type %q", err, c.contentType)
				}
			case "syntax":
				if !errors.As(err, &syntax) {
					t.Fatalf("error %v, want a syntax error", err)
				}
			default:
				if !errors.As(err, &notObj) || notObj.typeName != c.wantErr {
					t.Fatalf("error %v, want not-an-object %s", err, c.wantErr)
				}
			}
		})
	}
}

// FuzzDecodeBody checks that no body panics the decoder, that every
// rejection maps to a documented 400 or 415, and that for UTF-8 input the
// parser accepts exactly the JSON that encoding/json accepts (apart from
// nesting beyond the bound), with the same member strings.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"username":"ann","password":"x","n":1.5e3,"z":null,"b":true,"o":{"k":[1,2]}}`,
		`[1,2]`, `"s"`, `1`, `{"a":"\ud83d\ude00\ud800"}`, `{"a":"\u00"}`, `{`, "\xff", "\xef\xbb\xbf{}",
		`{"a":NaN}`, `{"a":1,}`, "{\"a\":\"\x01\"}", `a=b&c=%zz`, "",
	} {
		f.Add("application/json", []byte(seed))
	}
	f.Add("application/x-www-form-urlencoded", []byte("a=b+c&d=%C3%A9"))
	f.Add("text/plain", []byte("x"))
	f.Add("", []byte("{}"))
	ts := newTestServer(f, func(s *testConfig) { s.MaxBodyBytes = 4096 }, nil, nil)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		// The whole pipeline answers with a documented status and a JSON body.
		rec := ts.do(http.MethodPost, "/api/v1/accounts/login/", contentType, string(body))
		switch rec.Code {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d for %q %q: %s", rec.Code, contentType, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}

		fields, err := decodeBody(contentType, body)
		if err != nil {
			switch st := mapError(err).status; st {
			case 400, 415:
			default:
				t.Fatalf("status %d for %v", st, err)
			}
			if fields != nil {
				t.Fatal("fields returned with an error")
			}
		}
		if parseMediaType(contentType).kind() != bodyJSON || len(body) == 0 || !utf8.Valid(body) ||
			strings.Count(string(body), "[")+strings.Count(string(body), "{") >= maxJSONDepth {
			return
		}
		if body[0] == 0xef && len(body) > 2 && body[1] == 0xbb && body[2] == 0xbf {
			return // a BOM: Python refuses it, encoding/json too
		}
		var syntax *jsonSyntaxError
		goValid := json.Valid(body)
		if goValid != !errors.As(err, &syntax) {
			t.Fatalf("body %q: encoding/json valid=%v, decodeBody error=%v", body, goValid, err)
		}
		if err != nil || !goValid {
			return
		}
		var members map[string]json.RawMessage
		if json.Unmarshal(body, &members) != nil {
			return // valid, but not an object
		}
		for k, raw := range members {
			var s string
			if json.Unmarshal(raw, &s) == nil && (fields[k].Text != s || fields[k].NotText) {
				t.Fatalf("body %q: member %q = %+v, encoding/json says %q", body, k, fields[k], s)
			}
		}
	})
}

// BenchmarkDecodeRegisterBody measures decoding a typical registration body.
func BenchmarkDecodeRegisterBody(b *testing.B) {
	body := []byte(`{"username": "alice", "email": "alice@example.com", "first_name": "Alice", "last_name": "Liddell", ` +
		`"password": "correct-horse-battery-staple", "password_confirm": "correct-horse-battery-staple"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeBody("application/json", body); err != nil {
			b.Fatal(err)
		}
	}
}
