package mongostore_test

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// tokenIndexes returns the key patterns of the tokens collection's indexes
// by name.
func tokenIndexes(t *testing.T, c *mongo.Collection) map[string]bson.D {
	t.Helper()
	cur, err := c.Indexes().List(t.Context())
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var specs []struct {
		Name string `bson:"name"`
		Key  bson.D `bson:"key"`
	}
	if err := cur.All(t.Context(), &specs); err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	out := map[string]bson.D{}
	for _, s := range specs {
		out[s.Name] = s.Key
	}
	return out
}

// A database an earlier build wrote has an index on user_id alone; opening
// it replaces that index with one on (user_id, created_at), which
// LatestToken reads the newest token from and every lookup by user uses.
func TestOpenIndexesTokensByUserAndTime(t *testing.T) {
	database := freshDatabase("token_index")
	tokens := rawClient(t, sharedURI).Database(database).Collection("tokens")
	if _, err := tokens.Indexes().CreateOne(t.Context(), mongo.IndexModel{
		Keys: bson.D{{Key: "user_id", Value: 1}}, Options: options.Index().SetName("user_id"),
	}); err != nil {
		t.Fatalf("create the earlier index: %v", err)
	}
	openT(t, sharedURI, database, true)
	indexes := tokenIndexes(t, tokens)
	if got := indexes["user_id_created_at"]; len(got) != 2 || got[0].Key != "user_id" || got[1].Key != "created_at" {
		t.Errorf("tokens indexes = %v, want user_id_created_at on user_id, then created_at", indexes)
	}
	if _, ok := indexes["user_id"]; ok {
		t.Errorf("tokens indexes = %v, want the index on user_id alone dropped", indexes)
	}
}
