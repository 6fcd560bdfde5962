package loadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssSampler watches a process's resident memory through /proc while the
// load runs.
type rssSampler struct {
	pid     int
	stopped chan struct{}
	done    sync.WaitGroup

	mu      sync.Mutex
	maxRSS  int64
	samples int
	lastErr error
}

// startRSSSampler checks that pid's /proc/PID/status is readable and samples
// its VmRSS every interval until stop.
func startRSSSampler(pid int, interval time.Duration) (*rssSampler, error) {
	if _, err := ReadMemory(pid); err != nil {
		return nil, err
	}
	s := &rssSampler{pid: pid, stopped: make(chan struct{})}
	s.done.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stopped:
				return
			case <-t.C:
			}
		}
	})
	return s, nil
}

func (s *rssSampler) sample() {
	m, err := ReadMemory(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return
	}
	s.samples++
	s.maxRSS = max(s.maxRSS, m.RSS)
}

// stop ends the sampling and reports the peak: VmHWM, read last, covers any
// spike between two samples.
func (s *rssSampler) stop() (*rssReport, error) {
	close(s.stopped)
	s.done.Wait()
	m, err := ReadMemory(s.pid)
	if err != nil {
		return nil, fmt.Errorf("server process %d: %w", s.pid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &rssReport{PID: s.pid, PeakRSSBytes: m.PeakRSS, MaxSampledRSSBytes: max(s.maxRSS, m.RSS), Samples: s.samples}, nil
}

// Memory is a process's resident memory, from /proc/PID/status.
type Memory struct {
	// RSS is VmRSS: resident now, in bytes.
	RSS int64
	// PeakRSS is VmHWM: the highest resident set since the process started,
	// in bytes.
	PeakRSS int64
}

// ReadMemory reads VmRSS and VmHWM of process pid (Linux only).
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	var m Memory
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch name {
		case "VmRSS":
			m.RSS, haveRSS = kib(value)
		case "VmHWM":
			m.PeakRSS, haveHWM = kib(value)
		}
	}
	if !haveRSS || !haveHWM {
		return Memory{}, fmt.Errorf("read memory of process %d: no VmRSS/VmHWM in /proc/%d/status (a kernel thread or a zombie?)", pid, pid)
	}
	return m, nil
}

// kib parses "   12345 kB" into bytes.
func kib(v string) (int64, bool) {
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false
	}
	return n << 10, true
}
