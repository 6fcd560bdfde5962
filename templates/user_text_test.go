package templates_test

import (
	"context"
	"strings"
	"testing"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/email"
	"github.com/restreg/restreg/templates"
)

// Anyone can register with any address, so the built-in sets must not put a
// registration's own words (username, first and last name) into mail: they
// would reach a stranger's inbox from the deployment's domain. The account
// an "account exists" notice is about may itself be an unverified
// registration, so the same holds for that set. The sets of the account
// flows after registration follow the same rule: a new address is not the
// owner's until verified.
func TestBuiltInSetsShowNoUserChosenText(t *testing.T) {
	markers := map[string]string{
		"username":   "usernameMarker7f3a",
		"first_name": "firstNameMarker7f3a",
		"last_name":  "lastNameMarker7f3a",
	}
	u := core.PublicUser{
		ID:        "42",
		Username:  markers["username"],
		FirstName: markers["first_name"],
		LastName:  markers["last_name"],
		Email:     "ann@example.com",
	}
	c, err := email.NewComposer(templates.Register, email.Dir{}, "noreply@example.com", "", email.WithAccountExistsTemplates(templates.AccountExists, email.Dir{}),
		email.WithResetPasswordTemplates(templates.ResetPassword, email.Dir{}),
		email.WithRegisterEmailTemplates(templates.RegisterEmail, email.Dir{}),
		email.WithEmailChangedTemplates(templates.EmailChanged, email.Dir{}))
	if err != nil {
		t.Fatal(err)
	}
	verification, err := c.ComposeVerification(context.Background(), u, "https://app.example.com/verify-user/?user_id=42&timestamp=1700000000&signature=abc")
	if err != nil {
		t.Fatal(err)
	}
	notice, err := c.ComposeAccountExists(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	reset, err := c.ComposeResetPassword(context.Background(), u, "https://app.example.com/reset-password/?user_id=42&timestamp=1700000000&signature=abc")
	if err != nil {
		t.Fatal(err)
	}
	newAddress, err := c.ComposeRegisterEmail(context.Background(), u, "ann.new@example.org", "https://app.example.com/verify-email/?user_id=42&email=ann.new%40example.org&timestamp=1700000000&signature=abc", false)
	if err != nil {
		t.Fatal(err)
	}
	inUse, err := c.ComposeRegisterEmail(context.Background(), u, "taken@example.org", "", true)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := c.ComposeEmailChanged(context.Background(), u, "old@example.org")
	if err != nil {
		t.Fatal(err)
	}
	for set, m := range map[string]core.Message{"register": verification, "account_exists": notice, "reset_password": reset,
		"register_email": newAddress, "register_email (in use)": inUse, "email_changed": changed} {
		if m.Subject == "" || m.Text == "" || m.HTML == "" {
			t.Fatalf("%s: the built-in set rendered an empty part: %+v", set, m)
		}
		for part, body := range map[string]string{"subject": m.Subject, "text": m.Text, "HTML": m.HTML} {
			for field, marker := range markers {
				if strings.Contains(body, marker) {
					t.Errorf("%s %s shows the user's %s:\n%s", set, part, field, body)
				}
			}
		}
	}
}
