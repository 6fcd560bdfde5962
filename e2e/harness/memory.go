package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/onsi/ginkgo/v2"
)

// PeakRSS returns the most resident memory the server's process has used so
// far (VmHWM in /proc/<pid>/status, Linux only), in bytes.
func (s *Server) PeakRSS() (int64, error) {
	if s.external || s.cmd == nil || s.cmd.Process == nil {
		ginkgo.Fail("PeakRSS needs a server the suite started")
	}
	status := fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid)
	b, err := os.ReadFile(status)
	if err != nil {
		return 0, fmt.Errorf("read peak memory: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmHWM" {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("read peak memory: %s has VmHWM %q", status, value)
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read peak memory: VmHWM %q: %w", value, err)
		}
		return kib * 1024, nil
	}
	return 0, fmt.Errorf("read peak memory: no VmHWM in %s", status)
}
