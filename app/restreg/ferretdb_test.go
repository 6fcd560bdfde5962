package restreg_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// mongoURI is an embedded FerretDB (SQLite backend) serving the MongoDB wire
// protocol for the compositions on STORE=mongodb, or MONGODB_TEST_URI when a
// real MongoDB is given.
var mongoURI string

// mongoIsFerretDB says the concurrency guarantees cannot be checked on the
// MongoDB composition: FerretDB v1 does not apply conditional updates
// atomically, so several concurrent activations can win there.
var mongoIsFerretDB bool

func TestMain(m *testing.M) {
	if uri := os.Getenv("MONGODB_TEST_URI"); uri != "" {
		mongoURI = uri
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "restreg-app-ferretdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create FerretDB directory:", err)
		os.Exit(1)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	mongoURI = f.MongoDBURI()
	mongoIsFerretDB = true
	code := m.Run()
	cancel()
	<-done
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
