// Package email turns a user and a verification link into an e-mail (and a
// user into the "someone tried to register with your address" notice): it
// renders the subject, text and HTML templates (Composer) and writes the
// result as an RFC 5322 / MIME message (Render) for mailers that deliver raw
// messages. It uses the standard library only.
package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/mail"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"unicode"
	"unicode/utf8"

	"github.com/restreg/restreg/core"
)

// Template file names of a set, in the set's directory.
const (
	SubjectFile  = "subject.txt"
	TextBodyFile = "body.txt"
	HTMLBodyFile = "body.html"
)

// ContextFunc adds keys to the template context of one message (a site name,
// a localised greeting, …). Keys it returns replace the built-in ones.
type ContextFunc func(ctx context.Context, u core.PublicUser) map[string]any

// Option configures a Composer.
type Option func(*Composer)

// WithContextFunc makes f contribute to every template context; functions run
// in the order given. NewComposer also calls f once, with a sample user and a
// background context, to check that the templates render.
func WithContextFunc(f ContextFunc) Option {
	return func(c *Composer) { c.contextFuncs = append(c.contextFuncs, f) }
}

// WithAccountExistsTemplates gives the Composer the template set of the
// "someone tried to register with your address" notice
// (ComposeAccountExists): defaults holds its built-in files
// (templates.AccountExists) and override, when not the zero Dir, replaces them
// by the same rules as the verification set's override directory.
func WithAccountExistsTemplates(defaults fs.FS, override Dir) Option {
	return func(c *Composer) {
		c.existsDefaults, c.existsDir, c.existsWanted = defaults, override, true
	}
}

// WithResetPasswordTemplates gives the Composer the template set of the
// reset-password link (ComposeResetPassword): defaults holds its built-in
// files (templates.ResetPassword), override replaces them by the same rules
// as the verification set's override directory
// (RESET_PASSWORD_VERIFICATION_EMAIL_TEMPLATES).
func WithResetPasswordTemplates(defaults fs.FS, override Dir) Option {
	return func(c *Composer) {
		c.extra = append(c.extra, extraSet{kind: setResetPassword, defaults: defaults, dir: override})
	}
}

// WithRegisterEmailTemplates gives the Composer the template set of the
// verify-email link sent to a new address (ComposeRegisterEmail;
// templates.RegisterEmail, REGISTER_EMAIL_VERIFICATION_EMAIL_TEMPLATES).
func WithRegisterEmailTemplates(defaults fs.FS, override Dir) Option {
	return func(c *Composer) {
		c.extra = append(c.extra, extraSet{kind: setRegisterEmail, defaults: defaults, dir: override})
	}
}

// WithEmailChangedTemplates gives the Composer the template set of the
// notice to a user's previous address (ComposeEmailChanged;
// templates.EmailChanged, EMAIL_CHANGED_EMAIL_TEMPLATES).
func WithEmailChangedTemplates(defaults fs.FS, override Dir) Option {
	return func(c *Composer) {
		c.extra = append(c.extra, extraSet{kind: setEmailChanged, defaults: defaults, dir: override})
	}
}

// setKind names one of the optional template sets.
type setKind string

const (
	setResetPassword setKind = "reset-password"
	setRegisterEmail setKind = "register-email"
	setEmailChanged  setKind = "email-changed"
)

// extraSet is an optional template set asked for by an Option.
type extraSet struct {
	kind     setKind
	defaults fs.FS
	dir      Dir
}

// Dir is a directory of template files that replace built-in ones. FS
// reads them (the composer does no I/O of its own: the application opens the
// directory) and Path names them in errors. The zero Dir replaces nothing.
type Dir struct {
	FS   fs.FS
	Path string
}

// Composer renders the account e-mails (ports.EmailComposer). It is safe for
// concurrent use.
type Composer struct {
	verification parsedSet
	// accountExists is nil unless WithAccountExistsTemplates was given.
	accountExists *parsedSet
	from          string
	replyTo       string
	contextFuncs  []ContextFunc

	existsDefaults fs.FS
	existsDir      Dir
	existsWanted   bool

	// extra lists the optional sets asked for; sets holds them parsed.
	extra []extraSet
	sets  map[setKind]*parsedSet
}

// parsedSet is one message's templates, parsed.
type parsedSet struct {
	subject *texttemplate.Template
	// text is nil when the text part is derived from the HTML part.
	text *texttemplate.Template
	// html is nil for text-only messages.
	html *htmltemplate.Template
}

// NewComposer parses the template set once, at start-up. defaults holds
// subject.txt, body.txt and body.html at its root (templates.Register).
// override, when not the zero Dir, is a directory whose files replace the
// defaults: subject.txt on its own; the bodies as a pair, so the text and HTML
// parts always come from the same author — an override body.html without
// body.txt gets a text part derived from the HTML (links stay visible as
// "text (url)"), an override body.txt without body.html gives a text-only
// message. from is the From address; replyTo, when empty, becomes from.
// These templates make the verification e-mail; WithAccountExistsTemplates
// adds the set of the "account already exists" notice.
//
// Errors name the template file and line; they are meant to stop start-up.
func NewComposer(defaults fs.FS, override Dir, from, replyTo string, opts ...Option) (*Composer, error) {
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("email: From address %q: %w", from, err)
	}
	if replyTo == "" {
		replyTo = from
	}
	if _, err := mail.ParseAddress(replyTo); err != nil {
		return nil, fmt.Errorf("email: Reply-To address %q: %w", replyTo, err)
	}
	c := &Composer{from: from, replyTo: replyTo}
	for _, o := range opts {
		o(c)
	}

	var err error
	if c.verification, err = parseSet(defaults, override); err != nil {
		return nil, err
	}
	if c.existsWanted {
		set, err := parseSet(c.existsDefaults, c.existsDir)
		if err != nil {
			return nil, fmt.Errorf("account-exists templates: %w", err)
		}
		c.accountExists = &set
	}

	c.sets = map[setKind]*parsedSet{}
	for _, e := range c.extra {
		set, err := parseSet(e.defaults, e.dir)
		if err != nil {
			return nil, fmt.Errorf("%s templates: %w", e.kind, err)
		}
		c.sets[e.kind] = &set
	}

	// A template that names a missing key or calls a field wrongly only fails
	// when executed; doing so once here turns a broken registration flow into
	// a start-up error.
	sample := core.PublicUser{ID: "1", Username: "sample", Email: "sample@example.com", FirstName: "Sample", LastName: "User"}
	if _, err := c.ComposeVerification(context.Background(), sample, "https://example.com/verify-user/?user_id=1&timestamp=1700000000&signature=sample"); err != nil {
		return nil, err
	}
	if c.accountExists != nil {
		if _, err := c.ComposeAccountExists(context.Background(), sample); err != nil {
			return nil, fmt.Errorf("account-exists templates: %w", err)
		}
	}
	if err := c.checkExtraSets(sample); err != nil {
		return nil, err
	}
	return c, nil
}

// parseSet loads and parses one template set (see NewComposer for the
// override rules).
func parseSet(defaults fs.FS, override Dir) (parsedSet, error) {
	var p parsedSet
	set, err := loadSet(defaults, override)
	if err != nil {
		return p, err
	}
	if set.subject == nil {
		return p, errors.New("email: no subject template: " + SubjectFile + " is missing")
	}
	if p.subject, err = texttemplate.New(set.subject.name).Funcs(textFuncs).Option("missingkey=error").Parse(set.subject.body); err != nil {
		return p, fmt.Errorf("email: parse template: %w", err)
	}
	if set.text != nil {
		if p.text, err = texttemplate.New(set.text.name).Funcs(textFuncs).Option("missingkey=error").Parse(set.text.body); err != nil {
			return p, fmt.Errorf("email: parse template: %w", err)
		}
	}
	if set.html != nil {
		if p.html, err = htmltemplate.New(set.html.name).Option("missingkey=error").Parse(set.html.body); err != nil {
			return p, fmt.Errorf("email: parse template: %w", err)
		}
	}
	if p.text == nil && p.html == nil {
		return p, errors.New("email: no body template: neither " + TextBodyFile + " nor " + HTMLBodyFile + " exists")
	}
	return p, nil
}

type templateFile struct {
	// name is what errors show: the override file's path, or the default's
	// name inside its set.
	name string
	body string
}

type templateSet struct {
	subject, text, html *templateFile
}

func loadSet(defaults fs.FS, override Dir) (templateSet, error) {
	var set templateSet
	var err error
	if defaults != nil {
		for _, f := range []struct {
			dst  **templateFile
			name string
		}{{&set.subject, SubjectFile}, {&set.text, TextBodyFile}, {&set.html, HTMLBodyFile}} {
			if *f.dst, err = readDefault(defaults, f.name); err != nil {
				return set, err
			}
		}
	}
	if override.FS == nil {
		return set, nil
	}
	subject, err := readOverride(override, SubjectFile)
	if err != nil {
		return set, err
	}
	text, err := readOverride(override, TextBodyFile)
	if err != nil {
		return set, err
	}
	html, err := readOverride(override, HTMLBodyFile)
	if err != nil {
		return set, err
	}
	if subject != nil {
		set.subject = subject
	}
	if text != nil || html != nil {
		set.text, set.html = text, html
	}
	return set, nil
}

func readDefault(fsys fs.FS, name string) (*templateFile, error) {
	b, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("email: read built-in template %s: %w", name, err)
	}
	return &templateFile{name: name, body: string(b)}, nil
}

func readOverride(dir Dir, name string) (*templateFile, error) {
	path := filepath.Join(dir.Path, name)
	b, err := fs.ReadFile(dir.FS, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("email: read template: %w", err)
	}
	return &templateFile{name: path, body: string(b)}, nil
}

// ComposeVerification returns the message that carries verificationURL to u.
// Errors: u has no valid e-mail address, or a template failed to execute.
func (c *Composer) ComposeVerification(ctx context.Context, u core.PublicUser, verificationURL string) (core.Message, error) {
	return c.compose(ctx, &c.verification, u, map[string]any{"verification_url": verificationURL})
}

// ComposeAccountExists returns the notice that someone tried to register a
// new account with u's address; its template context is user and email.
// Errors: no account-exists templates were given (WithAccountExistsTemplates),
// u has no valid e-mail address, or a template failed to execute.
func (c *Composer) ComposeAccountExists(ctx context.Context, u core.PublicUser) (core.Message, error) {
	if c.accountExists == nil {
		return core.Message{}, errors.New("email: no account-exists templates configured (WithAccountExistsTemplates)")
	}
	return c.compose(ctx, c.accountExists, u, nil)
}

// ComposeResetPassword returns the message that carries resetURL, a
// reset-password link, to u's address; its template context is user, email
// and verification_url, as django-rest-registration's. Errors: no
// reset-password templates were given (WithResetPasswordTemplates), u has no
// valid address, or a template failed to execute.
func (c *Composer) ComposeResetPassword(ctx context.Context, u core.PublicUser, resetURL string) (core.Message, error) {
	set, err := c.set(setResetPassword)
	if err != nil {
		return core.Message{}, err
	}
	return c.composeTo(ctx, set, u, u.Email, map[string]any{"verification_url": resetURL})
}

// ComposeRegisterEmail returns the message to newAddress, the address u
// asked to change to: the verify-email link verificationURL or, when
// alreadyUsed (another account has the address), django-rest-registration's
// notice that the address is in use and no link. Its template context is
// user, email (the new address), verification_url and email_already_used.
// Errors: as ComposeResetPassword's (WithRegisterEmailTemplates).
func (c *Composer) ComposeRegisterEmail(ctx context.Context, u core.PublicUser, newAddress, verificationURL string, alreadyUsed bool) (core.Message, error) {
	set, err := c.set(setRegisterEmail)
	if err != nil {
		return core.Message{}, err
	}
	return c.composeTo(ctx, set, u, newAddress, map[string]any{
		"email": newAddress, "verification_url": verificationURL, "email_already_used": alreadyUsed,
	})
}

// ComposeEmailChanged returns the notice to oldAddress that u's address was
// changed away from it; its template context is user (with the new address)
// and email (the old one). Errors: as ComposeResetPassword's
// (WithEmailChangedTemplates).
func (c *Composer) ComposeEmailChanged(ctx context.Context, u core.PublicUser, oldAddress string) (core.Message, error) {
	set, err := c.set(setEmailChanged)
	if err != nil {
		return core.Message{}, err
	}
	return c.composeTo(ctx, set, u, oldAddress, map[string]any{"email": oldAddress})
}

// set returns the optional set kind, or why there is none.
func (c *Composer) set(kind setKind) (*parsedSet, error) {
	set := c.sets[kind]
	if set == nil {
		return nil, fmt.Errorf("email: no %s templates configured", kind)
	}
	return set, nil
}

// checkExtraSets renders every optional set once for sample, so a template
// that fails only when executed stops start-up instead of a flow.
func (c *Composer) checkExtraSets(sample core.PublicUser) error {
	ctx := context.Background()
	link := "https://example.com/link/?user_id=1&timestamp=1700000000&signature=sample"
	for kind := range c.sets {
		var err error
		switch kind {
		case setResetPassword:
			_, err = c.ComposeResetPassword(ctx, sample, link)
		case setRegisterEmail:
			if _, err = c.ComposeRegisterEmail(ctx, sample, "new@example.com", link, false); err == nil {
				_, err = c.ComposeRegisterEmail(ctx, sample, "new@example.com", "", true)
			}
		case setEmailChanged:
			_, err = c.ComposeEmailChanged(ctx, sample, "old@example.com")
		}
		if err != nil {
			return fmt.Errorf("%s templates: %w", kind, err)
		}
	}
	return nil
}

// compose renders set for u, to u's address, with the built-in context
// plus extra.
func (c *Composer) compose(ctx context.Context, set *parsedSet, u core.PublicUser, extra map[string]any) (core.Message, error) {
	return c.composeTo(ctx, set, u, u.Email, extra)
}

// composeTo renders set for u, to address to, with the built-in context
// plus extra (whose keys replace the built-in ones).
func (c *Composer) composeTo(ctx context.Context, set *parsedSet, u core.PublicUser, to string, extra map[string]any) (core.Message, error) {
	// The address goes out as stored but for an internationalised domain,
	// which is sent as its A-label so that relays without SMTPUTF8 deliver
	// it too. It only has to be a bare address, never a display-name form or
	// a header fragment.
	recipient := core.EmailForDelivery(to)
	if to, err := mail.ParseAddress(recipient); err != nil {
		return core.Message{}, fmt.Errorf("email: recipient address: %w", err)
	} else if to.Name != "" {
		return core.Message{}, errors.New("email: recipient address has a display name")
	}
	data := map[string]any{
		"user": map[string]any{
			"id":         u.ID,
			"username":   u.Username,
			"first_name": u.FirstName,
			"last_name":  u.LastName,
			"email":      u.Email,
		},
		"email": u.Email,
	}
	for k, v := range extra {
		data[k] = v
	}
	for _, f := range c.contextFuncs {
		for k, v := range f(ctx, u) {
			data[k] = v
		}
	}

	var buf bytes.Buffer
	if err := set.subject.Execute(&buf, data); err != nil {
		return core.Message{}, fmt.Errorf("email: render subject: %w", err)
	}
	msg := core.Message{
		From:    c.from,
		ReplyTo: c.replyTo,
		To:      []string{recipient},
		Subject: OneLine(buf.String()),
	}
	if set.html != nil {
		buf.Reset()
		if err := set.html.Execute(&buf, data); err != nil {
			return core.Message{}, fmt.Errorf("email: render HTML body: %w", err)
		}
		msg.HTML = strings.ToValidUTF8(buf.String(), "\uFFFD")
		if strings.TrimSpace(msg.HTML) == "" {
			msg.HTML = ""
		}
	}
	if set.text != nil {
		buf.Reset()
		if err := set.text.Execute(&buf, data); err != nil {
			return core.Message{}, fmt.Errorf("email: render text body: %w", err)
		}
		msg.Text = strings.ToValidUTF8(buf.String(), "\uFFFD")
	} else {
		msg.Text = HTMLToText(msg.HTML)
	}
	return msg, nil
}

// textFuncs are the functions text templates may call: escape is Django's
// django.utils.html.escape, which django-rest-registration's text templates
// apply to every value (Django autoescapes .txt templates too), so a text
// body can match its output byte for byte.
var textFuncs = texttemplate.FuncMap{"escape": DjangoEscape}

// djangoEscaper is Django's escape table.
var djangoEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;")

// DjangoEscape escapes s as django.utils.html.escape does.
func DjangoEscape(s string) string { return djangoEscaper.Replace(s) }

// OneLine makes s safe for a header: control characters (CR, LF, NEL, …) and
// runs of white space become one space, invalid UTF-8 becomes U+FFFD, and the
// ends are trimmed. No user-supplied text can start a new header line.
func OneLine(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}
