package mongostore

import "errors"

// Config is what Module needs: the server and the database. Each tagged
// field is the documented setting of that name.
type Config struct {
	// URI is the MongoDB connection string; it may hold a password.
	URI string `setting:"MONGODB_URI" secret:"true"`
	// Database is the database restreg keeps its collections in.
	Database string `setting:"MONGODB_DATABASE"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Database: "restreg"}
}

// Validate returns one error line per problem, naming the setting.
func (c Config) Validate() error {
	var errs []error
	if c.URI == "" {
		errs = append(errs, errors.New("MONGODB_URI is required when STORE is mongodb"))
	}
	if c.Database == "" {
		errs = append(errs, errors.New("MONGODB_DATABASE must not be empty"))
	}
	return errors.Join(errs...)
}
