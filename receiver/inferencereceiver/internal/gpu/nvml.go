//go:build linux && cgo

package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// reinitEvery bounds how often a missing or unloaded driver is tried again.
const reinitEvery = time.Minute

type reader struct {
	opts   Options
	logger *zap.Logger
	newLib func() nvml.Interface

	lib      nvml.Interface
	ready    bool
	lastInit time.Time
	offWhy   string // the last reason GPU metrics were off, logged once per distinct reason

	// Symbols of newer APIs, checked once per initialisation: a driver without one loses that metric.
	hasEnergy, hasRemapped bool

	// skipped counts calls skipped (NOT_SUPPORTED, GPU lost), by metric, for one debug line each.
	skipped map[string]int
	lost    map[string]bool // GPUs fallen off the bus, logged once each

	// lastProcTs is the NVML timestamp (µs) of the last process-utilization read, per GPU.
	lastProcTs map[string]uint64
	// gpm are the GPM samples per GPU (profiling metrics); hasGPM: the driver has GPM.
	gpm    map[string]*gpmState
	hasGPM bool
	// lastEnergy is each GPU's energy counter (mJ) at the last scrape, for the servers' share.
	lastEnergy map[string]uint64

	// Xid events: counters read by a goroutine that Shutdown stops.
	xidMu   sync.Mutex
	xid     map[string]map[uint64]int64 // GPU UUID → Xid code → count
	xidStop chan struct{}
	xidDone chan struct{}
	start   time.Time

	// Kubernetes: the GPUs' allocations this scrape, and the pods learned from them.
	devs  kubepod.Devices
	names *kubepod.Names
}

func newReader(opts Options, logger *zap.Logger) Reader {
	return newReaderWithLib(opts, logger, func() nvml.Interface {
		if opts.LibraryPath != "" {
			return nvml.New(nvml.WithLibraryPath(opts.LibraryPath))
		}
		return nvml.New()
	})
}

// newReaderWithLib takes the NVML to use (go-nvml's mocks in tests).
func newReaderWithLib(opts Options, logger *zap.Logger, newLib func() nvml.Interface) *reader {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	return &reader{
		opts: opts, logger: logger, newLib: newLib,
		skipped: map[string]int{}, lost: map[string]bool{}, lastProcTs: map[string]uint64{},
		xid: map[string]map[uint64]int64{}, start: time.Now(), gpm: map[string]*gpmState{}, lastEnergy: map[string]uint64{},
		names: kubepod.NewNames(),
	}
}

func (r *reader) Start(context.Context) error {
	r.init()
	return nil
}

// init loads NVML. Nothing of NVML is called unless Init returned SUCCESS: a missing symbol would
// kill the process, not fail the call.
func (r *reader) init() {
	r.lastInit = time.Now()
	lib := r.newLib()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		r.off(fmt.Sprintf("NVML did not initialize: %s (no NVIDIA driver or libnvidia-ml on this host? set gpu.library_path, or gpu.enabled: false)", nvml.ErrorString(ret)))
		return
	}
	r.lib, r.ready = lib, true
	r.offWhy = ""
	ext := lib.Extensions()
	r.hasEnergy = ext.LookupSymbol("nvmlDeviceGetTotalEnergyConsumption") == nil
	r.hasRemapped = ext.LookupSymbol("nvmlDeviceGetRemappedRows") == nil
	r.hasGPM = ext.LookupSymbol("nvmlGpmMetricsGet") == nil && ext.LookupSymbol("nvmlGpmSampleGet") == nil && ext.LookupSymbol("nvmlGpmQueryDeviceSupport") == nil
	n, _ := lib.DeviceGetCount()
	driver, _ := lib.SystemGetDriverVersion()
	r.logger.Info("Reading NVIDIA GPUs through NVML", zap.Int("gpus", n), zap.String("driver", driver))
	r.startEvents()
}

func (r *reader) off(why string) {
	if why != r.offWhy {
		r.logger.Info("NVIDIA GPU metrics are off; model servers (and AMD GPUs) are still read", zap.String("reason", why))
		r.offWhy = why
	}
}

// reset drops NVML after the driver went away (unloaded, restarted); the next scrapes initialize again.
func (r *reader) reset(why string) {
	r.stopEvents()
	r.gpm = map[string]*gpmState{} // the samples went with the driver
	if r.lib != nil {
		_ = r.lib.Shutdown()
	}
	r.lib, r.ready = nil, false
	r.off(why)
}

func (r *reader) Shutdown(context.Context) error {
	r.stopEvents()
	if r.opts.PodResources != nil {
		_ = r.opts.PodResources.Close()
	}
	if r.ready {
		r.freeGPM()
		_ = r.lib.Shutdown()
		r.ready = false
	}
	return nil
}

// read is whether an NVML call succeeded; where it did not, the metric is skipped (see skip).
func (r *reader) read(metric string, ret nvml.Return) bool {
	if ret == nvml.SUCCESS {
		return true
	}
	r.skip(metric, ret)
	return false
}

// skip records a call that could not be read, for the one debug line per metric.
func (r *reader) skip(metric string, ret nvml.Return) {
	r.skipped[metric]++
	if r.skipped[metric] == 1 {
		r.logger.Debug("GPU metric not available; skipped (counted)", zap.String("metric", metric), zap.String("nvml", nvml.ErrorString(ret)))
	}
}

func (r *reader) Scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error {
	if !r.ready {
		if time.Since(r.lastInit) < reinitEvery {
			return nil
		}
		r.init()
		if !r.ready {
			return nil
		}
	}
	count, ret := r.lib.DeviceGetCount()
	if ret == nvml.ERROR_UNINITIALIZED || ret == nvml.ERROR_DRIVER_NOT_LOADED {
		r.reset("the NVIDIA driver went away: " + nvml.ErrorString(ret))
		return nil
	}
	if ret != nvml.SUCCESS {
		r.skip("device count", ret)
		return nil
	}
	out := newMetricSet(ms, pcommon.NewTimestampFromTime(now), pcommon.NewTimestampFromTime(r.start))
	r.devs = podDevices(ctx, r.opts.PodResources, now, r.logger)
	defer r.names.Sweep(now)
	var ports *sockets // the processes' listening sockets, read once per scrape when needed
	for i := 0; i < count; i++ {
		dev, ret := r.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			r.skip("device handle", ret)
			continue
		}
		uuid, ret := dev.GetUUID()
		if ret != nvml.SUCCESS {
			r.skip("device uuid", ret)
			continue
		}
		if !r.selected(i, uuid) {
			continue
		}
		name, _ := dev.GetName()
		attrs := deviceAttrs{id: uuid, name: name, index: strconv.Itoa(i)}
		attrs.owner, attrs.owned = r.devs.Of(uuid, attrs.index)
		h, ok := r.readDevice(dev, attrs, out)
		r.xidMu.Lock()
		state := h.state(r.xid[uuid])
		r.xidMu.Unlock()
		recordStatus(out, attrs, state)
		if !ok {
			continue
		}
		r.readGPM(dev, attrs, now, out)
		if r.opts.Processes {
			if ports == nil {
				ports = newSockets(r.opts.ProcRoot, r.servers())
			}
			use := r.readProcesses(dev, attrs, now, ports, out)
			if j, ok := r.energyDelta(attrs.id, h.energyMJ, h.hasEnergy); ok {
				use.attribute(j, r.opts.Energy)
			}
		}
		r.readMIG(dev, attrs, out)
	}
	r.emitXid(out)
	return nil
}

func (r *reader) selected(index int, uuid string) bool {
	if len(r.opts.Devices) == 0 {
		return true
	}
	for _, d := range r.opts.Devices {
		if d == "all" || d == uuid || d == strconv.Itoa(index) {
			return true
		}
	}
	return false
}

// readDevice reads one GPU's own metrics and what they say of its health. It returns false when the
// GPU fell off the bus.
func (r *reader) readDevice(dev nvml.Device, a deviceAttrs, out *metricSet) (health, bool) {
	var h health
	util, ret := dev.GetUtilizationRates()
	if r.lostGPU(a.id, ret) {
		h.lost = true
		return h, false
	}
	if r.read("hw.gpu.utilization", ret) {
		out.record(names.HwGPUUtilization, a, float64(util.Gpu)/100, "hw.gpu.task", "general")
		out.record(names.HwGPUMemoryBusy, a, float64(util.Memory)/100)
	}
	if v, _, ret := dev.GetEncoderUtilization(); r.read("hw.gpu.utilization encoder", ret) {
		out.record(names.HwGPUUtilization, a, float64(v)/100, "hw.gpu.task", "encoder")
	}
	if v, _, ret := dev.GetDecoderUtilization(); r.read("hw.gpu.utilization decoder", ret) {
		out.record(names.HwGPUUtilization, a, float64(v)/100, "hw.gpu.task", "decoder")
	}
	r.readMemory(dev, a, out)
	if mw, ret := dev.GetPowerUsage(); r.read("hw.power", ret) {
		out.record(names.HwPower, a, float64(mw)/1000)
	}
	if r.hasEnergy {
		if mj, ret := dev.GetTotalEnergyConsumption(); r.read("hw.energy", ret) {
			h.energyMJ, h.hasEnergy = mj, true
			out.record(names.HwEnergy, a, float64(mj)/1000)
		}
	}
	if c, ret := dev.GetTemperature(nvml.TEMPERATURE_GPU); r.read("hw.temperature", ret) {
		out.record(names.HwTemperature, a, float64(c), "hw.sensor_location", "gpu")
	}
	for _, c := range []struct {
		kind       nvml.ClockType
		name, what string
	}{{nvml.CLOCK_SM, "sm", "hw.gpu.clock.frequency sm"}, {nvml.CLOCK_MEM, "memory", "hw.gpu.clock.frequency memory"}} {
		if mhz, ret := dev.GetClockInfo(c.kind); r.read(c.what, ret) {
			out.record(names.HwGPUClockFrequency, a, float64(mhz)*1e6, "hw.gpu.clock.type", c.name)
		}
	}
	if reasons, ret := dev.GetCurrentClocksEventReasons(); r.read("nvidia.gpu.clock_event.active", ret) {
		for _, b := range clockEventReasons {
			v := 0.0
			if reasons&b.bit != 0 {
				v = 1
			}
			out.record(names.NvidiaGPUClockEventActive, a, v, "nvidia.gpu.clock_event.reason", b.name)
		}
		h.hwSlowdown = reasons&hwSlowdownReasons != 0
	}
	for _, e := range []struct {
		kind       nvml.MemoryErrorType
		name, what string
	}{{nvml.MEMORY_ERROR_TYPE_CORRECTED, "corrected", "hw.errors corrected"}, {nvml.MEMORY_ERROR_TYPE_UNCORRECTED, "uncorrected", "hw.errors uncorrected"}} {
		if n, ret := dev.GetTotalEccErrors(e.kind, nvml.AGGREGATE_ECC); r.read(e.what, ret) {
			out.record(names.HwErrors, a, float64(n), "error.type", e.name)
		}
	}
	if r.hasRemapped {
		if corr, unc, pending, failed, ret := dev.GetRemappedRows(); r.read("hw.errors remapped rows", ret) {
			out.record(names.HwErrors, a, float64(corr), "error.type", "remapped_row_correctable")
			out.record(names.HwErrors, a, float64(unc), "error.type", "remapped_row_uncorrectable")
			h.remapPending, h.remapFailed = pending, failed
		}
	}
	if r.opts.PCIe {
		for _, p := range []struct {
			counter nvml.PcieUtilCounter
			dir     string
		}{{nvml.PCIE_UTIL_TX_BYTES, "transmit"}, {nvml.PCIE_UTIL_RX_BYTES, "receive"}} {
			if kbps, ret := dev.GetPcieThroughput(p.counter); r.read("nvidia.gpu.pcie.throughput", ret) {
				out.record(names.NvidiaGPUPcieThroughput, a, float64(kbps)*1024, "network.io.direction", p.dir)
			}
		}
	}
	return h, true
}

// energyDelta is the energy (J) a GPU used since the last scrape; false on the first reading, and
// when the counter went back (the driver was reloaded).
func (r *reader) energyDelta(uuid string, mj uint64, ok bool) (float64, bool) {
	if !ok {
		return 0, false
	}
	last, seen := r.lastEnergy[uuid]
	r.lastEnergy[uuid] = mj
	if !seen || mj < last {
		return 0, false
	}
	return float64(mj-last) / 1000, true
}

// hwSlowdownReasons are the clock event reasons where the hardware holds the clocks down (slowdown,
// thermal slowdown, power brake): the GPU is degraded.
const hwSlowdownReasons = 0x8 | 0x40 | 0x80

func (r *reader) readMemory(dev nvml.Device, a deviceAttrs, out *metricSet) {
	mem, ret := dev.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		r.skip("hw.gpu.memory.usage", ret)
		return
	}
	out.record(names.HwGPUMemoryUsage, a, float64(mem.Used))
	out.record(names.HwGPUMemoryLimit, a, float64(mem.Total))
	if mem.Total > 0 {
		out.record(names.HwGPUMemoryUtilization, a, float64(mem.Used)/float64(mem.Total))
	}
}

// lostGPU reports (once per GPU) a GPU that fell off the bus; its metrics are skipped.
func (r *reader) lostGPU(uuid string, ret nvml.Return) bool {
	if ret != nvml.ERROR_GPU_IS_LOST {
		if r.lost[uuid] {
			delete(r.lost, uuid)
			r.logger.Info("GPU is back on the bus", zap.String("hw.id", uuid))
		}
		return false
	}
	r.skip("gpu lost", ret)
	if !r.lost[uuid] {
		r.lost[uuid] = true
		r.logger.Warn("GPU has fallen off the bus (NVML GPU_IS_LOST); its metrics are skipped until it answers", zap.String("hw.id", uuid))
	}
	return true
}

var clockEventReasons = []struct {
	bit  uint64
	name string
}{
	{0x1, "gpu_idle"},
	{0x2, "applications_clocks_setting"},
	{0x4, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{0x10, "sync_boost"},
	{0x20, "sw_thermal_slowdown"},
	{0x40, "hw_thermal_slowdown"},
	{0x80, "hw_power_brake_slowdown"},
	{0x100, "display_clock_setting"},
}

// readProcesses reads per-process GPU memory and SM utilization, naming each process and joining it
// to the configured server that listens from it.
func (r *reader) readProcesses(dev nvml.Device, a deviceAttrs, now time.Time, ports *sockets, out *metricSet) gpuUse {
	use := gpuUse{util: map[string]float64{}, procs: map[string]float64{}}
	procs, ret := dev.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		r.skip("processes", ret)
		return use
	}
	util := map[uint32]uint32{}
	samples, ret := dev.GetProcessUtilization(r.lastProcTs[a.id])
	switch ret {
	case nvml.SUCCESS:
		for _, s := range samples {
			util[s.Pid] = s.SmUtil
		}
	case nvml.ERROR_NOT_FOUND:
		// No sample since the last read: the processes were idle.
	default:
		r.skip("process utilization", ret)
	}
	r.lastProcTs[a.id] = uint64(now.UnixMicro())
	pods := r.processPods(procs, a, now)
	// A process's point names its own pod, not the GPU's holder.
	pa := a
	pa.owned = false
	for i, p := range procs {
		pid := strconv.FormatUint(uint64(p.Pid), 10)
		extra := []string{"process.pid", pid}
		if exe := processName(r.opts.ProcRoot, pid); exe != "" {
			extra = append(extra, "process.executable.name", exe)
		}
		extra = append(extra, pods[i].Attributes()...)
		server := ports.serverOf(pid, pods[i].Ref)
		if server != "" && pods[i].PodUID != "" {
			r.opts.Energy.SetPod(server, pods[i])
		}
		if server != "" {
			extra = append(extra, "inference.server.name", server)
			use.util[server] += float64(util[p.Pid])
			use.procs[server]++
		}
		use.totalUtil += float64(util[p.Pid])
		use.totalProcs++
		out.record(names.NvidiaGPUProcessMemoryUsage, pa, float64(p.UsedGpuMemory), extra...)
		if ret != nvml.ERROR_NOT_FOUND && ret != nvml.SUCCESS {
			continue
		}
		out.record(names.NvidiaGPUProcessUtilization, pa, float64(util[p.Pid])/100, extra...)
	}
	return use
}

// readMIG reads the memory of each MIG instance of a GPU in MIG mode (what NVML supports per
// instance; the rest stays per GPU).
func (r *reader) readMIG(dev nvml.Device, a deviceAttrs, out *metricSet) {
	current, _, ret := dev.GetMigMode()
	if ret != nvml.SUCCESS || current != nvml.DEVICE_MIG_ENABLE {
		return
	}
	n, ret := dev.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		r.skip("mig count", ret)
		return
	}
	for j := 0; j < n; j++ {
		mig, ret := dev.GetMigDeviceHandleByIndex(j)
		if ret != nvml.SUCCESS {
			continue // an empty slot
		}
		uuid, ret := mig.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		ma := deviceAttrs{id: uuid, name: a.name, parent: a.id}
		ma.owner, ma.owned = r.devs.Of(uuid)
		r.readMemory(mig, ma, out)
	}
}

// processPods reads the pod of each process on a GPU from its cgroup and names it: a GPU held by one
// container teaches the names of the pod its processes run in (kubepod.Names).
func (r *reader) processPods(procs []nvml.ProcessInfo, a deviceAttrs, now time.Time) []kubepod.Pod {
	pods := make([]kubepod.Pod, len(procs))
	var refs []kubepod.Ref
	for i, p := range procs {
		ref, ok := kubepod.OfProcess(r.opts.ProcRoot, strconv.FormatUint(uint64(p.Pid), 10))
		if ok {
			pods[i].Ref = ref
			refs = append(refs, ref)
		}
	}
	if a.owned && len(refs) > 0 {
		r.names.Learn(a.owner, refs, now)
	}
	for i := range pods {
		if pods[i].PodUID == "" {
			continue
		}
		if o, ok := r.names.Of(pods[i].Ref, now); ok {
			pods[i].Owner, pods[i].Named = o, true
		}
	}
	return pods
}
