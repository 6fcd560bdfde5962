package watermillpub

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.uber.org/fx"

	"github.com/restreg/restreg/core"
)

// Handler receives one signal. Returning an error asks for the message again
// (after listenRetryDelay), so return nil for failures a retry cannot fix.
// Delivery is at least once: use Event.ID to ignore repeats.
type Handler func(ctx context.Context, ev core.Event) error

// listenRetryDelay spaces out redeliveries of a message whose handler failed,
// so a handler that keeps failing does not spin a CPU.
const listenRetryDelay = time.Second

// Listen connects handler to the signal typ published under topic prefix
// prefix — the Go counterpart of connecting a Django signal receiver. The
// subscription is active when Listen returns (GoChannel drops messages nobody
// listens to); handler runs on its own goroutine, one message at a time,
// until ctx ends. Messages that are not restreg events are acknowledged and
// skipped, since no retry could make them readable.
func Listen(ctx context.Context, sub message.Subscriber, prefix string, typ core.EventType, handler Handler) error {
	topic := Topic(prefix, typ)
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return fmt.Errorf("watermill: subscribe to %s: %w", topic, err)
	}
	go func() {
		for msg := range msgs {
			ev, err := DecodeEvent(msg)
			if err != nil {
				msg.Ack()
				continue
			}
			if err := handler(ctx, ev); err != nil {
				select {
				case <-time.After(listenRetryDelay):
				case <-ctx.Done():
				}
				msg.Nack()
				continue
			}
			msg.Ack()
		}
	}()
	return nil
}

// Receiver is an fx option that connects handler to the signal typ for the
// life of the application, with the message.Subscriber and topic prefix of
// the graph (GoChannelModule provides the subscriber):
//
//	fx.New(app.Module, watermillpub.Receiver(core.EventUserRegistered,
//		func(ctx context.Context, ev core.Event) error {
//			return crm.AddContact(ctx, ev.User.Email)
//		}))
func Receiver(typ core.EventType, handler Handler) fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle, sub message.Subscriber, c Config) {
		ctx, cancel := context.WithCancel(context.Background())
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error {
				if err := Listen(ctx, sub, c.TopicPrefix, typ, handler); err != nil {
					cancel()
					return err
				}
				return nil
			},
			OnStop: func(context.Context) error {
				cancel()
				return nil
			},
		})
	})
}
