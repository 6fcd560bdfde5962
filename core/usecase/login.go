package usecase

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase/decorator"
	"github.com/restreg/restreg/ports"
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

// LoginConfig is the part of the settings login/ follows (USER_LOGIN_FIELDS
// is the Logins').
type LoginConfig struct {
	// RetrieveToken is LOGIN_RETRIEVE_TOKEN.
	RetrieveToken bool
	// ThrottleIP and ThrottleAccount are THROTTLE_LOGIN_IP and
	// THROTTLE_LOGIN_ACCOUNT.
	ThrottleIP, ThrottleAccount string
}

// NewLoginConfig returns the LoginConfig of settings s.
func NewLoginConfig(s core.Settings) LoginConfig {
	return LoginConfig{RetrieveToken: s.LoginRetrieveToken, ThrottleIP: s.ThrottleLoginIP, ThrottleAccount: s.ThrottleLoginAccount}
}

// Login checks a username or e-mail and password: POST login/.
type Login struct {
	cfg      LoginConfig
	logins   Logins
	store    ports.UserStore
	hasher   ports.PasswordHasher
	tokens   ports.TokenIssuer
	accounts ports.AccountStore
	throttle *Throttle
	clock    ports.Clock
	// events wakes the relay after a user_logged_in event was recorded.
	events  Notifier
	log     *slog.Logger
	handle  decorator.CommandHandler[LoginInput, LoginResult]
	dummyMu sync.Mutex
	dummy   string
}

// NewLogin returns the login use case. It finds the accounts a login names
// with logins, checks passwords with hasher and stores upgraded hashes in
// store, issues tokens with tokens, records each login (last_login and
// user_logged_in) in accounts, counts requests with throttle (nil: none),
// wakes events (the relay; nil: nobody) and logs on log.
func NewLogin(cfg LoginConfig, logins Logins, store ports.UserStore, hasher ports.PasswordHasher,
	tokens ports.TokenIssuer, accounts ports.AccountStore, throttle *Throttle, clock ports.Clock, events Notifier,
	log *slog.Logger,
) *Login {
	if log == nil {
		log = slog.Default()
	}
	l := &Login{cfg: cfg, logins: logins, store: store, hasher: hasher, tokens: tokens, accounts: accounts,
		throttle: throttle, clock: clock, events: events, log: log}
	l.handle = decorator.ApplyDecorators("login", decorator.HandlerFunc[LoginInput, LoginResult](l.login), log)
	return l
}

var (
	loginField         = charField{name: "login", required: true}
	loginPasswordField = charField{name: "password", required: true}
)

// Handle logs in; see login. The decorators of package decorator wrap it.
func (l *Login) Handle(ctx context.Context, in LoginInput) (LoginResult, error) {
	return l.handle.Handle(ctx, in)
}

// login answers the same error for a wrong password, an unknown login and an
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
// Logins.Find), so no registration can make an account unreachable by its
// owner's login.
//
// Errors: *core.ValidationError, *core.DetailError ("Login or password
// invalid."), *core.ThrottledError, core.ErrOverloaded, core.ErrUnavailable.
func (l *Login) login(ctx context.Context, in LoginInput) (LoginResult, error) {
	s := &l.cfg
	if err := l.throttle.count(ctx, ruleLoginIP, s.ThrottleIP, clientKey(ctx)); err != nil {
		return LoginResult{}, err
	}
	errs := &core.ValidationError{}
	login, _ := loginField.clean(in.Login, errs)
	password, _ := loginPasswordField.clean(in.Password, errs)
	if !errs.Empty() {
		return LoginResult{}, errs
	}
	candidates, err := l.logins.Find(ctx, login)
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
		if _, _, err := l.hasher.Check(ctx, password, dummy); err != nil {
			return LoginResult{}, fmt.Errorf("login: check password: %w", err)
		}
		return LoginResult{}, invalid
	}
	for _, user := range candidates {
		ok, rehash, err := l.hasher.Check(ctx, password, user.PasswordHash)
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
		if s.RetrieveToken {
			if res.Token, err = l.tokens.IssueToken(ctx, user.ID); err != nil {
				return LoginResult{}, fmt.Errorf("login: %w", err)
			}
		}
		if err := recordLogin(ctx, l.accounts, user, l.clock.Now()); err != nil {
			return LoginResult{}, fmt.Errorf("login: %w", err)
		}
		wake(l.events)
		return res, nil
	}
	return LoginResult{}, invalid
}

// throttleAccount counts one attempt against THROTTLE_LOGIN_ACCOUNT for each
// account the login names (or the login itself when it names none), paired
// with the client's address.
func (l *Login) throttleAccount(ctx context.Context, login string, candidates []core.User) error {
	client := clientKey(ctx)
	if len(candidates) == 0 {
		return l.throttle.count(ctx, ruleLoginAccount, l.cfg.ThrottleAccount, "login:"+accountKey(login)+"|"+client)
	}
	for _, u := range candidates {
		if err := l.throttle.count(ctx, ruleLoginAccount, l.cfg.ThrottleAccount, "user:"+u.ID+"|"+client); err != nil {
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
	h, err := l.hasher.Hash(ctx, core.NewID())
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
	hash, err := l.hasher.Hash(ctx, password)
	if err == nil {
		err = l.store.SetPasswordHash(ctx, userID, hash)
	}
	if err != nil {
		l.log.WarnContext(ctx, "password hash upgrade postponed", "user_id", userID, "error", err)
	}
}

// recordLogin sets the user's last_login to now and records user_logged_in
// (Django's login() does both), in one write.
func recordLogin(ctx context.Context, accounts ports.AccountStore, user core.User, now time.Time) error {
	now = now.UTC()
	user.LastLogin = now
	if err := accounts.RecordLogin(ctx, user.ID, now, newEvent(ctx, core.EventUserLoggedIn, user, now)); err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	return nil
}
