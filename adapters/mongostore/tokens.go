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

// FindToken returns the token with that digest and its user. It reads two
// documents, each by _id, rather than one $lookup aggregation: each read is
// a point lookup on the _id index, on MongoDB as on FerretDB (which plans
// no other filter that well), and it keeps working when users are sharded,
// which $lookup into a sharded collection does not reliably. Between the
// two reads the user may be deleted; the answer is then core.ErrNotFound,
// as for a token whose user was already gone.
func (s *Store) FindToken(ctx context.Context, digest string) (core.Token, core.User, error) {
	const op = "find token"
	var tok tokenDoc
	err := s.tokens.FindOne(ctx, bson.D{{Key: "_id", Value: digest}}).Decode(&tok)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return core.Token{}, core.User{}, fmt.Errorf("mongodb: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, core.User{}, wrap(op, err)
	}
	var u userDoc
	err = s.users.FindOne(ctx, bson.D{{Key: "_id", Value: tok.UserID}},
		options.FindOne().SetProjection(withoutOutbox)).Decode(&u)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return core.Token{}, core.User{}, fmt.Errorf("mongodb: %s: its user is gone: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, core.User{}, wrap(op, err)
	}
	return tok.token(), u.user(), nil
}

// LatestToken returns the newest token of userID, read from the end of its
// range in the index on (user_id, created_at).
func (s *Store) LatestToken(ctx context.Context, userID string) (core.Token, error) {
	const op = "latest token"
	var tok tokenDoc
	err := s.tokens.FindOne(ctx, bson.D{{Key: "user_id", Value: userID}},
		options.FindOne().SetSort(bson.D{{Key: "created_at", Value: -1}})).Decode(&tok)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return core.Token{}, fmt.Errorf("mongodb: %s: %w", op, core.ErrNotFound)
	}
	if err != nil {
		return core.Token{}, wrap(op, err)
	}
	return tok.token(), nil
}

// DeleteToken removes the token with that digest; an unknown digest is no
// error.
func (s *Store) DeleteToken(ctx context.Context, digest string) error {
	if _, err := s.tokens.DeleteOne(ctx, bson.D{{Key: "_id", Value: digest}}); err != nil {
		return wrap("delete token", err)
	}
	return nil
}

// DeleteUserTokens removes every token of userID but keep ("" keeps none)
// and returns how many it removed.
func (s *Store) DeleteUserTokens(ctx context.Context, userID, keep string) (int, error) {
	filter := bson.D{{Key: "user_id", Value: userID}, {Key: "_id", Value: bson.D{{Key: "$ne", Value: keep}}}}
	res, err := s.tokens.DeleteMany(ctx, filter)
	if err != nil {
		return 0, wrap("delete user tokens", err)
	}
	return int(res.DeletedCount), nil
}

// token returns the stored token as the core knows it.
func (d *tokenDoc) token() core.Token {
	return core.Token{Digest: d.Digest, UserID: d.UserID, CreatedAt: d.CreatedAt}
}
