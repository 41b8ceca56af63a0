package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// processName is the executable name of a process (/proc/PID/comm), "" when unknown.
func processName(procRoot, pid string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, pid, "comm")) //nolint:gosec // G304: /proc/<pid>/comm of a PID NVML reported
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sockets joins GPU processes to the configured servers they listen for: a process's listening
// socket on a server's port, read in the process's own network namespace (/proc/PID/net/tcp{,6}:
// a server in a pod or on the host network is seen from an agent in another namespace, with the
// host's PIDs), once per namespace and scrape.
type sockets struct {
	procRoot string
	byPort   map[int]string
	netns    map[string]map[uint64]string // namespace → listening socket inode → server name
}

func newSockets(procRoot string, servers []Server) *sockets {
	byPort := map[int]string{}
	for _, s := range servers {
		if s.Port > 0 {
			byPort[s.Port] = s.Name
		}
	}
	return &sockets{procRoot: procRoot, byPort: byPort, netns: map[string]map[uint64]string{}}
}

// listening maps the inodes of the sockets listening on a configured server's port in pid's network
// namespace to that server's name.
func (x *sockets) listening(pid string) map[uint64]string {
	ns, err := os.Readlink(filepath.Join(x.procRoot, pid, "ns", "net"))
	if err != nil {
		ns = "pid:" + pid // unreadable: this process's own view, not shared
	}
	if m, ok := x.netns[ns]; ok {
		return m
	}
	out := map[uint64]string{}
	x.netns[ns] = out
	for _, f := range []string{"tcp", "tcp6"} {
		file, err := os.Open(filepath.Join(x.procRoot, pid, "net", f)) //nolint:gosec // G304: /proc/<pid>/net/tcp{,6}, fixed names
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(file)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, portHex, ok := strings.Cut(fields[1], ":")
			if !ok {
				continue
			}
			port, err := strconv.ParseInt(portHex, 16, 32)
			if err != nil {
				continue
			}
			name, ok := x.byPort[int(port)]
			if !ok {
				continue
			}
			if inode, err := strconv.ParseUint(fields[9], 10, 64); err == nil && inode != 0 {
				out[inode] = name
			}
		}
		file.Close()
	}
	return out
}

// serverOf is the configured server a process listens for: one of its file descriptors is one of
// the listening sockets of its namespace.
func (x *sockets) serverOf(pid string) string {
	if x == nil || len(x.byPort) == 0 {
		return ""
	}
	listening := x.listening(pid)
	if len(listening) == 0 {
		return ""
	}
	dir := filepath.Join(x.procRoot, pid, "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		inodeText, ok := strings.CutPrefix(target, "socket:[")
		if !ok {
			continue
		}
		inode, err := strconv.ParseUint(strings.TrimSuffix(inodeText, "]"), 10, 64)
		if err != nil {
			continue
		}
		if name, ok := listening[inode]; ok {
			return name
		}
	}
	return ""
}
