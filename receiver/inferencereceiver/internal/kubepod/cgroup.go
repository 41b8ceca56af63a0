// Package kubepod attributes GPUs and GPU processes to the Kubernetes pods that hold them: a GPU to
// the pod and container the kubelet allocated it to (the kubelet's pod-resources API over its unix
// socket), a process to its pod UID and container ID (its /proc/PID/cgroup). Off a cluster there is
// no socket and no kubepods cgroup, and nothing is added.
package kubepod // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Ref is what a process's cgroup says of its pod: the pod UID and the runtime's container ID.
type Ref struct {
	PodUID      string
	ContainerID string
}

// OfProcess reads /proc/PID/cgroup under procRoot. ok is false for a process outside any pod (or gone).
func OfProcess(procRoot, pid string) (Ref, bool) {
	f, err := os.Open(filepath.Join(procRoot, pid, "cgroup")) //nolint:gosec // G304: /proc/<pid>/cgroup of a PID NVML reported
	if err != nil {
		return Ref{}, false
	}
	defer f.Close()
	return ParseCgroup(f)
}

// ParseCgroup finds the pod UID and container ID in a /proc/PID/cgroup file, cgroup v1 (one line per
// hierarchy) or v2 (one "0::" line), with the kubelet's cgroupfs driver
// (/kubepods/burstable/pod<uid>/<id>) or its systemd driver
// (/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope),
// and paths relative to the reader's cgroup namespace (/../../kubepods-…). The first line that names
// a pod wins; the container ID is empty for the pod's own cgroup (a sandbox or pause process).
func ParseCgroup(r io.Reader) (Ref, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if ref, ok := parsePath(parts[2]); ok {
			return ref, true
		}
	}
	return Ref{}, false
}

func parsePath(path string) (Ref, bool) {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		uid, ok := podUID(seg)
		if !ok {
			continue
		}
		ref := Ref{PodUID: uid}
		if i+1 < len(segs) {
			ref.ContainerID = containerID(segs[i+1])
		}
		return ref, true
	}
	return Ref{}, false
}

// podUID reads "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid with _ for ->.slice" (systemd).
func podUID(seg string) (string, bool) {
	var raw string
	switch {
	case strings.HasPrefix(seg, "pod"):
		raw = seg[len("pod"):]
	case strings.HasSuffix(seg, ".slice") && strings.Contains(seg, "kubepods"):
		i := strings.LastIndex(seg, "-pod")
		if i < 0 {
			return "", false
		}
		raw = strings.ReplaceAll(strings.TrimSuffix(seg[i+len("-pod"):], ".slice"), "_", "-")
	default:
		return "", false
	}
	if !isUID(raw) {
		return "", false
	}
	return raw, true
}

// isUID is the 8-4-4-4-12 hexadecimal form of a pod UID.
func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// containerID reads "<id>" (cgroupfs) or "<runtime>-<id>.scope" (systemd: docker, cri-containerd,
// crio). A conmon scope (crio-conmon-<id>) is CRI-O's monitor, not the container: "".
func containerID(seg string) string {
	id := seg
	if strings.HasSuffix(seg, ".scope") {
		id = strings.TrimSuffix(seg, ".scope")
		if strings.Contains(id, "conmon-") {
			return ""
		}
		if i := strings.LastIndexByte(id, '-'); i >= 0 {
			id = id[i+1:]
		}
	}
	if len(id) < 12 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if !isHex(id[i]) {
			return ""
		}
	}
	return id
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
