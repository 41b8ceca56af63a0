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

// listeningServers maps the inodes of the sockets listening on a configured server's port (from
// /proc/net/tcp and tcp6) to that server's name.
func listeningServers(procRoot string, servers []Server) map[uint64]string {
	byPort := map[int]string{}
	for _, s := range servers {
		if s.Port > 0 {
			byPort[s.Port] = s.Name
		}
	}
	out := map[uint64]string{}
	if len(byPort) == 0 {
		return out
	}
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		file, err := os.Open(filepath.Join(procRoot, f)) //nolint:gosec // G304: /proc/net/tcp{,6}, fixed names
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
			name, ok := byPort[int(port)]
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
// the listening sockets.
func serverOf(procRoot, pid string, sockets map[uint64]string) string {
	if len(sockets) == 0 {
		return ""
	}
	dir := filepath.Join(procRoot, pid, "fd")
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
		if name, ok := sockets[inode]; ok {
			return name
		}
	}
	return ""
}
