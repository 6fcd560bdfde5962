package filemail

import "errors"

// Config is what Module needs: the directory the .eml files go to
// (MAIL_FILE_DIR; the command defaults it to DATA_DIR/mail).
type Config struct {
	Dir string `setting:"MAIL_FILE_DIR"`
}

// Validate returns one error line per problem, naming the setting.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("MAIL_FILE_DIR is required when MAIL_BACKEND is file")
	}
	return nil
}
