package listening

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"

// Lines as the kernel writes them (LISTEN and ESTABLISHED, IPv4 and IPv6): only the listening
// ones, with their address, port and inode.
func TestReadsListeningSockets(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "net"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "net", "tcp"), []byte(header+
		"   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24601 1 0000000000000000 100 0 0 10 0\n"+
		"   1: 0100007F:7530 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 24602 1 0000000000000000 100 0 0 10 0\n"+
		"   2: 0100007F:1F40 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 24603 1 0000000000000000 20 4 30 10 -1\n"+
		"   3: garbage\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "net", "tcp6"), []byte(header+
		"   0: 00000000000000000000000000000000:2CAA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24604 1 0000000000000000 100 0 0 10 0\n"+
		"   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24605 1 0000000000000000 100 0 0 10 0\n"), 0o600))
	got := Read(dir)
	require.Len(t, got, 4)
	assert.Equal(t, Socket{IP: net.IPv4(0, 0, 0, 0).To4(), Port: 8000, Inode: 24601}, got[0])
	assert.Equal(t, Socket{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 30000, Inode: 24602}, got[1])
	assert.True(t, got[2].IP.Equal(net.IPv6unspecified))
	assert.Equal(t, 11434, got[2].Port)
	assert.True(t, got[3].IP.Equal(net.IPv6loopback), got[3].IP.String())
	assert.Equal(t, 80, got[3].Port)
	assert.Empty(t, Read(filepath.Join(dir, "missing")))
}

// This process's own listening socket is in its namespace's table.
func TestReadsThisProcess(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	found := false
	for _, s := range Read(filepath.Join("/proc", strconv.Itoa(os.Getpid()))) {
		if s.Port == port && s.IP.Equal(net.IPv4(127, 0, 0, 1)) && s.Inode != 0 {
			found = true
		}
	}
	assert.True(t, found, "port %d not read", port)
}

func TestSocketInode(t *testing.T) {
	for target, want := range map[string]uint64{"socket:[24601]": 24601, "pipe:[5]": 0, "/dev/null": 0, "socket:[x]": 0, "anon_inode:[eventfd]": 0} {
		got, ok := SocketInode(target)
		assert.Equal(t, want, got, target)
		assert.Equal(t, want != 0, ok, target)
	}
}
