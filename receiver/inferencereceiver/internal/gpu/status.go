package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"github.com/otel-inference/collector/internal/names"
)

// GPU health as semconv's hw.status: one point per hw.state, 1 for the state the GPU is in. The
// rules, most severe first (what NVML reports; Xid classes from NVIDIA's Xid catalog):
//
//   - failed: the GPU fell off the bus (GPU_IS_LOST, or Xid 79), an uncorrectable memory error the
//     driver could not contain (Xid 48 double-bit ECC, Xid 95 uncontained), a row remapping that
//     failed (Xid 64, or NVML's remapping-failure flag), a GSP/firmware fault (Xid 119, 120);
//   - predicted_failure: memory is wearing out: a row was remapped or a page retired (Xid 63), or
//     a high single-bit ECC rate (Xid 92);
//   - degraded: the GPU works at reduced capacity or needs a reset to heal: a contained ECC error
//     killed a process (Xid 94), a row remapping is pending until the next reset, or the hardware
//     holds the clocks down (hw_slowdown, hw_thermal_slowdown, hw_power_brake_slowdown);
//   - ok: none of the above.
//
// Xid-based states hold from the event until the collector restarts (a GPU reset clears them on the
// GPU, not in the event history). needs_cleaning is not used: NVML reports nothing that means it.
var (
	failedXid    = map[uint64]bool{48: true, 64: true, 79: true, 95: true, 119: true, 120: true}
	predictedXid = map[uint64]bool{63: true, 92: true}
	degradedXid  = map[uint64]bool{94: true}
	hwStates     = []string{"ok", "degraded", "failed", "needs_cleaning", "predicted_failure"}
)

// health is what one scrape learned of a GPU's state.
type health struct {
	lost, remapFailed, remapPending, hwSlowdown bool
	// energyMJ is the energy counter read, when hasEnergy (the servers' share is computed from it).
	energyMJ  uint64
	hasEnergy bool
}

func (h health) state(xids map[uint64]int64) string {
	failed, predicted, degraded := h.lost || h.remapFailed, false, h.remapPending || h.hwSlowdown
	for code := range xids {
		failed = failed || failedXid[code]
		predicted = predicted || predictedXid[code]
		degraded = degraded || degradedXid[code]
	}
	switch {
	case failed:
		return "failed"
	case predicted:
		return "predicted_failure"
	case degraded:
		return "degraded"
	}
	return "ok"
}

func recordStatus(out *metricSet, a deviceAttrs, state string) {
	for _, s := range hwStates {
		v := 0.0
		if s == state {
			v = 1
		}
		out.record(names.HwStatus, a, v, "hw.state", s)
	}
}
