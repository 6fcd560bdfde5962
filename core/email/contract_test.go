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

func TestComposerContractOfTheAccountFlows(t *testing.T) {
	c, err := email.NewComposer(templates.Register, email.Dir{}, "Example <noreply@example.com>", "",
		email.WithResetPasswordTemplates(templates.ResetPassword, email.Dir{}),
		email.WithRegisterEmailTemplates(templates.RegisterEmail, email.Dir{}),
		email.WithEmailChangedTemplates(templates.EmailChanged, email.Dir{}))
	if err != nil {
		t.Fatal(err)
	}
	porttest.AccountEmailComposer(t, c)
}
