package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/restreg/restreg/core"
)

// tokenDoc is a login token, known only by the SHA-256 digest of its value.
type tokenDoc struct {
	Digest    string    `bson:"_id"`
	UserID    string    `bson:"user_id"`
	CreatedAt time.Time `bson:"created_at"`
}

// SaveToken records that digest belongs to userID; saving a digest again
// replaces the record.
func (s *Store) SaveToken(ctx context.Context, digest, userID string, created time.Time) error {
	doc := tokenDoc{Digest: digest, UserID: userID, CreatedAt: created}
	filter := bson.D{{Key: "_id", Value: digest}}
	_, err := s.tokens.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(true))
	if err != nil && isDuplicate(err) {
		// Two upserts of one digest raced to insert; the loser now updates.
		_, err = s.tokens.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(true))
	}
	if err != nil {
		return wrap("save token", err)
	}
	return nil
}

// UserIDForToken returns the user a token digest belongs to.
func (s *Store) UserIDForToken(ctx context.Context, digest string) (string, error) {
	var doc tokenDoc
	err := s.tokens.FindOne(ctx, bson.D{{Key: "_id", Value: digest}}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", fmt.Errorf("mongodb: user for token: %w", core.ErrNotFound)
	}
	if err != nil {
		return "", wrap("user for token", err)
	}
	return doc.UserID, nil
}
