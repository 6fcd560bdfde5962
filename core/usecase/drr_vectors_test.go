package usecase_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/core/usecase"
)

// drrVectors is testdata/drr-signing-vectors.json: links and verifications
// produced by django-rest-registration 0.9.0's own signers and views.
type drrVectors struct {
	Meta struct {
		FixtureUsers                []drrUser `json:"fixture_users"`
		FixtureUsersPasswordChanged string    `json:"fixture_users_password_changed"`
	} `json:"meta"`
	Vectors struct {
		Links         []drrLink         `json:"links"`
		Verifications []drrVerification `json:"verifications"`
	} `json:"vectors"`
}

type drrUser struct {
	ID       json.Number `json:"id"`
	Username string      `json:"username"`
	Email    string      `json:"email"`
	IsActive bool        `json:"is_active"`
	Password string      `json:"password"`
}

type drrLink struct {
	ID          string                     `json:"id"`
	Flow        string                     `json:"flow"`
	Secret      string                     `json:"secret_key"`
	Settings    map[string]json.RawMessage `json:"rest_registration_settings"`
	User        drrUser                    `json:"user"`
	Now         int64                      `json:"now"`
	SignerInput map[string]any             `json:"signer_input"`
	Salt        string                     `json:"salt"`
	SignedPairs [][2]string                `json:"signed_pairs"`
	PickleHex   string                     `json:"pickle_hex"`
	Signature   string                     `json:"signature"`
	URL         string                     `json:"url"`
	Request     *struct {
		Host   string `json:"host"`
		Secure bool   `json:"secure"`
	} `json:"request"`
}

type drrVerification struct {
	ID       string                     `json:"id"`
	Flow     string                     `json:"flow"`
	Endpoint string                     `json:"endpoint"`
	Secret   string                     `json:"secret_key"`
	Settings map[string]json.RawMessage `json:"rest_registration_settings"`
	Now      int64                      `json:"now"`
	Body     map[string]string          `json:"body"`
	Change   string                     `json:"fixture_change_before_request"`
	View     struct {
		Status int            `json:"status"`
		Body   map[string]any `json:"body"`
	} `json:"view"`
}

func loadDRRVectors(t *testing.T) drrVectors {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "drr-signing-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v drrVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Vectors.Links) != 22 || len(v.Vectors.Verifications) != 39 {
		t.Fatalf("expected DRR's 22 links and 39 verifications, found %d and %d", len(v.Vectors.Links), len(v.Vectors.Verifications))
	}
	return v
}

// drrSettings reads the DRR settings a vector ran with.
type drrSettings map[string]json.RawMessage

func (d drrSettings) str(name string) string {
	var s string
	if raw, ok := d[name]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

func (d drrSettings) flag(name string) bool {
	var b bool
	if raw, ok := d[name]; ok {
		_ = json.Unmarshal(raw, &b)
	}
	return b
}

// idField maps DRR's USER_VERIFICATION_ID_FIELD to restreg's ("pk" is "id").
func (d drrSettings) idField() string {
	switch f := d.str("USER_VERIFICATION_ID_FIELD"); f {
	case "", "pk":
		return "id"
	default:
		return f
	}
}

func (u drrUser) core(caseInsensitive, unique bool) core.User {
	email := core.NormalizeEmail(u.Email)
	c := core.User{
		ID: u.ID.String(), Username: u.Username, UsernameKey: core.UsernameKey(u.Username, caseInsensitive),
		UsernameEmailKey: core.UsernameEmailKey(u.Username), Email: email, EmailKey: core.EmailKey(email),
		PasswordHash: u.Password, IsActive: u.IsActive,
	}
	if unique {
		c.UniqueEmailKey = c.EmailKey
	}
	return c
}

// Every link DRR 0.9.0 made, made again: the pickle, the signature and the
// URL, byte for byte, for the register, reset-password and register-email
// signers.
func TestLinksReproduceDjangoRestRegistrationVectors(t *testing.T) {
	v := loadDRRVectors(t)
	for _, l := range v.Vectors.Links {
		t.Run(l.ID, func(t *testing.T) {
			set := drrSettings(l.Settings)
			pairs := map[string]string{}
			for _, p := range l.SignedPairs {
				pairs[p[0]] = p[1]
			}
			if got := hex.EncodeToString(core.PickleSignedData(pairs)); got != l.PickleHex {
				t.Fatalf("pickle = %s, want %s", got, l.PickleHex)
			}
			signer := core.NewDjangoSigner(l.Secret, nil)
			if got := signer.Sign(pairs, l.Salt); got != l.Signature {
				t.Fatalf("signature = %s, want %s", got, l.Signature)
			}
			u := l.User.core(false, false)
			at := time.Unix(l.Now, 0)
			var baseSetting string
			var sign func(urls usecase.QueryURLBuilder, base string) (string, error)
			switch l.Flow {
			case "register":
				baseSetting = set.str("REGISTER_VERIFICATION_URL")
				sign = func(urls usecase.QueryURLBuilder, base string) (string, error) {
					urls.Base = base
					links := usecase.Links{Signer: signer, URLs: urls, IDField: set.idField(), OneTimeUse: set.flag("REGISTER_VERIFICATION_ONE_TIME_USE")}
					return links.Sign(u, at)
				}
			case "reset-password":
				baseSetting = set.str("RESET_PASSWORD_VERIFICATION_URL")
				sign = func(urls usecase.QueryURLBuilder, base string) (string, error) {
					links := usecase.ResetLinks{Signer: signer, URLs: urls, Base: base, IDField: set.idField(),
						OneTimeUse: set.flag("RESET_PASSWORD_VERIFICATION_ONE_TIME_USE"), Period: 24 * time.Hour}
					return links.Sign(u, at)
				}
			case "register-email":
				baseSetting = set.str("REGISTER_EMAIL_VERIFICATION_URL")
				newEmail, _ := l.SignerInput["email"].(string)
				sign = func(urls usecase.QueryURLBuilder, base string) (string, error) {
					links := usecase.EmailLinks{Signer: signer, URLs: urls, Base: base, IDField: set.idField(), Period: 7 * 24 * time.Hour}
					return links.Sign(u, newEmail, at)
				}
			default:
				t.Fatalf("unknown flow %q", l.Flow)
			}
			// restreg's URL settings are absolute; a deployment moving from a
			// relative one sets what Django's build_absolute_uri made of it.
			base := baseSetting
			if l.Request != nil {
				scheme := "http"
				if l.Request.Secure {
					scheme = "https"
				}
				base = scheme + "://" + l.Request.Host + baseSetting
			}
			got, err := sign(usecase.QueryURLBuilder{DRRJoin: true}, base)
			if err != nil || got != l.URL {
				t.Fatalf("DRR-joined link = %q, %v; want %q", got, err, l.URL)
			}
			// restreg's documented joining differs only after a query the
			// base URL already has: "&" instead of a second "?".
			want := l.URL
			if strings.Contains(base, "?") {
				want = base + "&" + strings.TrimPrefix(l.URL, base+"?")
			}
			if got, err := sign(usecase.QueryURLBuilder{}, base); err != nil || got != want {
				t.Fatalf("link = %q, %v; want %q", got, err, want)
			}
		})
	}
}

// Every verification DRR 0.9.0's views answered, asked of restreg's use
// cases with the same users, settings, secret and time: the same status
// and body.
func TestVerificationsAnswerAsDjangoRestRegistration(t *testing.T) {
	v := loadDRRVectors(t)
	for _, c := range v.Vectors.Verifications {
		t.Run(c.ID, func(t *testing.T) {
			set := drrSettings(c.Settings)
			f := newFixture(t, func(s *core.Settings) {
				s.UserVerificationIDField = set.idField()
				s.RegisterVerificationOneTimeUse = set.flag("REGISTER_VERIFICATION_ONE_TIME_USE")
				s.ResetPasswordVerificationOneTimeUse = set.flag("RESET_PASSWORD_VERIFICATION_ONE_TIME_USE")
				if raw, ok := c.Settings["REGISTER_VERIFICATION_PERIOD"]; ok {
					var p struct {
						Seconds int64 `json:"timedelta_seconds"`
					}
					if err := json.Unmarshal(raw, &p); err != nil {
						t.Fatal(err)
					}
					s.RegisterVerificationPeriod = time.Duration(p.Seconds) * time.Second
				}
			})
			f.signer = core.NewDjangoSigner(c.Secret, nil)
			f.clock.Set(time.Unix(c.Now, 0))
			f.build(t)
			ctx := context.Background()
			for _, du := range v.Meta.FixtureUsers {
				u := du.core(f.settings.UsernameCaseInsensitive, f.settings.UserEmailUnique)
				switch change := fmt.Sprintf("user %s ", u.ID); {
				case c.Change == change+"deleted":
					continue
				case c.Change == change+"is_active set to True":
					u.IsActive = true
				case c.Change == change+"is_active set to False":
					u.IsActive = false
				case strings.HasPrefix(c.Change, change+"password set to PW_BOB_CHANGED"):
					u.PasswordHash = v.Meta.FixtureUsersPasswordChanged
				case c.Change != "" && strings.HasPrefix(c.Change, change):
					t.Fatalf("unknown fixture change %q", c.Change)
				}
				if err := f.store.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			val := func(k string) core.Value {
				s, ok := c.Body[k]
				if !ok {
					return core.Value{}
				}
				return core.Str(s)
			}
			var err error
			detail := ""
			switch c.Endpoint {
			case "verify-registration":
				_, err = f.verify.Handle(ctx, usecase.VerifyInput{UserID: val("user_id"), Timestamp: val("timestamp"), Signature: val("signature")})
				detail = core.MsgUserVerified
			case "reset-password":
				f.settings.ResetPasswordSerializerPasswordConfirm = false
				f.build(t)
				err = f.reset.Handle(ctx, usecase.ResetPasswordInput{UserID: val("user_id"), Timestamp: val("timestamp"),
					Signature: val("signature"), Password: val("password")})
				detail = core.MsgResetPasswordSuccessful
			case "verify-email":
				err = f.verifyEmail.Handle(ctx, usecase.VerifyEmailInput{UserID: val("user_id"), Email: val("email"),
					Timestamp: val("timestamp"), Signature: val("signature")})
				detail = core.MsgEmailVerified
			default:
				t.Fatalf("unknown endpoint %q", c.Endpoint)
			}
			status, body := answerOf(t, err, detail)
			if status != c.View.Status || !reflect.DeepEqual(body, c.View.Body) {
				t.Fatalf("answer = %d %v, want %d %v", status, body, c.View.Status, c.View.Body)
			}
		})
	}
}

// answerOf is the status and DRF body a use case's outcome becomes.
func answerOf(t *testing.T, err error, success string) (int, map[string]any) {
	t.Helper()
	var detail *core.DetailError
	var invalid *core.ValidationError
	switch {
	case err == nil:
		return 200, map[string]any{"detail": success}
	case errors.As(err, &detail):
		return 400, map[string]any{"detail": detail.Detail}
	case errors.As(err, &invalid):
		body := map[string]any{}
		for field, msgs := range invalid.Fields {
			list := make([]any, len(msgs))
			for i, m := range msgs {
				list[i] = m
			}
			body[field] = list
		}
		if invalid.ShowNonFieldErrors || len(invalid.NonFieldErrors) > 0 {
			list := make([]any, len(invalid.NonFieldErrors))
			for i, m := range invalid.NonFieldErrors {
				list[i] = m
			}
			body["non_field_errors"] = list
		}
		return 400, body
	default:
		t.Fatalf("unexpected error: %v", err)
		return 0, nil
	}
}
