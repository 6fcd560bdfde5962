package smtpmail

import (
	"errors"
	"net/url"
)

// Config is what Module needs: the server, with its credentials, as one URL.
type Config struct {
	// URL is smtp://user:pass@host:port or smtps://…; it holds a password.
	URL string `setting:"SMTP_URL" secret:"true"`
}

// Validate returns one error line per problem, naming the setting; the URL
// itself is never shown.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("SMTP_URL is required when MAIL_BACKEND is smtp")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
		return errors.New("SMTP_URL must look like smtp://user:pass@host:port or smtps://… (value not shown)")
	}
	return nil
}
