package sendgridmail

import (
	"errors"
	"fmt"
	"net/url"
)

// Config is what Module needs: the API key and the API's address.
type Config struct {
	APIKey string `setting:"SENDGRID_API_KEY" secret:"true"`
	// Host is https://api.sendgrid.com, https://api.eu.sendgrid.com or a
	// test server.
	Host string `setting:"SENDGRID_HOST"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Host: "https://api.sendgrid.com"}
}

// Validate returns one error line per problem, naming the setting; the key
// is never shown.
func (c Config) Validate() error {
	var errs []error
	if c.APIKey == "" {
		errs = append(errs, errors.New("SENDGRID_API_KEY is required when MAIL_BACKEND is sendgrid"))
	}
	if u, err := url.Parse(c.Host); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("SENDGRID_HOST must be an http or https URL (got %q)", c.Host))
	}
	return errors.Join(errs...)
}
