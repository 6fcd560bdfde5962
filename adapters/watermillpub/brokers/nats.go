package brokers

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/core"
)

// NATSModule publishes signals to NATS JetStream (EVENTS_BACKEND=nats,
// EVENTS_URL=nats://host:4222). Each topic gets a file-backed stream unless
// one already covers its subject; Publish returns once JetStream stored the
// message, and the message id (= event id) lets JetStream drop a repeat sent
// within its duplicate window.
var NATSModule = brokerModule("nats", func(c watermillpub.Config) (dialer, error) {
	if strings.TrimSpace(c.URL) == "" {
		return nil, errors.New("EVENTS_URL is required when EVENTS_BACKEND is nats (nats://host:4222)")
	}
	topics := []string{watermillpub.Topic(c.TopicPrefix, core.EventUserRegistered), watermillpub.Topic(c.TopicPrefix, core.EventUserActivated)}
	return func(log *slog.Logger) (message.Publisher, error) {
		return DialNATS(c.URL, topics, log)
	}, nil
})

// natsPublishWait bounds how long one publish waits for JetStream's ack.
const natsPublishWait = 5 * time.Second

// DialNATS returns a Watermill publisher to the JetStream server(s) at url
// that provisions a stream for each topic on first use. It succeeds while the
// server is down (the connection keeps retrying in the background) and then
// fails each publish at once, without buffering, so a timed-out publish is
// never sent behind the caller's back. Streams for topics are created right
// away when the server is up, so consumers can subscribe before the first
// signal.
func DialNATS(url string, topics []string, log *slog.Logger) (message.Publisher, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, err := nats.Connect(url,
		nats.Name("restreg"),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", slog.String("error", err.Error()))
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats: connected") }),
	)
	if err != nil {
		return nil, fmt.Errorf("nats: connect: %w", err)
	}
	jsOpts := []nats.JSOpt{nats.MaxWait(natsPublishWait)}
	js, err := conn.JetStream(jsOpts...)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	wm, err := wmnats.NewPublisherWithNatsConn(conn, wmnats.PublisherPublishConfig{
		Marshaler:         &wmnats.NATSMarshaler{},
		SubjectCalculator: wmnats.DefaultSubjectCalculator,
		JetStream: wmnats.JetStreamConfig{
			// Streams are provisioned here, not by Watermill, whose stream
			// name is the topic itself, and NATS forbids dots in stream names.
			AutoProvision:  false,
			TrackMsgId:     true,
			ConnectOptions: jsOpts,
		},
	}, watermillpub.Logger(log))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("nats: publisher: %w", err)
	}
	p := &natsPublisher{wm: wm, js: js}
	if conn.IsConnected() {
		for _, topic := range topics {
			if err := p.ensureStream(topic); err != nil {
				log.Warn("nats: cannot provision stream yet; retrying on first publish",
					slog.String("subject", topic), slog.String("error", err.Error()))
			}
		}
	}
	return p, nil
}

// natsPublisher makes sure a stream stores a topic before publishing to it.
type natsPublisher struct {
	wm      *wmnats.Publisher
	js      nats.JetStreamContext
	ensured sync.Map // topic → struct{}
}

// Publish implements message.Publisher.
func (p *natsPublisher) Publish(topic string, msgs ...*message.Message) error {
	if err := p.ensureStream(topic); err != nil {
		return err
	}
	if err := p.wm.Publish(topic, msgs...); err != nil {
		// The stream may have been deleted; look again next time.
		p.ensured.Delete(topic)
		return err
	}
	return nil
}

// Close implements message.Publisher; it closes the connection.
func (p *natsPublisher) Close() error {
	return p.wm.Close()
}

func (p *natsPublisher) ensureStream(topic string) error {
	if _, ok := p.ensured.Load(topic); ok {
		return nil
	}
	_, err := p.js.StreamNameBySubject(topic)
	if errors.Is(err, nats.ErrNoMatchingStream) {
		_, err = p.js.AddStream(&nats.StreamConfig{
			Name:        NATSStreamName(topic),
			Description: "restreg signal " + topic,
			Subjects:    []string{topic},
			Storage:     nats.FileStorage,
			Retention:   nats.LimitsPolicy,
		})
		if errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
			err = nil // created concurrently by another instance
		}
	}
	if err != nil {
		return fmt.Errorf("provision stream for %s: %w", topic, err)
	}
	p.ensured.Store(topic, struct{}{})
	return nil
}

// NATSStreamName returns the name of the stream NATSModule creates for a
// topic: the topic with every character NATS forbids in stream names
// replaced by '_' ("restreg.user_registered" → "restreg_user_registered").
func NATSStreamName(topic string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		default:
			return '_'
		}
	}, topic)
}
