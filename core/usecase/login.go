package usecase

import (
	"context"
	"fmt"
	"sync"

	"github.com/restreg/restreg/core"
)

// LoginInput is a login request as the client sent it.
type LoginInput struct {
	Login    core.Value
	Password core.Value
}

// LoginResult is a successful login.
type LoginResult struct {
	// Token is set with LOGIN_RETRIEVE_TOKEN.
	Token string
}

// Login checks a username or e-mail and password: POST login/.
type Login struct {
	d       *Deps
	dummyMu sync.Mutex
	dummy   string
}

// NewLogin returns the login use case.
func NewLogin(d *Deps) *Login { return &Login{d: d} }

var (
	loginField         = charField{name: "login", required: true}
	loginPasswordField = charField{name: "password", required: true}
)

// Handle answers the same error for a wrong password, an unknown login and an
// inactive user, after the same amount of hashing work, so the answer reveals
// nothing about which accounts exist.
//
// The client's address is counted against THROTTLE_LOGIN_IP before anything
// else. THROTTLE_LOGIN_ACCOUNT counts attempts per account and client: the
// account the login names (its username and its address share one count),
// or the login itself when it names none, together with the client's
// address. So guessing from one place is slowed down, while a stranger's
// failures can never lock the owner out from another.
//
// The password is checked against every account the login can name (see
// findLogin), so no registration can make an account unreachable by its
// owner's login.
//
// Errors: *core.ValidationError, *core.DetailError ("Login or password
// invalid."), *core.ThrottledError, core.ErrOverloaded, core.ErrUnavailable.
func (l *Login) Handle(ctx context.Context, in LoginInput) (LoginResult, error) {
	d := l.d
	s := &d.Settings
	if err := d.throttle(ctx, ruleLoginIP, s.ThrottleLoginIP, clientKey(ctx)); err != nil {
		return LoginResult{}, err
	}
	errs := &core.ValidationError{}
	login, _ := loginField.clean(in.Login, errs)
	password, _ := loginPasswordField.clean(in.Password, errs)
	if !errs.Empty() {
		return LoginResult{}, errs
	}
	candidates, err := d.findLogin(ctx, login)
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	if err := l.throttleAccount(ctx, login, candidates); err != nil {
		return LoginResult{}, err
	}
	invalid := core.Detail(core.MsgLoginInvalid)
	if core.CharCount(password) > 4096 {
		return LoginResult{}, invalid
	}

	if len(candidates) == 0 {
		dummy, err := l.dummyHash(ctx)
		if err != nil {
			return LoginResult{}, err
		}
		if _, _, err := d.Hasher.Check(ctx, password, dummy); err != nil {
			return LoginResult{}, fmt.Errorf("login: check password: %w", err)
		}
		return LoginResult{}, invalid
	}
	for _, user := range candidates {
		ok, rehash, err := d.Hasher.Check(ctx, password, user.PasswordHash)
		if err != nil {
			return LoginResult{}, fmt.Errorf("login: check password: %w", err)
		}
		if !ok || !user.IsActive {
			continue
		}
		if rehash {
			l.upgradeHash(ctx, user.ID, password)
		}
		var res LoginResult
		if s.LoginRetrieveToken {
			if res.Token, err = d.Tokens.IssueToken(ctx, user.ID); err != nil {
				return LoginResult{}, fmt.Errorf("login: %w", err)
			}
		}
		return res, nil
	}
	return LoginResult{}, invalid
}

// throttleAccount counts one attempt against THROTTLE_LOGIN_ACCOUNT for each
// account the login names (or the login itself when it names none), paired
// with the client's address.
func (l *Login) throttleAccount(ctx context.Context, login string, candidates []core.User) error {
	d := l.d
	client := clientKey(ctx)
	if len(candidates) == 0 {
		return d.throttle(ctx, ruleLoginAccount, d.Settings.ThrottleLoginAccount, "login:"+accountKey(login)+"|"+client)
	}
	for _, u := range candidates {
		if err := d.throttle(ctx, ruleLoginAccount, d.Settings.ThrottleLoginAccount, "user:"+u.ID+"|"+client); err != nil {
			return err
		}
	}
	return nil
}

// dummyHash is checked against when no user matches, so unknown logins cost
// as much as known ones.
func (l *Login) dummyHash(ctx context.Context) (string, error) {
	l.dummyMu.Lock()
	h := l.dummy
	l.dummyMu.Unlock()
	if h != "" {
		return h, nil
	}
	h, err := l.d.Hasher.Hash(ctx, core.NewID())
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	l.dummyMu.Lock()
	defer l.dummyMu.Unlock()
	if l.dummy == "" {
		l.dummy = h
	}
	return l.dummy, nil
}

// upgradeHash re-hashes a password whose stored hash uses another algorithm
// or a weaker cost (users imported from Django); failure only delays it.
func (l *Login) upgradeHash(ctx context.Context, userID, password string) {
	hash, err := l.d.Hasher.Hash(ctx, password)
	if err == nil {
		err = l.d.Store.SetPasswordHash(ctx, userID, hash)
	}
	if err != nil {
		l.d.logger().WarnContext(ctx, "password hash upgrade postponed", "user_id", userID, "error", err)
	}
}
