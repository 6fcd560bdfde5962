package email_test

import (
	"testing"

	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/ports/porttest"
	"github.com/restreg/restreg/templates"
)

func TestComposerContract(t *testing.T) {
	c, err := email.NewComposer(templates.Register, email.Dir{}, "Example <noreply@example.com>", "")
	if err != nil {
		t.Fatal(err)
	}
	porttest.EmailComposer(t, c)
}
