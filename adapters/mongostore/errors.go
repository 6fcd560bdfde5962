package mongostore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/restreg/restreg/core"
)

// wrap adds context to a driver error and marks the ones a later retry may
// overcome as core.ErrUnavailable.
func wrap(op string, err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("mongodb: %s: %w: %w", op, core.ErrUnavailable, err)
	}
	return fmt.Errorf("mongodb: %s: %w", op, err)
}

// Server error codes that mean "not now" rather than "never": the server is
// shutting down, stepping down or short of time.
var transientCodes = map[int]bool{
	6:     true, // HostUnreachable
	7:     true, // HostNotFound
	50:    true, // MaxTimeMSExpired
	89:    true, // NetworkTimeout
	91:    true, // ShutdownInProgress
	189:   true, // PrimarySteppedDown
	262:   true, // ExceededTimeLimit
	9001:  true, // SocketException
	10107: true, // NotWritablePrimary
	11600: true, // InterruptedAtShutdown
	11602: true, // InterruptedDueToReplStateChange
	13435: true, // NotPrimaryNoSecondaryOk
	13436: true, // NotPrimaryOrSecondary
}

// isUnavailable reports whether err means the server could not be reached or
// did not answer in time. A cancelled context is the caller giving up, not
// the server failing, so it is not.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || mongo.IsTimeout(err) || mongo.IsNetworkError(err) ||
		errors.Is(err, mongo.ErrClientDisconnected) {
		return true
	}
	var sel topology.ServerSelectionError
	if errors.As(err, &sel) {
		return true
	}
	var conn topology.ConnectionError
	if errors.As(err, &conn) {
		return true
	}
	var wq topology.WaitQueueTimeoutError
	if errors.As(err, &wq) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		for _, code := range se.ErrorCodes() {
			if transientCodes[code] {
				return true
			}
		}
		if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError") {
			return true
		}
	}
	return false
}

// isDuplicate reports whether err is a unique-index violation. FerretDB v1
// reports the ones an update causes as InternalError (code 1) with SQLite's
// message, not as 11000.
func isDuplicate(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorCode(1) {
		msg := err.Error()
		return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "duplicate key")
	}
	return false
}

// dupIndexPattern finds the index name in MongoDB's E11000 message
// ("… index: username_key_unique dup key: { … }").
var dupIndexPattern = regexp.MustCompile(`index: (\S+) dup key`)

// duplicateIndex returns the name of the unique index err names, or "" when
// the server did not say (FerretDB never does).
func duplicateIndex(err error) string {
	if m := dupIndexPattern.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// isIndexNotFound reports whether err says the index to drop does not exist
// (IndexNotFound, code 27): dropping an index that is already gone is done.
func isIndexNotFound(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(27)
}
