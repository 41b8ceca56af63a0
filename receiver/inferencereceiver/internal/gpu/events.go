//go:build linux && cgo

package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"strconv"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
)

// eventWaitMs bounds each wait for an NVML event, so that Shutdown is noticed within it.
const eventWaitMs = 500

// startEvents registers every GPU for Xid critical-error events and counts them in a goroutine:
// Xid errors become a counter (hw.errors, error.type=xid, by code), not a "last Xid" gauge.
func (r *reader) startEvents() {
	set, ret := r.lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		r.skip("xid events", ret)
		return
	}
	n, _ := r.lib.DeviceGetCount()
	registered := 0
	for i := 0; i < n; i++ {
		dev, ret := r.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		if ret := dev.RegisterEvents(uint64(nvml.EventTypeXidCriticalError), set); ret == nvml.SUCCESS {
			registered++
		} else {
			r.skip("xid events", ret)
		}
	}
	if registered == 0 {
		_ = set.Free()
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	r.xidStop, r.xidDone = stop, done
	go func() {
		defer close(done)
		defer func() { _ = set.Free() }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, ret := set.Wait(eventWaitMs)
			switch ret {
			case nvml.SUCCESS:
				if data.EventType != uint64(nvml.EventTypeXidCriticalError) {
					continue
				}
				uuid := "unknown"
				if data.Device != nil {
					if u, ret := data.Device.GetUUID(); ret == nvml.SUCCESS {
						uuid = u
					}
				}
				r.xidMu.Lock()
				if r.xid[uuid] == nil {
					r.xid[uuid] = map[uint64]int64{}
				}
				r.xid[uuid][data.EventData]++
				r.xidMu.Unlock()
				r.logger.Warn("GPU reported an Xid error", zap.String("hw.id", uuid), zap.Uint64("xid", data.EventData))
				if r.opts.OnXid != nil {
					r.opts.OnXid(r.xidEvent(uuid, data))
				}
			case nvml.ERROR_TIMEOUT:
			default:
				r.logger.Debug("Stopped reading GPU events", zap.String("nvml", nvml.ErrorString(ret)))
				return
			}
		}
	}()
}

func (r *reader) stopEvents() {
	if r.xidStop != nil {
		close(r.xidStop)
		<-r.xidDone
		r.xidStop, r.xidDone = nil, nil
	}
}

// xidEvent describes an Xid error for the logs pipeline: the GPU, and the processes on it then.
func (r *reader) xidEvent(uuid string, data nvml.EventData) XidEvent {
	ev := XidEvent{
		Time: time.Now(), GPUID: uuid, Code: data.EventData,
		HealthHint: health{}.state(map[uint64]int64{data.EventData: 1}),
	}
	if data.Device == nil {
		return ev
	}
	ev.GPUName, _ = data.Device.GetName()
	if i, ret := data.Device.GetIndex(); ret == nvml.SUCCESS {
		ev.GPUIndex = strconv.Itoa(i)
	}
	procs, ret := data.Device.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS || len(procs) == 0 {
		return ev
	}
	sockets := newSockets(r.opts.ProcRoot, r.servers())
	for _, p := range procs {
		pid := strconv.FormatUint(uint64(p.Pid), 10)
		ref, _ := kubepod.OfProcess(r.opts.ProcRoot, pid)
		ev.Processes = append(ev.Processes, XidProcess{PID: pid, Executable: processName(r.opts.ProcRoot, pid), Server: sockets.serverOf(pid, ref)})
	}
	return ev
}

// emitXid appends the Xid counters (cumulative since the collector started).
func (r *reader) emitXid(out *metricSet) {
	r.xidMu.Lock()
	defer r.xidMu.Unlock()
	for uuid, codes := range r.xid {
		for code, n := range codes {
			out.record(names.HwErrors, deviceAttrs{id: uuid}, float64(n), "error.type", "xid", "nvidia.gpu.xid", strconv.FormatUint(code, 10))
		}
	}
}
