package usecase

import (
	"context"
	"errors"
	"fmt"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
)

// Logins finds the accounts a login names under USER_LOGIN_FIELDS, for
// login/ and resend-verification/.
type Logins struct {
	// Store is searched for the accounts.
	Store ports.UserStore
	// Fields is USER_LOGIN_FIELDS: "username", "email" or both, in order.
	Fields []string
	// UsernameCaseInsensitive is USERNAME_CASE_INSENSITIVE.
	UsernameCaseInsensitive bool
}

// NewLogins returns the Logins of settings s over store.
func NewLogins(store ports.UserStore, s core.Settings) Logins {
	return Logins{Store: store, Fields: s.UserLoginFields, UsernameCaseInsensitive: s.UsernameCaseInsensitive}
}

// Find returns every account a login can name under USER_LOGIN_FIELDS:
// the one whose username it is, the one whose e-mail address it is (an
// address several accounts share names none of them), and the one whose
// e-mail-shaped username it is as an address. The stores keep usernames and
// unique addresses in one namespace, so these are one account or none; the
// callers still check each one's own credentials (the password, the address
// it is mailed at), so that even where addresses need not be unique no
// login can reach an account its owner did not mean.
func (l Logins) Find(ctx context.Context, login string) ([]core.User, error) {
	var found []core.User
	add := func(field core.LookupField, key string) error {
		if key == "" {
			return nil
		}
		u, err := l.Store.FindUser(ctx, field, key)
		switch {
		case err == nil:
			for _, f := range found {
				if f.ID == u.ID {
					return nil
				}
			}
			found = append(found, u)
			return nil
		case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrAmbiguous):
			return nil
		default:
			return fmt.Errorf("find user by %s: %w", field, err)
		}
	}
	for _, field := range l.Fields {
		var err error
		switch field {
		case "username":
			err = add(core.ByUsernameKey, core.UsernameKey(login, l.UsernameCaseInsensitive))
		case "email":
			key := core.EmailKey(core.NormalizeEmail(login))
			if err = add(core.ByEmailKey, key); err == nil {
				err = add(core.ByUsernameEmailKey, key)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return found, nil
}
