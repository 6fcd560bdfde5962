package brokers_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/restreg/restreg/adapters/watermillpub"
	"github.com/restreg/restreg/adapters/watermillpub/brokers"
	"github.com/restreg/restreg/core"
	"github.com/restreg/restreg/ports"
	"github.com/restreg/restreg/ports/porttest"
)

// broker is a message broker the tests expect on this machine.
type broker struct {
	name, envVar, defaultURL, startCmd string
}

var (
	natsBroker  = broker{"NATS (JetStream)", "RESTREG_TEST_NATS_URL", "nats://127.0.0.1:4222", "nats-server -a 127.0.0.1 -p 4222 -js &"}
	amqpBroker  = broker{"RabbitMQ", "RESTREG_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/", "rabbitmq-server -detached"}
	redisBroker = broker{"Redis", "RESTREG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0", "redis-server --bind 127.0.0.1 --port 6379 --daemonize yes"}
)

// require returns the broker's URL, failing the test with the command that
// starts the broker when nothing listens there.
func (b broker) require(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s; runs without -short (make test)", b.name)
	}
	raw := b.defaultURL
	if v := os.Getenv(b.envVar); v != "" {
		raw = v
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %s is not a URL", b.name, b.envVar)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
	if err != nil {
		t.Fatalf("%s is not reachable at %s (%v): start it with `%s`, or point %s at a running one", b.name, u.Host, err, b.startCmd, b.envVar)
	}
	_ = conn.Close()
	return raw
}

// closedPortURL returns a URL of scheme on a local port nothing listens on.
func closedPortURL(t *testing.T, scheme, userinfo string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return scheme + "://" + userinfo + "127.0.0.1:" + strconv.Itoa(port) + "/"
}

func bothTopics(prefix string) []string {
	return []string{watermillpub.Topic(prefix, core.EventUserRegistered), watermillpub.Topic(prefix, core.EventUserActivated)}
}

func connectNATS(t *testing.T, natsURL string) (*nats.Conn, nats.JetStreamContext) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatalf("nats: jetstream: %v", err)
	}
	return nc, js
}

// waitForStreams waits until a stream stores each topic and returns their
// names; NATSModule must provision them at start, before any publish, so
// that consumers can subscribe first.
func waitForStreams(t *testing.T, js nats.JetStreamContext, topics []string) []string {
	t.Helper()
	names := make([]string, len(topics))
	deadline := time.Now().Add(15 * time.Second)
	for i, topic := range topics {
		for {
			name, err := js.StreamNameBySubject(topic)
			if err == nil {
				names[i] = name
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no JetStream stream stores %s after start: %v", topic, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return names
}

func natsReceiver(t *testing.T, natsURL string) porttest.ReceiveFunc {
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{
		URL:            natsURL,
		CloseTimeout:   5 * time.Second,
		AckWaitTimeout: 5 * time.Second,
		Unmarshaler:    &wmnats.NATSMarshaler{},
		JetStream: wmnats.JetStreamConfig{
			SubscribeOptions: []nats.SubOpt{nats.DeliverAll(), nats.AckExplicit()},
		},
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("nats subscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return watermillReceiver(sub)
}

// backends are the event backends and what each guarantees; every one runs
// the same suite (porttest.EventPublisherSuite), as Watermill's pubsub/tests
// does, with the cases its features promise.
var backends = []struct {
	name    string
	backend porttest.PublisherBackend
}{
	{"gochannel", porttest.PublisherBackend{Start: startGoChannel}},
	{"NATS", porttest.PublisherBackend{Start: startNATS, Features: porttest.PublisherFeatures{
		// JetStream keeps the messages in a stream, drops a republished
		// event by its Nats-Msg-Id, and delivers a stream in order.
		Persistent: true, DeduplicatesByEventID: true, GuaranteedOrder: true,
	}}},
	{"RabbitMQ", porttest.PublisherBackend{Start: startAMQP, Features: porttest.PublisherFeatures{
		// A fanout exchange keeps nothing for queues bound later.
		GuaranteedOrder: true,
	}}},
	{"Redis", porttest.PublisherBackend{Start: startRedis, Features: porttest.PublisherFeatures{
		// A stream keeps its entries; XADD ids are not event ids.
		Persistent: true, GuaranteedOrder: true,
	}}},
}

func TestEventPublisherOnEveryBackend(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { porttest.EventPublisherSuite(t, b.backend) })
	}
}

// startGoChannel composes the in-process backend; its subscriber is the
// application's own.
func startGoChannel(t *testing.T, prefix string) (ports.EventPublisher, porttest.ReceiveFunc) {
	var pub ports.EventPublisher
	var sub message.Subscriber
	startApp(t, testConfig("", prefix), watermillpub.Module, fx.Populate(&pub, &sub))
	return pub, watermillReceiver(sub)
}

// startNATS composes the NATS backend and checks that it provisioned a
// stream for each topic at start, named for it, so consumers can subscribe
// before the first publish.
func startNATS(t *testing.T, prefix string) (ports.EventPublisher, porttest.ReceiveFunc) {
	natsURL := natsBroker.require(t)
	_, js := connectNATS(t, natsURL)
	t.Cleanup(func() {
		for _, topic := range bothTopics(prefix) {
			_ = js.DeleteStream(brokers.NATSStreamName(topic))
		}
	})
	var pub ports.EventPublisher
	startApp(t, testConfig(natsURL, prefix), brokers.NATSModule, fx.Populate(&pub))
	streams := waitForStreams(t, js, bothTopics(prefix))
	for i, topic := range bothTopics(prefix) {
		if streams[i] != brokers.NATSStreamName(topic) {
			t.Errorf("stream for %s is %q, want %q", topic, streams[i], brokers.NATSStreamName(topic))
		}
	}
	return pub, natsReceiver(t, natsURL)
}

func startAMQP(t *testing.T, prefix string) (ports.EventPublisher, porttest.ReceiveFunc) {
	amqpURL := amqpBroker.require(t)
	t.Cleanup(func() { deleteAMQPExchanges(t, amqpURL, bothTopics(prefix)) })
	var pub ports.EventPublisher
	startApp(t, testConfig(amqpURL, prefix), brokers.AMQPModule, fx.Populate(&pub))

	cfg := brokers.AMQPConfig(amqpURL)
	// The test's queues go away with it; the exchanges match the publisher's.
	cfg.Queue.GenerateName = wmamqp.GenerateQueueNameTopicNameWithSuffix("contract")
	cfg.Queue.Durable = false
	cfg.Queue.AutoDelete = true
	sub, err := wmamqp.NewSubscriber(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("amqp subscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return pub, watermillReceiver(sub)
}

func deleteAMQPExchanges(t *testing.T, amqpURL string, names []string) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Logf("amqp cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("amqp cleanup: %v", err)
		return
	}
	defer ch.Close()
	for _, n := range names {
		if err := ch.ExchangeDelete(n, false, false); err != nil {
			t.Logf("amqp cleanup: delete exchange %s: %v", n, err)
		}
	}
}

func startRedis(t *testing.T, prefix string) (ports.EventPublisher, porttest.ReceiveFunc) {
	redisURL := redisBroker.require(t)
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() {
		_ = client.Del(context.Background(), bothTopics(prefix)...).Err()
		_ = client.Close()
	})
	var pub ports.EventPublisher
	startApp(t, testConfig(redisURL, prefix), brokers.RedisModule, fx.Populate(&pub))

	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{
		Client:                        client,
		FanOutOldestId:                "0",
		DisableIndefiniteInitialBlock: true,
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("redis subscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return pub, watermillReceiver(sub)
}

// A broker that is down must not stop the server from starting: signals
// wait in the outbox, and each publish reports core.ErrUnavailable so the
// relay retries.
func TestBrokerDownAtStartDoesNotStopStartUp(t *testing.T) {
	cases := []struct {
		backend string
		module  fx.Option
		url     string
	}{
		{"nats", brokers.NATSModule, closedPortURL(t, "nats", "")},
		{"amqp", brokers.AMQPModule, closedPortURL(t, "amqp", "guest:guest@")},
		{"redis", brokers.RedisModule, closedPortURL(t, "redis", "")},
	}
	for _, c := range cases {
		t.Run(c.backend, func(t *testing.T) {
			var pub ports.EventPublisher
			startApp(t, testConfig(c.url, "app."), c.module, fx.Populate(&pub))
			for attempt := 1; attempt <= 2; attempt++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := pub.Publish(ctx, sampleEvent(core.EventUserRegistered))
				cancel()
				if !errors.Is(err, core.ErrUnavailable) {
					t.Fatalf("attempt %d: Publish with the broker down = %v, want core.ErrUnavailable", attempt, err)
				}
			}
		})
	}
}

func TestBrokerModulesRefuseBadSettingsWithoutShowingSecrets(t *testing.T) {
	cases := []struct {
		backend string
		module  fx.Option
		url     string
		want    string
	}{
		{"nats", brokers.NATSModule, "", "EVENTS_URL is required"},
		{"amqp", brokers.AMQPModule, "", "EVENTS_URL is required"},
		{"amqp", brokers.AMQPModule, "http://guest:s3cr3t-pw@127.0.0.1:5672/", "not a valid amqp"},
		{"redis", brokers.RedisModule, "", "EVENTS_URL is required"},
		{"redis", brokers.RedisModule, "redis://:s3cr3t-pw@127.0.0.1:port/0", "not a valid redis"},
	}
	for _, c := range cases {
		var pub ports.EventPublisher
		app := fx.New(fx.NopLogger, fx.Supply(testConfig(c.url, "app.")), fx.Supply(testLogger()), c.module, fx.Populate(&pub))
		err := app.Err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with EVENTS_URL %q: error %v, want one saying %q", c.backend, c.url, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("%s: error shows the password from EVENTS_URL: %v", c.backend, err)
		}
	}
}

func TestNATSStreamNameIsValidForJetStream(t *testing.T) {
	if got := brokers.NATSStreamName("restreg.user_registered"); got != "restreg_user_registered" {
		t.Errorf("NATSStreamName = %q", got)
	}
	if got := brokers.NATSStreamName("a.b*c>d e/f\\g"); strings.ContainsAny(got, ".*> /\\") {
		t.Errorf("NATSStreamName kept a forbidden character: %q", got)
	}
}

// watermillReceiver turns a Watermill subscriber into the contract's receiver.
func watermillReceiver(sub message.Subscriber) porttest.ReceiveFunc {
	return func(ctx context.Context, topic string) (<-chan porttest.ReceivedMessage, error) {
		msgs, err := sub.Subscribe(ctx, topic)
		if err != nil {
			return nil, err
		}
		out := make(chan porttest.ReceivedMessage)
		go func() {
			defer close(out)
			for m := range msgs {
				md := make(map[string]string, len(m.Metadata))
				for k, v := range m.Metadata {
					md[k] = v
				}
				m.Ack()
				select {
				case out <- porttest.ReceivedMessage{UUID: m.UUID, Metadata: md, Payload: m.Payload}:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out, nil
	}
}
