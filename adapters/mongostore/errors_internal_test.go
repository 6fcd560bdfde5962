package mongostore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/restreg/restreg/core"
)

// Most of these server answers cannot be provoked on demand against the
// embedded FerretDB, so the translation is checked on errors shaped as the
// driver returns them.

func TestDuplicateKeyErrorsAreRecognised(t *testing.T) {
	mongoDup := mongo.WriteException{WriteErrors: []mongo.WriteError{{
		Code:    11000,
		Message: `E11000 duplicate key error collection: restreg.users index: username_key_unique dup key: { username_key: "index: unique_email_key_unique dup key" }`,
	}}}
	if !isDuplicate(mongoDup) {
		t.Errorf("isDuplicate(E11000) = false")
	}
	if got := duplicateIndex(mongoDup); got != indexUsernameKey {
		t.Errorf("duplicateIndex = %q, want %q (the index, not a quoted key value)", got, indexUsernameKey)
	}
	// As FerretDB v1.24.2 answers an UpdateOne that hits a unique index.
	ferretUpdateDup := mongo.CommandError{Code: 1, Name: "InternalError",
		Message: "[msg_update.go:133 handler.(*Handler).updateDocument] [update.go:114 common.UpdateDocument] " +
			"[collection.go:191 sqlite.(*collection).UpdateAll] [collection.go:177 sqlite.(*collection).UpdateAll.func1] " +
			"constraint failed: UNIQUE constraint failed: index 'users_fd0c5087_username_key_unique' (2067)"}
	if !isDuplicate(ferretUpdateDup) {
		t.Errorf("isDuplicate(FerretDB InternalError for a unique violation) = false")
	}
	if isDuplicate(mongo.CommandError{Code: 1, Name: "InternalError", Message: "something else broke"}) {
		t.Errorf("an unrelated InternalError is taken for a duplicate key")
	}
	if got := duplicateIndex(ferretUpdateDup); got != "" {
		t.Errorf("duplicateIndex of a FerretDB error = %q, want none", got)
	}
}

func TestWrapMarksOnlyPassingFailuresUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), true},
		{"client disconnected", mongo.ErrClientDisconnected, true},
		{"shutting down", mongo.CommandError{Code: 91, Name: "ShutdownInProgress"}, true},
		{"not primary", mongo.CommandError{Code: 10107, Name: "NotWritablePrimary"}, true},
		{"retryable label", mongo.CommandError{Code: 9999, Labels: []string{"RetryableWriteError"}}, true},
		{"network label", mongo.CommandError{Labels: []string{"NetworkError"}}, true},
		{"cancelled by the caller", fmt.Errorf("op: %w", context.Canceled), false},
		{"bad query", mongo.CommandError{Code: 2, Name: "BadValue"}, false},
		{"duplicate", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}, false},
	} {
		err := wrap("test", tc.err)
		if got := errors.Is(err, core.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%s: wraps core.ErrUnavailable = %v, want %v (%v)", tc.name, got, tc.unavailable, err)
		}
		if !errors.Is(err, tc.err) && !errors.As(err, new(mongo.ServerError)) {
			t.Errorf("%s: the driver error is no longer inspectable: %v", tc.name, err)
		}
	}
}
