package restreg_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// A user imported from Django with a salted MD5 hash (Django 3.2's
// MD5PasswordHasher, from adapters/passhash/testdata) logs in only when
// PASSWORD_LEGACY_HASHERS is set in the environment, and that login
// replaces the hash with argon2id.
func TestImportedLegacyHashLogsInOnlyWithPasswordLegacyHashers(t *testing.T) {
	const (
		password = "correct horse battery staple"
		md5Hash  = "md5$seasalt$9aa4b8addefd43dbf9340b7540e4e49a"
	)
	for _, legacy := range []bool{false, true} {
		t.Run("PASSWORD_LEGACY_HASHERS="+strconv.FormatBool(legacy), func(t *testing.T) {
			s, err := restreg.LoadSettings(restreg.DefaultConfig(), "", envOf(map[string]string{
				"PASSWORD_LEGACY_HASHERS":       strconv.FormatBool(legacy),
				"LISTEN_ADDR":                   "127.0.0.1:0",
				"STORE":                         "memory",
				"MAIL_BACKEND":                  "console",
				"SECRET_KEY":                    apisuite.SecretKey,
				"REGISTER_VERIFICATION_ENABLED": "false",
			}))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			var store ports.UserStore
			srv := startT(t, s, fx.Populate(&store))

			ctx := context.Background()
			key := core.UsernameKey("imported", s.UsernameCaseInsensitive)
			err = store.CreateUser(ctx, core.User{
				ID: core.NewID(), Username: "imported", UsernameKey: key,
				PasswordHash: md5Hash, IsActive: true, CreatedAt: time.Now(),
			})
			if err != nil {
				t.Fatal(err)
			}

			status, body := post(t, srv.URL()+s.HTTP.BasePath+"/login/", `{"login":"imported","password":"`+password+`"}`)
			stored, err := store.FindUser(ctx, core.ByUsernameKey, key)
			if err != nil {
				t.Fatal(err)
			}
			if !legacy {
				if status != 400 || body["detail"] != "Login or password invalid." {
					t.Errorf("login without the setting: %d %v; want 400 Login or password invalid.", status, body)
				}
				if stored.PasswordHash != md5Hash {
					t.Errorf("a refused login changed the stored hash to %.20s…", stored.PasswordHash)
				}
				return
			}
			if status != 200 {
				t.Fatalf("login with the setting: %d %v; want 200", status, body)
			}
			if !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
				t.Errorf("after login the stored hash is %.20s…; want it upgraded to argon2id", stored.PasswordHash)
			}
		})
	}
}
