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
// else, the login against THROTTLE_LOGIN_ACCOUNT once the fields are valid.
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
	if err := d.throttle(ctx, ruleLoginAccount, s.ThrottleLoginAccount, accountKey(login)); err != nil {
		return LoginResult{}, err
	}
	invalid := core.Detail(core.MsgLoginInvalid)
	if core.CharCount(password) > 4096 {
		return LoginResult{}, invalid
	}

	user, found, err := d.findLogin(ctx, login)
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: %w", err)
	}
	encoded := user.PasswordHash
	if !found {
		if encoded, err = l.dummyHash(ctx); err != nil {
			return LoginResult{}, err
		}
	}
	ok, rehash, err := d.Hasher.Check(ctx, password, encoded)
	if err != nil {
		return LoginResult{}, fmt.Errorf("login: check password: %w", err)
	}
	if !found || !ok || !user.IsActive {
		return LoginResult{}, invalid
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
