package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/listening"
)

// processName is the executable name of a process (/proc/PID/comm), "" when unknown.
func processName(procRoot, pid string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, pid, "comm")) //nolint:gosec // G304: /proc/<pid>/comm of a PID NVML reported
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// maxAncestors bounds the parents looked at for a process's server: a GPU worker is a child (or
// grandchild) of the server process that listens (vLLM's engine core, TensorRT-LLM's MPI workers).
const maxAncestors = 4

// sockets joins GPU processes to the servers they work for: a discovered server by its pod's
// container (else pod) or by its processes, a configured one by its listening socket on the
// server's port, read in the process's own network namespace (/proc/PID/net/tcp{,6}: a server in a
// pod or on the host network is seen from an agent in another namespace, with the host's PIDs),
// once per namespace and scrape. A process whose own sockets say nothing is joined through its
// parents.
type sockets struct {
	procRoot    string
	byPort      map[int]string
	byPID       map[string]string
	byPod       map[string]string
	byContainer map[string]string
	netns       map[string]map[uint64]string // namespace → listening socket inode → server name
}

func newSockets(procRoot string, servers []Server) *sockets {
	x := &sockets{
		procRoot: procRoot, byPort: map[int]string{}, byPID: map[string]string{}, byPod: map[string]string{},
		byContainer: map[string]string{}, netns: map[string]map[uint64]string{},
	}
	for _, s := range servers {
		switch {
		case s.ContainerID != "" || s.PodUID != "":
			if s.ContainerID != "" {
				x.byContainer[s.ContainerID] = s.Name
			}
			if s.PodUID != "" {
				x.byPod[s.PodUID] = s.Name
			}
		case len(s.PIDs) > 0:
			for _, pid := range s.PIDs {
				x.byPID[strconv.Itoa(pid)] = s.Name
			}
		case s.Port > 0:
			x.byPort[s.Port] = s.Name
		}
	}
	return x
}

// servers are the servers to join the processes to, now.
func (r *reader) servers() []Server {
	if r.opts.Servers == nil {
		return nil
	}
	return r.opts.Servers()
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
	for _, l := range listening.Read(filepath.Join(x.procRoot, pid)) {
		if name, ok := x.byPort[l.Port]; ok && l.Inode != 0 {
			out[l.Inode] = name
		}
	}
	return out
}

// serverOf is the server a process works for ("" for none): its container's or pod's, else its
// own or its nearest parent's (a server's process, or a process listening on a server's port).
func (x *sockets) serverOf(pid string, ref kubepod.Ref) string {
	if x == nil {
		return ""
	}
	if name, ok := x.byContainer[ref.ContainerID]; ok && ref.ContainerID != "" {
		return name
	}
	if name, ok := x.byPod[ref.PodUID]; ok && ref.PodUID != "" {
		return name
	}
	if len(x.byPID) == 0 && len(x.byPort) == 0 {
		return ""
	}
	for range maxAncestors + 1 {
		if name := x.own(pid); name != "" {
			return name
		}
		if pid = parentOf(x.procRoot, pid); pid == "" {
			return ""
		}
	}
	return ""
}

// own is the server one process is: one of a server's processes, or listening on its port.
func (x *sockets) own(pid string) string {
	if name, ok := x.byPID[pid]; ok {
		return name
	}
	if len(x.byPort) == 0 {
		return ""
	}
	inodes := x.listening(pid)
	if len(inodes) == 0 {
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
		inode, ok := listening.SocketInode(target)
		if !ok {
			continue
		}
		if name, ok := inodes[inode]; ok {
			return name
		}
	}
	return ""
}

// parentOf is a process's parent PID from /proc/PID/stat ("" for none, init, or unknown).
func parentOf(procRoot, pid string) string {
	b, err := os.ReadFile(filepath.Join(procRoot, pid, "stat")) //nolint:gosec // G304: /proc/<pid>/stat
	if err != nil {
		return ""
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses; it ends at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 || fields[1] == "0" || fields[1] == "1" {
		return ""
	}
	return fields[1]
}
