package core

import "testing"

func TestNewIDStaysOrderedWhenTheClockStepsBack(t *testing.T) {
	first := NewID()
	// Pretend the last id was made far in the future, as after the wall
	// clock has been set back by NTP.
	idClock.Lock()
	saved := idClock.last
	future := idClock.last + 1<<12*60_000 // one minute ahead
	idClock.last = future
	idClock.Unlock()
	// Other tests check that ids carry the present time.
	t.Cleanup(func() {
		idClock.Lock()
		idClock.last = saved
		idClock.Unlock()
	})
	second, third := NewID(), NewID()
	if !(first < second && second < third) {
		t.Fatalf("ids %s, %s, %s are not increasing", first, second, third)
	}
	idClock.Lock()
	last := idClock.last
	idClock.Unlock()
	if last != future+2 {
		t.Errorf("clock advanced to %d, want %d (one step per id)", last, future+2)
	}
}
