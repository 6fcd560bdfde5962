// Package mongostore keeps users, their event outbox, the e-mails they owe
// and login tokens in MongoDB through go.mongodb.org/mongo-driver/v2. It
// relies on single-document atomicity only (no multi-document transactions),
// so a standalone server, a replica set, Atlas or a cluster sharded on the
// user id all work: a user, the events its change emits and the e-mail it
// owes live in one document and are written by one operation.
//
// Usernames and e-mail addresses share one namespace: every user's unique
// e-mail key and username e-mail key (core.User.UsernameEmailKey) must be
// unique across both fields of all users. MongoDB's natural tool, a unique
// multikey index on an array of both keys, is not used because FerretDB v1,
// which the tests run on, indexes an array as one value: ["a", "b"] and
// ["b"] do not collide there. Instead each key is a document of its own in
// the email_names collection (_id = the key, so the server's _id uniqueness
// arbitrates between concurrent registrations), written before the user
// document. A registration that fails afterwards deletes the reservations
// it wrote; one that cannot (the process died, the server went away) leaves
// an orphan, which a later registration takes over once its owner does not
// exist or no longer holds the key and it is older than orphanAfter. Every
// write of a registration happens within createBudget of its reservations,
// so a registration still in flight is never taken over.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.uber.org/fx"

	"github.com/restreg/restreg/ports"
)

// SchemaVersion is the layout of the collections this build reads and writes;
// it is recorded in the meta collection so that an older build refuses a
// database a newer one has already changed.
//
// Version 2 added the email_names collection and the username_email_key
// field; Open fills both in for users a version 1 build wrote.
const SchemaVersion = 2

// Connection defaults, applied only where the URI does not set its own.
const (
	defaultAppName                = "restreg"
	defaultServerSelectionTimeout = 5 * time.Second
	defaultConnectTimeout         = 5 * time.Second
	// defaultOperationTimeout bounds calls whose context has no deadline, so a
	// background job can never wait on a silent server forever.
	defaultOperationTimeout = 10 * time.Second
	defaultMaxPoolSize      = 64
	defaultMaxConnIdleTime  = 5 * time.Minute
	// defaultHeartbeatInterval is how often the driver checks each server; shorter
	// than the driver's 10 s so the API is ready again soon after MongoDB returns.
	defaultHeartbeatInterval = 2 * time.Second
	// startTimeout bounds start-up (ping, schema check, indexes) when the
	// server is down, whatever deadline the caller gave.
	startTimeout = 20 * time.Second
)

// Collection names.
const (
	usersCollection      = "users"
	tokensCollection     = "tokens"
	metaCollection       = "meta"
	emailNamesCollection = "email_names"
	// queuedMailCollection holds the account flows' mails (account.go).
	queuedMailCollection = "queued_mail"
)

// Store is a ports.Store on one MongoDB database. It is safe for concurrent
// use; the driver reconnects by itself after an outage, so a Store never
// needs reopening.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	users  *mongo.Collection
	tokens *mongo.Collection
	meta   *mongo.Collection
	// names holds one reservation per e-mail-shaped login name (namespace.go).
	names *mongo.Collection
	// lastSeq orders the events this process records (see nextSeq).
	lastSeq atomic.Int64
	// userLocks serialise this process's writes to one user document.
	// MongoDB applies each single-document update atomically anyway; servers
	// that speak its protocol without that guarantee (FerretDB v1 rewrites
	// the whole document) would otherwise let the relay's outbox update undo
	// a concurrent activation.
	userLocks [64]sync.Mutex
	// accountLocks serialise this process's key changes of one user (see
	// lockAccount).
	accountLocks [64]sync.Mutex
}

// lockUser holds the write lock of id's document until the returned func runs.
func (s *Store) lockUser(id string) func() {
	m := &s.userLocks[lockIndex(id, len(s.userLocks))]
	m.Lock()
	return m.Unlock
}

// lockIndex spreads ids over n locks.
func lockIndex(id string, n int) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return h.Sum32() % uint32(n)
}

var _ ports.Store = (*Store)(nil)

// Module opens the store the Config in the graph names (MONGODB_URI and
// MONGODB_DATABASE) and
// provides it as every store port; start-up fails (wrapping
// core.ErrUnavailable) within a bounded time when the server is down.
var Module = fx.Module("mongostore",
	fx.Provide(fx.Annotate(newForApp,
		fx.As(new(ports.Store)),
		fx.As(new(ports.UserStore)),
		fx.As(new(ports.Outbox)),
		fx.As(new(ports.MailQueue)),
		fx.As(new(ports.TokenStore)),
		fx.As(new(ports.AccountStore)),
		fx.As(new(ports.AccountMailQueue)),
		fx.As(new(ports.Importer)),
	)),
)

// newForApp builds the store without I/O and connects it in OnStart, so that
// constructing the graph (e.g. for `restreg check`) never touches the network.
func newForApp(lc fx.Lifecycle, c Config) (*Store, error) {
	s, err := newStore(c.URI, c.Database)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := s.prepare(ctx); err != nil {
				disconnect(s.client)
				return err
			}
			return nil
		},
		OnStop: s.Close,
	})
	return s, nil
}

// Open connects to the MongoDB server at uri, checks the schema version and
// creates the indexes of database. TLS, credentials and replica-set options
// come from the URI. It fails (wrapping core.ErrUnavailable) within a bounded
// time when the server cannot be reached.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	s, err := newStore(uri, database)
	if err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		disconnect(s.client)
		return nil, err
	}
	return s, nil
}

// newStore configures a client; the driver does not talk to the server yet.
func newStore(uri, database string) (*Store, error) {
	if uri == "" {
		return nil, errors.New("mongodb: MONGODB_URI is empty")
	}
	if database == "" {
		return nil, errors.New("mongodb: MONGODB_DATABASE is empty")
	}
	opts := options.Client().ApplyURI(uri)
	if opts.AppName == nil {
		opts.SetAppName(defaultAppName)
	}
	if opts.ServerSelectionTimeout == nil {
		opts.SetServerSelectionTimeout(defaultServerSelectionTimeout)
	}
	if opts.ConnectTimeout == nil {
		opts.SetConnectTimeout(defaultConnectTimeout)
	}
	if opts.Timeout == nil {
		opts.SetTimeout(defaultOperationTimeout)
	}
	if opts.MaxPoolSize == nil {
		opts.SetMaxPoolSize(defaultMaxPoolSize)
	}
	if opts.MaxConnIdleTime == nil {
		opts.SetMaxConnIdleTime(defaultMaxConnIdleTime)
	}
	if opts.HeartbeatInterval == nil {
		opts.SetHeartbeatInterval(defaultHeartbeatInterval)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb: invalid MONGODB_URI: %s", redact(err.Error(), uri))
	}
	db := client.Database(database)
	return &Store{
		client: client,
		db:     db,
		users:  db.Collection(usersCollection),
		tokens: db.Collection(tokensCollection),
		meta:   db.Collection(metaCollection),
		names:  db.Collection(emailNamesCollection),
	}, nil
}

// redact removes the password of uri from msg: driver messages about a
// malformed URI may quote parts of it, and the password must never be logged.
func redact(msg, uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return msg
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	return strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
}

// disconnect releases a client whose start-up failed.
func disconnect(c *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Disconnect(ctx)
}

// prepare checks that the server answers and the schema is one this build
// understands, creates the indexes (idempotently) and upgrades a database an
// older build wrote.
func (s *Store) prepare(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		return err
	}
	version, err := s.checkSchema(ctx)
	if err != nil {
		return err
	}
	if err := s.createIndexes(ctx); err != nil {
		return err
	}
	if version < SchemaVersion {
		return s.upgrade(ctx)
	}
	return nil
}

// metaDoc records the schema version of the database.
type metaDoc struct {
	ID      string `bson:"_id"`
	Version int    `bson:"version"`
}

const schemaDocID = "schema"

// checkSchema returns the schema version of the database, recording this
// build's on a database that has none yet, and refuses a newer one.
func (s *Store) checkSchema(ctx context.Context) (int, error) {
	var doc metaDoc
	err := s.meta.FindOne(ctx, bson.D{{Key: "_id", Value: schemaDocID}}).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		_, ierr := s.meta.InsertOne(ctx, metaDoc{ID: schemaDocID, Version: SchemaVersion})
		switch {
		case ierr == nil:
			// A database without a version has no users to upgrade.
			return SchemaVersion, nil
		case isDuplicate(ierr):
			// Another instance started at the same time; it may be an older
			// build, so upgrade from the start: upgrading is idempotent.
			return 0, nil
		default:
			return 0, wrap("record schema version", ierr)
		}
	case err != nil:
		return 0, wrap("read schema version", err)
	case doc.Version > SchemaVersion:
		return 0, fmt.Errorf("mongodb: database %q has schema version %d; this build understands up to %d, upgrade restreg",
			s.db.Name(), doc.Version, SchemaVersion)
	}
	return doc.Version, nil
}

// Index names; duplicate-key errors from MongoDB name the index they hit.
const (
	indexUsernameKey      = "username_key_unique"
	indexUniqueEmailKey   = "unique_email_key_unique"
	indexUsernameEmailKey = "username_email_key_unique"
	indexEmailKey         = "email_key"
	indexOutboxAvail      = "outbox_available_at"
	indexOutboxEventID    = "outbox_event_id"
	indexMailDue          = "mail_due_at"
	indexMailOutbox       = "mail_outbox_id"
	indexQueuedMailDue    = "due_at"
	indexQueuedMailUser   = "user_id"
	indexTokenUser        = "user_id_created_at"
	// indexTokenUserOnly is the index on user_id alone that earlier builds
	// created; indexTokenUser, which starts with user_id, replaces it.
	indexTokenUserOnly = "user_id"
)

// createIndexes creates each index on its own: FerretDB v1.24 panics on a
// createIndexes command naming several indexes that already exist once it
// has been restarted, and MongoDB treats each existing one as a no-op anyway.
func (s *Store) createIndexes(ctx context.Context) error {
	indexes := []struct {
		coll  *mongo.Collection
		model mongo.IndexModel
	}{
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "username_key", Value: 1}}, Options: options.Index().SetName(indexUsernameKey).SetUnique(true)}},
		// Sparse rather than partial: the field is stored only when non-empty,
		// and FerretDB v1 refuses partialFilterExpression but already leaves
		// missing fields out of its unique indexes.
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "unique_email_key", Value: 1}}, Options: options.Index().SetName(indexUniqueEmailKey).SetUnique(true).SetSparse(true)}},
		// Within each field the reservations (namespace.go) already keep the
		// keys unique; the indexes are the server's own guard and serve
		// lookups.
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "username_email_key", Value: 1}}, Options: options.Index().SetName(indexUsernameEmailKey).SetUnique(true).SetSparse(true)}},
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "email_key", Value: 1}}, Options: options.Index().SetName(indexEmailKey)}},
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "mail.due_at", Value: 1}}, Options: options.Index().SetName(indexMailDue).SetSparse(true)}},
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "outbox.available_at", Value: 1}}, Options: options.Index().SetName(indexOutboxAvail)}},
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "outbox.event_id", Value: 1}}, Options: options.Index().SetName(indexOutboxEventID)}},
		// Claims find the mails a change left in its user's document.
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "mail_outbox._id", Value: 1}}, Options: options.Index().SetName(indexMailOutbox).SetSparse(true)}},
		{s.queuedMail(), mongo.IndexModel{Keys: bson.D{{Key: "due_at", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName(indexQueuedMailDue)}},
		{s.queuedMail(), mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}}, Options: options.Index().SetName(indexQueuedMailUser)}},
		// LatestToken reads a user's newest token from the end of its range.
		{s.tokens, mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "created_at", Value: 1}}, Options: options.Index().SetName(indexTokenUser)}},
	}
	for _, ix := range indexes {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return wrap("create index on "+ix.coll.Name(), err)
		}
	}
	// Every lookup by user_id alone uses indexTokenUser too; the old index
	// would only cost a second update on each login.
	if err := s.tokens.Indexes().DropOne(ctx, indexTokenUserOnly); err != nil && !isIndexNotFound(err) {
		return wrap("drop index "+indexTokenUserOnly+" on "+s.tokens.Name(), err)
	}
	return nil
}

// Close disconnects from the server, waiting for in-flight operations until
// ctx ends.
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return wrap("disconnect", err)
	}
	return nil
}

// Ping reports whether the primary answers now; it asks the server every
// time, so /readyz turns green again as soon as the server is back.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// nextSeq returns a number larger than any this store returned before and
// close to the wall clock in nanoseconds, so events sort in the order they
// were recorded here and roughly so across instances.
func (s *Store) nextSeq() int64 {
	for {
		prev := s.lastSeq.Load()
		next := time.Now().UnixNano()
		if next <= prev {
			next = prev + 1
		}
		if s.lastSeq.CompareAndSwap(prev, next) {
			return next
		}
	}
}
