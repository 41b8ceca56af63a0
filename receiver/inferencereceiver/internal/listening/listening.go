// Package listening reads the listening TCP sockets of a network namespace from /proc: net/tcp and
// net/tcp6 of /proc (this process's namespace) or of /proc/PID (that process's). The discovery of
// model-server processes and the GPU join of processes to servers both read them.
package listening // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/listening"

import (
	"bufio"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one listening TCP socket.
type Socket struct {
	IP    net.IP
	Port  int
	Inode uint64
}

// SocketInode reads a file descriptor's link target (/proc/PID/fd/N): "socket:[24601]" is socket
// inode 24601; ok is false for anything else.
func SocketInode(target string) (inode uint64, ok bool) {
	text, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	inode, err := strconv.ParseUint(strings.TrimSuffix(text, "]"), 10, 64)
	return inode, err == nil
}

// stateListen is TCP_LISTEN in the st column.
const stateListen = "0A"

// Read returns the listening sockets of net/tcp and net/tcp6 under dir (/proc, or /proc/PID). The
// kernel walks its whole connection table to write these files (about a millisecond on a busy
// host, however few sockets listen): read them when needed, not on every scan. A file that cannot
// be read is skipped.
func Read(dir string) []Socket {
	var out []Socket
	for _, f := range []string{"tcp", "tcp6"} {
		out = appendFile(out, filepath.Join(dir, "net", f))
	}
	return out
}

func appendFile(out []Socket, path string) []Socket {
	file, err := os.Open(path) //nolint:gosec // G304: /proc/…/net/tcp{,6}, fixed names
	if err != nil {
		return out
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != stateListen {
			continue
		}
		addr, portHex, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			continue
		}
		inode, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			continue
		}
		ip, ok := parseIP(addr)
		if !ok {
			continue
		}
		out = append(out, Socket{IP: ip, Port: int(port), Inode: inode})
	}
	return out
}

// parseIP reads the kernel's hex address: 32-bit words in host (little-endian) byte order.
func parseIP(h string) (net.IP, bool) {
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != net.IPv4len && len(b) != net.IPv6len) {
		return nil, false
	}
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b), true
}
