package brokers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/ports"
)

// dialer opens a Watermill publisher to a broker. Configuration errors are
// found by the module's constructor before any dialing, so a dialer's error
// always means the broker cannot be reached now.
type dialer func(log *slog.Logger) (message.Publisher, error)

// brokerModule builds the fx module of a network broker. Start-up never waits
// for the broker: the module connects in the background at start and again on
// the next publish if that failed, so registrations keep working while the
// broker is down and the relay delivers once it is back.
func brokerModule(backend string, prepare func(c watermillpub.Config) (dialer, error)) fx.Option {
	return fx.Module("events-"+backend,
		fx.Provide(fx.Annotate(
			func(lc fx.Lifecycle, c watermillpub.Config, log *slog.Logger) (*watermillpub.Publisher, error) {
				dial, err := prepare(c)
				if err != nil {
					return nil, err
				}
				if log == nil {
					log = slog.Default()
				}
				lazy := &lazyPublisher{backend: backend, dial: dial, log: log}
				lc.Append(fx.Hook{
					OnStart: func(context.Context) error {
						go lazy.warmUp()
						return nil
					},
					OnStop: func(context.Context) error { return lazy.Close() },
				})
				return watermillpub.NewPublisher(lazy, c.TopicPrefix), nil
			},
			fx.As(new(ports.EventPublisher)),
		)),
	)
}

// lazyPublisher connects to its broker on first use and retries the
// connection on later uses while it fails.
type lazyPublisher struct {
	backend string
	dial    dialer
	log     *slog.Logger

	mu     sync.Mutex
	pub    message.Publisher
	closed bool
}

var errPublisherClosed = errors.New("publisher closed")

func (l *lazyPublisher) get() (message.Publisher, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errPublisherClosed
	}
	if l.pub != nil {
		return l.pub, nil
	}
	pub, err := l.dial(l.log)
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", l.backend, err)
	}
	l.pub = pub
	return pub, nil
}

// warmUp connects at start so the first signal does not wait for it, and
// says in the log when the broker is not there.
func (l *lazyPublisher) warmUp() {
	if _, err := l.get(); err != nil && !errors.Is(err, errPublisherClosed) {
		l.log.Warn("events broker unreachable; signals wait in the outbox until it is back",
			slog.String("backend", l.backend), slog.String("error", err.Error()))
	}
}

// Publish implements message.Publisher.
func (l *lazyPublisher) Publish(topic string, msgs ...*message.Message) error {
	pub, err := l.get()
	if err != nil {
		return err
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("%s: %w", l.backend, err)
	}
	return nil
}

// Close implements message.Publisher.
func (l *lazyPublisher) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.pub == nil {
		return nil
	}
	if err := l.pub.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", l.backend, err)
	}
	return nil
}
