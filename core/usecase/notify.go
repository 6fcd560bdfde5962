package usecase

// Notifier is woken after a use case queued work for a background worker,
// so the worker does it now instead of at its next poll. The Relay (events
// recorded) and the Courier (e-mail queued) are Notifiers; Wake must never
// block.
type Notifier interface {
	Wake()
}

// wake wakes n; a nil Notifier (no worker to hurry) does nothing.
func wake(n Notifier) {
	if n != nil {
		n.Wake()
	}
}

// The workers are what use cases wake.
var (
	_ Notifier = (*Relay)(nil)
	_ Notifier = (*Courier)(nil)
)
