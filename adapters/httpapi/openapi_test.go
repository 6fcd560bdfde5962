package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadDoc parses and validates an OpenAPI document, examples included.
func loadDoc(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx := openapi3.WithValidationOptions(context.Background(), openapi3.EnableExamplesValidation())
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentsAreValidAndServed(t *testing.T) {
	s := testSettings()
	docs, err := OpenAPI(s.Settings, s.Config)
	if err != nil {
		t.Fatal(err)
	}
	yaml31, json31, yaml30, json30 := docs.YAML, docs.JSON, docs.YAML30, docs.JSON30
	for _, c := range []struct {
		data    []byte
		version string
	}{{json31, "3.1.0"}, {yaml31, "3.1.0"}, {json30, "3.0.3"}, {yaml30, "3.0.3"}} {
		doc := loadDoc(t, c.data)
		if doc.OpenAPI != c.version {
			t.Errorf("version %s, want %s", doc.OpenAPI, c.version)
		}
	}

	ts := newTestServer(t, nil, nil, nil)
	for path, want := range map[string][]byte{
		"/openapi.json": json31, "/openapi.yaml": yaml31, "/openapi-3.0.json": json30, "/openapi-3.0.yaml": yaml30,
	} {
		rec := ts.do(http.MethodGet, path, "", "")
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("GET %s: %d, body differs from the generated document", path, rec.Code)
		}
	}
}

func TestOpenAPIDescribesEveryOperationFully(t *testing.T) {
	docs, err := OpenAPI(testSettings().Settings, testSettings().Config)
	if err != nil {
		t.Fatal(err)
	}
	raw := docs.JSON
	doc := loadDoc(t, raw)
	if doc.Info.Title != "restreg" || len(doc.Servers) == 0 || doc.Info.Contact == nil || doc.Info.License == nil {
		t.Errorf("info/servers incomplete: %+v %+v", doc.Info, doc.Servers)
	}

	wantStatuses := map[string][]string{
		"POST /api/v1/accounts/register/":                 {"201", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/verify-registration/":      {"200", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/login/":                    {"200", "400", "401", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/resend-verification/":      {"200", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/logout/":                   {"200", "400", "401", "405", "413", "415", "500", "503"},
		"GET /api/v1/accounts/profile/":                   {"200", "401", "405", "500", "503"},
		"POST /api/v1/accounts/profile/":                  {"200", "400", "401", "405", "413", "415", "500", "503"},
		"PUT /api/v1/accounts/profile/":                   {"200", "400", "401", "405", "413", "415", "500", "503"},
		"PATCH /api/v1/accounts/profile/":                 {"200", "400", "401", "405", "413", "415", "500", "503"},
		"POST /api/v1/accounts/change-password/":          {"200", "400", "401", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/send-reset-password-link/": {"200", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/reset-password/":           {"200", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/verify-email/":             {"200", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"POST /api/v1/accounts/register-email/":           {"200", "400", "401", "404", "405", "413", "415", "429", "500", "503"},
		"GET /api/v1/accounts/verify-registration/":       {"302", "404", "405", "429", "500", "503"},
		"GET /api/v1/accounts/verify-email/":              {"302", "404", "405", "429", "500", "503"},
		"GET /healthz":                                    {"200", "405"},
		"GET /readyz":                                     {"200", "405", "503"},
		"GET /api/v1/accounts/auth/":                      {"200", "401", "500", "503"},
		"HEAD /api/v1/accounts/auth/":                     {"200", "401", "500", "503"},
	}
	// The forward-auth answers: the user in headers, no body.
	bodiless := map[string]bool{"GET /api/v1/accounts/auth/ 200": true, "HEAD /api/v1/accounts/auth/ 200": true}
	// The verification redirects: where to go in Location, no body.
	redirects := map[string]bool{"GET /api/v1/accounts/verify-registration/ 302": true, "GET /api/v1/accounts/verify-email/ 302": true}
	// security must be present in the raw document, not just absent: empty
	// for the public operations, Token or Bearer for those that need a user.
	authenticated := map[string]bool{
		"POST /api/v1/accounts/logout/": true, "GET /api/v1/accounts/profile/": true, "POST /api/v1/accounts/profile/": true,
		"PUT /api/v1/accounts/profile/": true, "PATCH /api/v1/accounts/profile/": true, "POST /api/v1/accounts/change-password/": true,
		"POST /api/v1/accounts/register-email/": true,
		"GET /api/v1/accounts/auth/":            true, "HEAD /api/v1/accounts/auth/": true,
	}
	var rawDoc struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `json:"security"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type, In, Name, Scheme, Description string
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &rawDoc); err != nil {
		t.Fatal(err)
	}

	tagNames := map[string]bool{}
	for _, tag := range doc.Tags {
		if tag.Description == "" {
			t.Errorf("tag %s has no description", tag.Name)
		}
		tagNames[tag.Name] = true
	}
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			seen[key] = true
			want, ok := wantStatuses[key]
			if !ok {
				t.Errorf("undocumented expectation for %s", key)
				continue
			}
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) != 1 || !tagNames[op.Tags[0]] {
				t.Errorf("%s: operationId/summary/description/tag missing", key)
			}
			sec := rawDoc.Paths[path][strings.ToLower(method)].Security
			switch {
			case sec == nil:
				t.Errorf("%s: no explicit security", key)
			case authenticated[key]:
				want := []map[string][]string{{"Token": {}}, {"Bearer": {}}}
				if !reflect.DeepEqual(*sec, want) {
					t.Errorf("%s: security %v, want %v", key, *sec, want)
				}
			case len(*sec) != 0:
				t.Errorf("%s: security is not an explicit empty list", key)
			}
			var got []string
			for code := range op.Responses.Map() {
				got = append(got, code)
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: statuses %v, want %v", key, got, want)
			}
			for code, ref := range op.Responses.Map() {
				if bodiless[key+" "+code] {
					if len(ref.Value.Content) != 0 || ref.Value.Headers["X-User-Id"] == nil {
						t.Errorf("%s %s: want the user in headers and no body", key, code)
					}
					continue
				}
				if redirects[key+" "+code] {
					if len(ref.Value.Content) != 0 || ref.Value.Headers["Location"] == nil {
						t.Errorf("%s %s: want Location and no body", key, code)
					}
					continue
				}
				mt := ref.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || len(mt.Examples) == 0 {
					t.Errorf("%s %s: no JSON schema or example", key, code)
				}
			}
			if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
				for _, ct := range []string{"application/json", "application/x-www-form-urlencoded"} {
					mt := op.RequestBody.Value.Content.Get(ct)
					if mt == nil || mt.Schema == nil || len(mt.Examples) == 0 {
						t.Errorf("%s: request body %s lacks a schema or example", key, ct)
					}
				}
				bad := op.Responses.Value("400").Value.Content.Get("application/json")
				if len(bad.Schema.Value.OneOf) != 2 {
					t.Errorf("%s: 400 is not oneOf field errors / detail", key)
				}
			}
		}
	}
	schemes := rawDoc.Components.SecuritySchemes
	if tok := schemes["Token"]; tok.Type != "apiKey" || tok.In != "header" || tok.Name != "Authorization" || !strings.Contains(tok.Description, "Token <key>") {
		t.Errorf("security scheme Token: %+v", tok)
	}
	if b := schemes["Bearer"]; b.Type != "http" || b.Scheme != "bearer" || b.Description == "" {
		t.Errorf("security scheme Bearer: %+v", b)
	}
	for key := range wantStatuses {
		if !seen[key] {
			t.Errorf("%s is not documented", key)
		}
	}

	// Every component is used: the document has no leftovers.
	for name := range doc.Components.Schemas {
		if !bytes.Contains(raw, []byte(`"#/components/schemas/`+name+`"`)) {
			t.Errorf("schema %s is never referenced", name)
		}
	}
}

func TestOpenAPIFollowsSettings(t *testing.T) {
	s := testSettings()
	s.BasePath = "/accounts"
	s.RegisterSerializerPasswordConfirm = false
	docs, err := OpenAPI(s.Settings, s.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw := docs.JSON
	doc := loadDoc(t, raw)
	if doc.Paths.Find("/accounts/register/") == nil {
		t.Error("BASE_PATH not applied to the paths")
	}
	req := doc.Components.Schemas["RegisterRequest"].Value
	if slices.Contains(req.Required, "password_confirm") {
		t.Error("password_confirm required although REGISTER_SERIALIZER_PASSWORD_CONFIRM is off")
	}
}
