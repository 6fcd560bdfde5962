// Package openapi_test keeps the committed OpenAPI documents equal to what
// the code generates, and checks that they are valid documents.
package openapi_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/restreg/restreg/adapters/httpapi"
	"github.com/restreg/restreg/app/restreg"
)

func TestCommittedDocumentsMatchTheCode(t *testing.T) {
	docs, err := httpapi.OpenAPI(restreg.DocumentSettings())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{
		"openapi.yaml":     docs.YAML,
		"openapi.json":     docs.JSON,
		"openapi-3.0.yaml": docs.YAML30,
		"openapi-3.0.json": docs.JSON30,
	} {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run make openapi)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("openapi/%s is stale: run make openapi and commit the result", name)
		}
	}
}

func TestOpenAPI30DocumentIsValid(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("openapi-3.0.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi-3.0.yaml is not a valid OpenAPI 3.0 document: %v", err)
	}
	for _, path := range []string{"/api/v1/accounts/register/", "/api/v1/accounts/verify-registration/", "/api/v1/accounts/login/"} {
		item := doc.Paths.Find(path)
		if item == nil || item.Post == nil {
			t.Fatalf("%s has no POST operation", path)
		}
		op := item.Post
		if op.Summary == "" || op.Description == "" || op.Security == nil || len(*op.Security) != 0 {
			t.Errorf("%s: every operation needs a summary, a description and explicit security: []", path)
		}
		for _, status := range []string{"400", "405", "413", "415", "500", "503"} {
			if op.Responses.Value(status) == nil {
				t.Errorf("%s does not document status %s", path, status)
			}
		}
	}
	if len(doc.Servers) == 0 {
		t.Error("the document lists no servers")
	}
}
