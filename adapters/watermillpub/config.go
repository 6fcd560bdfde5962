package watermillpub

// Config is what the events modules need: the broker (for the network
// brokers in package brokers) and the topic names.
type Config struct {
	// URL is the broker of EVENTS_BACKEND nats, amqp or redis; it may hold
	// credentials. GoChannelModule ignores it.
	URL string `setting:"EVENTS_URL" secret:"true"`
	// TopicPrefix starts every topic: <prefix>user_registered.
	TopicPrefix string `setting:"EVENTS_TOPIC_PREFIX"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{TopicPrefix: "restreg."}
}
