package restreg_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/restreg/restreg/app/apisuite"
	"github.com/restreg/restreg/app/restreg"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// observedPublisher records every event the real publisher accepted.
type observedPublisher struct {
	next ports.EventPublisher
	mu   sync.Mutex
	sent []core.Event
}

func (p *observedPublisher) Publish(ctx context.Context, events ...core.Event) error {
	if err := p.next.Publish(ctx, events...); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, events...)
	return nil
}

// countingStore counts the users it stored and removed.
type countingStore struct {
	ports.UserStore
	users atomic.Int64
}

func (s *countingStore) CreateUser(ctx context.Context, u core.User, events ...core.Event) error {
	err := s.UserStore.CreateUser(ctx, u, events...)
	if err == nil {
		s.users.Add(1)
	}
	return err
}

func (s *countingStore) DeleteInactiveUser(ctx context.Context, id string) error {
	err := s.UserStore.DeleteInactiveUser(ctx, id)
	if err == nil {
		s.users.Add(-1)
	}
	return err
}

// configureSuite applies an apisuite configuration to s and returns the
// settings the suite sees.
func configureSuite(s *restreg.Config, configure func(*apisuite.Settings)) apisuite.Settings {
	suite := apisuite.Settings{Settings: s.Settings, HTTP: s.HTTP, Hashing: s.Hashing, RateLimitBackend: s.RateLimitBackend}
	configure(&suite)
	s.Settings, s.HTTP, s.Hashing, s.RateLimitBackend = suite.Settings, suite.HTTP, suite.Hashing, suite.RateLimitBackend
	return suite
}

// composedStart starts the real fx composition with the given store settings
// on a free port, observing mail, events and users through decorators.
func composedStart(base func(t *testing.T, s *restreg.Config)) apisuite.Start {
	return func(t *testing.T, configure func(*apisuite.Settings)) *apisuite.Env {
		t.Helper()
		s := restreg.DefaultConfig()
		s.ListenAddr = "127.0.0.1:0"
		s.MailBackend = "console"
		s.OutboxPollInterval = 50 * time.Millisecond
		base(t, &s)
		suite := configureSuite(&s, configure)
		if err := s.Validate(); err != nil {
			t.Fatalf("settings: %v", err)
		}
		clock := porttest.NewClock(time.Time{})
		var mailer *porttest.RecordingMailer
		var publisher *observedPublisher
		var store *countingStore
		var outbox ports.Outbox
		srv := startT(t, s,
			fx.Decorate(func() ports.Clock { return clock }),
			fx.Decorate(func(m ports.Mailer) ports.Mailer { mailer = &porttest.RecordingMailer{Next: m}; return mailer }),
			fx.Decorate(func(p ports.EventPublisher) ports.EventPublisher {
				publisher = &observedPublisher{next: p}
				return publisher
			}),
			fx.Decorate(func(u ports.UserStore) ports.UserStore { store = &countingStore{UserStore: u}; return store }),
			fx.Populate(&outbox),
		)
		return &apisuite.Env{
			BaseURL:  srv.URL(),
			Settings: suite,
			Mails:    mailer.Messages,
			Events: func() []core.Event {
				// Pending first: an event published meanwhile is then
				// already in the publisher's record.
				pending, err := outbox.PendingEvents(context.Background(), time.Now().Add(100*365*24*time.Hour), 1_000_000)
				if err != nil {
					t.Errorf("read the outbox: %v", err)
				}
				publisher.mu.Lock()
				all := append([]core.Event(nil), publisher.sent...)
				publisher.mu.Unlock()
				seen := map[string]bool{}
				for _, ev := range all {
					seen[ev.ID] = true
				}
				for _, ev := range pending {
					if !seen[ev.ID] {
						all = append(all, ev)
					}
				}
				return all
			},
			Users:  func(*testing.T) int { return int(store.users.Load()) },
			SetNow: clock.Set,
		}
	}
}

func TestHTTPContractOnMemoryStore(t *testing.T) {
	apisuite.Run(t, composedStart(func(_ *testing.T, s *restreg.Config) { s.Store = "memory" }))
}

func TestHTTPContractOnSQLiteStore(t *testing.T) {
	apisuite.Run(t, composedStart(func(t *testing.T, s *restreg.Config) {
		s.Store = "sqlite"
		s.DataDir = t.TempDir()
	}))
}

func TestHTTPContractOnMongoDBStore(t *testing.T) {
	var n atomicCounter
	var opts apisuite.Options
	if mongoIsFerretDB {
		opts.SkipAtomicity = "the MongoDB protocol is served by an embedded FerretDB v1, whose conditional updates are not atomic " +
			"(several concurrent activations can win there); set MONGODB_TEST_URI to a real MongoDB to run these cases"
	}
	apisuite.Run(t, composedStart(func(t *testing.T, s *restreg.Config) {
		s.Store = "mongodb"
		s.MongoDB.URI = mongoURI
		s.MongoDB.Database = fmt.Sprintf("restreg_apisuite_%d_%d", os.Getpid(), n.next())
	}), opts)
}

func TestHTTPContractOnPostgresStore(t *testing.T) {
	apisuite.Run(t, composedStart(func(t *testing.T, s *restreg.Config) {
		s.Store = "postgres"
		s.Postgres.URL = postgresURL(t)
	}))
}

// atomicCounter numbers databases so every server starts empty.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.n.Add(1) }
