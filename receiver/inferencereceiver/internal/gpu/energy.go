package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import "sync"

// EnergyLedger holds the energy attributed to each model server (by the name the GPU join uses),
// cumulative since the collector started: the GPU reader adds, each server's scrape reads.
type EnergyLedger struct {
	mu     sync.Mutex
	joules map[string]float64
}

// NewEnergyLedger returns an empty ledger.
func NewEnergyLedger() *EnergyLedger { return &EnergyLedger{joules: map[string]float64{}} }

// Add attributes energy (J) to a server.
func (l *EnergyLedger) Add(server string, joules float64) {
	if l == nil || joules <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.joules[server] += joules
}

// Get is the energy attributed to a server so far; false before any was.
func (l *EnergyLedger) Get(server string) (float64, bool) {
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
func (u gpuUse) attribute(joules float64, ledger *EnergyLedger) {
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
