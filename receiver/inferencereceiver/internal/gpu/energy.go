package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"sync"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
)

// ServerLedger holds what the GPU join learns of each model server (by the name the join uses): the
// GPU energy attributed to it, cumulative since the collector started, and the Kubernetes pod its
// process runs in. The GPU reader writes, each server's scrape reads.
type ServerLedger struct {
	mu     sync.Mutex
	joules map[string]float64
	pods   map[string]kubepod.Pod
}

// NewServerLedger returns an empty ledger.
func NewServerLedger() *ServerLedger {
	return &ServerLedger{joules: map[string]float64{}, pods: map[string]kubepod.Pod{}}
}

// SetPod records the pod a server's process runs in.
func (l *ServerLedger) SetPod(server string, p kubepod.Pod) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pods[server] = p
}

// Pod is the pod a server's process runs in; false when unknown (off Kubernetes, no GPU process).
func (l *ServerLedger) Pod(server string) (kubepod.Pod, bool) {
	if l == nil {
		return kubepod.Pod{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pods[server]
	return p, ok
}

// Add attributes energy (J) to a server.
func (l *ServerLedger) Add(server string, joules float64) {
	if l == nil || joules <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.joules[server] += joules
}

// Get is the energy attributed to a server so far; false before any was.
func (l *ServerLedger) Get(server string) (float64, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.joules[server]
	return j, ok
}

// gpuUse is what the processes on one GPU used during a scrape: SM utilization by server, and how
// many processes each server has there.
type gpuUse struct {
	util, procs           map[string]float64
	totalUtil, totalProcs float64
}

// attribute splits a GPU's energy over the interval between the servers whose processes use it:
// by their processes' share of the GPU's SM utilization, or (when the GPU was idle: no sample) by
// their share of its processes. Processes of no configured server keep their share unattributed.
func (u gpuUse) attribute(joules float64, ledger *ServerLedger) {
	if joules <= 0 {
		return
	}
	switch {
	case u.totalUtil > 0:
		for server, v := range u.util {
			ledger.Add(server, joules*v/u.totalUtil)
		}
	case u.totalProcs > 0:
		for server, n := range u.procs {
			ledger.Add(server, joules*n/u.totalProcs)
		}
	}
}
