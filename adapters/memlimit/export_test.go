package memlimit

import "time"

// SetClock makes l read the time from now, so tests can move it.
func (l *Limiter) SetClock(now func() time.Duration) { l.now = now }
