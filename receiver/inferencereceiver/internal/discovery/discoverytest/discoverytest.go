// Package discoverytest makes /proc trees of made-up processes for the discovery tests.
package discoverytest // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery/discoverytest"

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Proc is a /proc tree of made-up processes (their listening sockets may be real loopback servers).
type Proc struct {
	t *testing.T
	// Root is the tree, for a ProcRoot.
	Root  string
	inode uint64
	tcp   []string
}

const tcpHeader = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// NewProc makes an empty tree in a temporary folder.
func NewProc(t *testing.T) *Proc {
	t.Helper()
	f := &Proc{t: t, Root: t.TempDir(), inode: 1000}
	require.NoError(t, os.MkdirAll(filepath.Join(f.Root, "self", "ns"), 0o750))
	require.NoError(t, os.Symlink("net:[4026531840]", filepath.Join(f.Root, "self", "ns", "net")))
	require.NoError(t, os.MkdirAll(filepath.Join(f.Root, "net"), 0o750))
	f.writeTCP()
	return f
}

func (f *Proc) writeTCP() {
	require.NoError(f.t, os.WriteFile(filepath.Join(f.Root, "net", "tcp"), []byte(tcpHeader+strings.Join(f.tcp, "")), 0o600))
	require.NoError(f.t, os.WriteFile(filepath.Join(f.Root, "net", "tcp6"), []byte(tcpHeader), 0o600))
}

// Listen adds a listening socket on port (0.0.0.0 when wildcard, else 127.0.0.1) and returns its
// inode.
func (f *Proc) Listen(port int, wildcard bool) uint64 {
	f.inode++
	addr := "0100007F"
	if wildcard {
		addr = "00000000"
	}
	f.tcp = append(f.tcp, fmt.Sprintf("   %d: %s:%04X 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 %d 1 0000000000000000 100 0 0 10 0\n",
		len(f.tcp), addr, port, f.inode))
	f.writeTCP()
	return f.inode
}

// Process is one made-up process.
type Process struct {
	PID, PPID int
	Comm      string
	Argv      []string
	Env       []string
	Sockets   []uint64
	NetNS     string
	NoFD      bool // its fd folder cannot be read
}

// Add writes a process.
func (f *Proc) Add(p Process) {
	dir := filepath.Join(f.Root, strconv.Itoa(p.PID))
	must := func(err error) { require.NoError(f.t, err) }
	must(os.MkdirAll(filepath.Join(dir, "ns"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "comm"), []byte(p.Comm+"\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(p.Argv, "\x00")+"\x00"), 0o600))
	env := ""
	for _, e := range p.Env {
		env += e + "\x00"
	}
	must(os.WriteFile(filepath.Join(dir, "environ"), []byte(env), 0o600))
	stat := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 4 0 %d 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		p.PID, p.Comm, p.PPID, p.PID, p.PID, 1000+p.PID)
	must(os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o600))
	ns := p.NetNS
	if ns == "" {
		ns = "net:[4026531840]"
	}
	must(os.Symlink(ns, filepath.Join(dir, "ns", "net")))
	if p.NoFD {
		must(os.WriteFile(filepath.Join(dir, "fd"), nil, 0o600))
		return
	}
	must(os.MkdirAll(filepath.Join(dir, "fd"), 0o750))
	must(os.Symlink("/dev/null", filepath.Join(dir, "fd", "0")))
	for i, inode := range p.Sockets {
		must(os.Symlink(fmt.Sprintf("socket:[%d]", inode), filepath.Join(dir, "fd", strconv.Itoa(3+i))))
	}
}

// Remove removes a process (it exited).
func (f *Proc) Remove(pid int) {
	require.NoError(f.t, os.RemoveAll(filepath.Join(f.Root, strconv.Itoa(pid))))
}
