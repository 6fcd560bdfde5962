package brokers

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/restreg/restreg/adapters/watermillpub"
)

// AMQPModule publishes signals to RabbitMQ (EVENTS_BACKEND=amqp,
// EVENTS_URL=amqp://user:pass@host:5672/vhost) with Watermill's durable
// pub/sub layout: one durable fanout exchange per topic, persistent messages,
// and Publish waits for the broker's publisher confirm. Consumers bind their
// own queues to the exchange; like any fanout, RabbitMQ drops a signal
// published while no queue is bound.
var AMQPModule = brokerModule("amqp", func(c watermillpub.Config) (dialer, error) {
	if c.URL == "" {
		return nil, errors.New("EVENTS_URL is required when EVENTS_BACKEND is amqp (amqp://user:pass@host:5672/)")
	}
	if _, err := amqp.ParseURI(c.URL); err != nil {
		// The error would repeat the URL, password included.
		return nil, errors.New("EVENTS_URL is not a valid amqp:// or amqps:// URL (value not shown)")
	}
	return func(log *slog.Logger) (message.Publisher, error) {
		return DialAMQP(c.URL, log)
	}, nil
})

// amqpDialTimeout bounds connecting to RabbitMQ, so a black-holed broker
// costs the relay seconds rather than the client's default half minute.
const amqpDialTimeout = 5 * time.Second

// AMQPConfig returns the Watermill configuration AMQPModule publishes with;
// consumers that subscribe with Watermill start from it to declare matching
// exchanges. Each message also carries its UUID as the AMQP message-id.
func AMQPConfig(url string) wmamqp.Config {
	cfg := wmamqp.NewDurablePubSubConfig(url, nil)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("restreg")
	cfg.Connection.AmqpConfig = &amqp.Config{
		Dial:       amqp.DefaultDial(amqpDialTimeout),
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: props,
	}
	cfg.Publish.ConfirmDelivery = true
	cfg.Marshaler = wmamqp.DefaultMarshaler{
		PostprocessPublishing: func(p amqp.Publishing) amqp.Publishing {
			if id, ok := p.Headers[wmamqp.DefaultMessageUUIDHeaderKey].(string); ok {
				p.MessageId = id
			}
			p.ContentType = "application/json"
			return p
		},
	}
	return cfg
}

// DialAMQP connects to RabbitMQ at url and returns a Watermill publisher that
// reconnects by itself after losing the connection.
func DialAMQP(url string, log *slog.Logger) (message.Publisher, error) {
	pub, err := wmamqp.NewPublisher(AMQPConfig(url), watermillpub.Logger(log))
	if err != nil {
		return nil, fmt.Errorf("amqp: %w", err)
	}
	return pub, nil
}
