package watermillpub

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"go.uber.org/fx"

	"github.com/restreg/restreg/ports"
)

// Module is the default events backend, GoChannelModule.
var Module = GoChannelModule

// GoChannelModule publishes signals in process (EVENTS_BACKEND=gochannel).
// It provides ports.EventPublisher and, for in-process listeners (Listen,
// Receiver), the message.Subscriber of the same GoChannel. Messages nobody
// listens to are dropped, and publishing never waits for a listener.
var GoChannelModule = fx.Module("events-gochannel",
	fx.Provide(fx.Private, newGoChannel),
	fx.Provide(
		func(g *gochannel.GoChannel) message.Subscriber { return g },
		fx.Annotate(
			func(g *gochannel.GoChannel, c Config) *Publisher { return NewPublisher(g, c.TopicPrefix) },
			fx.As(new(ports.EventPublisher)),
		),
	),
)

func newGoChannel(lc fx.Lifecycle, log *slog.Logger) *gochannel.GoChannel {
	g := NewGoChannel(log)
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		if err := g.Close(); err != nil {
			return fmt.Errorf("gochannel: close: %w", err)
		}
		return nil
	}})
	return g
}

// NewGoChannel returns the in-process Pub/Sub GoChannelModule uses, for
// library users who wire restreg without fx: not persistent (a signal
// nobody listens to is dropped, not kept in memory) and never blocking the
// publisher on a slow listener.
func NewGoChannel(log *slog.Logger) *gochannel.GoChannel {
	return gochannel.NewGoChannel(gochannel.Config{
		Persistent:                     false,
		BlockPublishUntilSubscriberAck: false,
	}, Logger(log))
}

// Logger adapts log for Watermill, demoting its Info messages (one
// per message nobody subscribed to, one per connection) to Debug.
func Logger(log *slog.Logger) watermill.LoggerAdapter {
	if log == nil {
		log = slog.Default()
	}
	return watermill.NewSlogLoggerWithLevelMapping(log.With(slog.String("component", "watermill")), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
}
