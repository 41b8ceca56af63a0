//go:build linux && cgo

package gpu

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/internal/names"
)

// Readings of a real H100 80GB HBM3 under load (driver 590.48.01), from
// testdata/gpu/nvidia_gpu_exporter-h100-80gb-hbm3-590.48.01-load.metrics, in NVML's own units.
const (
	h100UtilGPU    = 100         // %
	h100UtilMemory = 11          // %
	h100MemUsed    = 20780679168 // bytes
	h100MemTotal   = 85520809984 // bytes
	h100PowerMW    = 631950      // mW (631.95 W)
	h100TempC      = 59
	h100SMClockMHz = 1980
	h100MemClkMHz  = 2619
)

// h100 returns an 8-GPU DGX H100 mock whose GPU 0 reads like the real H100 above, GPU 1 has fallen
// off the bus, and the others support only memory.
func h100(t *testing.T) (*server.Server, *atomic.Int32) {
	t.Helper()
	srv := dgxh100.New()
	var xidWaits atomic.Int32
	srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(uint32) (nvml.EventData, nvml.Return) {
				if xidWaits.Add(1) == 1 {
					return nvml.EventData{Device: srv.Devices[0], EventType: uint64(nvml.EventTypeXidCriticalError), EventData: 79}, nvml.SUCCESS
				}
				time.Sleep(5 * time.Millisecond)
				return nvml.EventData{}, nvml.ERROR_TIMEOUT
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	for i, d := range srv.Devices {
		dev := d.(*server.Device)
		dev.MemoryInfo = nvml.Memory{Total: h100MemTotal, Used: uint64(i) * (1 << 30), Free: h100MemTotal - uint64(i)*(1<<30)}
		notSupported := func() nvml.Return { return nvml.ERROR_NOT_SUPPORTED }
		dev.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, notSupported() }
		dev.GetEncoderUtilizationFunc = func() (uint32, uint32, nvml.Return) { return 0, 0, notSupported() }
		dev.GetDecoderUtilizationFunc = func() (uint32, uint32, nvml.Return) { return 0, 0, notSupported() }
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, notSupported() }
		dev.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return 0, notSupported() }
		dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, notSupported() }
		dev.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, notSupported() }
		dev.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return 0, notSupported() }
		dev.GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) { return 0, notSupported() }
		dev.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, notSupported() }
		dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS }
		dev.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) { return nil, nvml.ERROR_NOT_FOUND }
		dev.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) { return nvml.GpmSupport{IsSupportedDevice: 0}, nvml.SUCCESS }
	}
	g0 := srv.Devices[0].(*server.Device)
	g0.MemoryInfo = nvml.Memory{Total: h100MemTotal, Used: h100MemUsed, Free: h100MemTotal - h100MemUsed}
	g0.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: h100UtilGPU, Memory: h100UtilMemory}, nvml.SUCCESS
	}
	g0.GetEncoderUtilizationFunc = func() (uint32, uint32, nvml.Return) { return 0, 167000, nvml.SUCCESS }
	g0.GetDecoderUtilizationFunc = func() (uint32, uint32, nvml.Return) { return 0, 167000, nvml.SUCCESS }
	g0.GetPowerUsageFunc = func() (uint32, nvml.Return) { return h100PowerMW, nvml.SUCCESS }
	g0.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return 123456789, nvml.SUCCESS }
	g0.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return h100TempC, nvml.SUCCESS }
	g0.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		if c == nvml.CLOCK_SM {
			return h100SMClockMHz, nvml.SUCCESS
		}
		return h100MemClkMHz, nvml.SUCCESS
	}
	g0.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return 0x4, nvml.SUCCESS } // sw_power_cap
	g0.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, _ nvml.EccCounterType) (uint64, nvml.Return) {
		if t == nvml.MEMORY_ERROR_TYPE_CORRECTED {
			return 3, nvml.SUCCESS
		}
		return 0, nvml.SUCCESS
	}
	g0.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 1, 0, false, false, nvml.SUCCESS }
	g0.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 16 << 30}, {Pid: 5151, UsedGpuMemory: 1 << 30}}, nvml.SUCCESS
	}
	g0.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		return []nvml.ProcessUtilizationSample{{Pid: 4242, SmUtil: 87}}, nvml.SUCCESS
	}
	g1 := srv.Devices[1].(*server.Device)
	g1.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST }

	// GPM on GPU 0 only: each sample taken is numbered; the metrics between two samples are the
	// percentages below (GPM's unit) whatever the pair.
	g0.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) { return nvml.GpmSupport{IsSupportedDevice: 1}, nvml.SUCCESS }
	var taken atomic.Int32
	g0.GpmSampleGetFunc = func(nvml.GpmSample) nvml.Return { taken.Add(1); return nvml.SUCCESS }
	srv.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		return &mock.GpmSample{FreeFunc: func() nvml.Return { return nvml.SUCCESS }}, nvml.SUCCESS
	}
	srv.GpmMetricsGetFunc = func(mg *nvml.GpmMetricsGetType) nvml.Return {
		for i := 0; i < int(mg.NumMetrics); i++ {
			v, ok := h100GPM[nvml.GpmMetricId(mg.Metrics[i].MetricId)]
			if !ok {
				mg.Metrics[i].NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
				continue
			}
			mg.Metrics[i].Value = v
		}
		return nvml.SUCCESS
	}
	return srv, &xidWaits
}

// h100GPM are GPM readings of a busy H100 (percent).
var h100GPM = map[nvml.GpmMetricId]float64{
	nvml.GPM_METRIC_SM_UTIL: 87.5, nvml.GPM_METRIC_SM_OCCUPANCY: 31.25, nvml.GPM_METRIC_GRAPHICS_UTIL: 98,
	nvml.GPM_METRIC_DRAM_BW_UTIL: 12.5, nvml.GPM_METRIC_ANY_TENSOR_UTIL: 40, nvml.GPM_METRIC_FP32_UTIL: 5,
	nvml.GPM_METRIC_FP16_UTIL:       20,                                       // FP64 not supported here: skipped and counted
	nvml.GPM_METRIC_PCIE_TX_PER_SEC: 100, nvml.GPM_METRIC_PCIE_RX_PER_SEC: 50, // MiB/s; no NVLink
}

// fakeProc is a /proc with process 4242 (python3) listening on port 8000 and 5151 (other) on nothing.
func fakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) { require.NoError(t, err) }
	tcp := []byte("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n" +
		"   1: 0100007F:1F41 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0\n")
	// Both in one network namespace, each showing it in /proc/PID/net.
	for pid, comm := range map[string]string{"4242": "python3", "5151": "other"} {
		must(os.MkdirAll(filepath.Join(root, pid, "fd"), 0o755))
		must(os.MkdirAll(filepath.Join(root, pid, "net"), 0o755))
		must(os.MkdirAll(filepath.Join(root, pid, "ns"), 0o755))
		must(os.WriteFile(filepath.Join(root, pid, "comm"), []byte(comm+"\n"), 0o644))
		must(os.WriteFile(filepath.Join(root, pid, "net", "tcp"), tcp, 0o644))
		must(os.Symlink("net:[4026531992]", filepath.Join(root, pid, "ns", "net")))
	}
	must(os.Symlink("socket:[777]", filepath.Join(root, "4242", "fd", "3")))
	must(os.Symlink("/dev/null", filepath.Join(root, "4242", "fd", "0")))
	must(os.Symlink("socket:[778]", filepath.Join(root, "5151", "fd", "4")))
	return root
}

func TestH100Readings(t *testing.T) {
	srv, xidWaits := h100(t)
	core, logs := observer.New(zap.DebugLevel)
	r := newReaderWithLib(Options{Processes: true, ProcRoot: fakeProc(t), Servers: servers(Server{Name: "vllm-a", Port: 8000})},
		zap.New(core), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	require.Eventually(t, func() bool { return xidWaits.Load() > 1 }, 5*time.Second, 5*time.Millisecond)
	ms := pmetric.NewMetricSlice()
	require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
	require.NoError(t, r.Shutdown(context.Background()))

	g0, _ := srv.Devices[0].GetUUID()
	g1, _ := srv.Devices[1].GetUUID()
	id := map[string]any{"hw.id": g0}
	with := func(kv ...string) map[string]any {
		m := map[string]any{"hw.id": g0}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	util := find(t, points(ms, "hw.gpu.utilization"), with("hw.gpu.task", "general"))
	assert.InDelta(t, 1.0, util.v, 0, "100 % → 1")
	assert.Equal(t, "nvidia", util.attrs["hw.vendor"])
	assert.Equal(t, "NVIDIA H100 80GB HBM3", util.attrs["hw.name"])
	assert.InDelta(t, 0.11, find(t, points(ms, "hw.gpu.memory.busy"), id).v, 1e-12)
	assert.InDelta(t, h100MemUsed, find(t, points(ms, "hw.gpu.memory.usage"), id).v, 0)
	assert.InDelta(t, h100MemTotal, find(t, points(ms, "hw.gpu.memory.limit"), id).v, 0)
	assert.InDelta(t, float64(h100MemUsed)/h100MemTotal, find(t, points(ms, "hw.gpu.memory.utilization"), id).v, 1e-12)
	assert.InDelta(t, 631.95, find(t, points(ms, "hw.power"), id).v, 1e-9, "mW → W")
	assert.InDelta(t, 123456.789, find(t, points(ms, "hw.energy"), id).v, 1e-6, "mJ → J")
	assert.InDelta(t, 59.0, find(t, points(ms, "hw.temperature"), id).v, 0)
	assert.InDelta(t, 1.98e9, find(t, points(ms, "hw.gpu.clock.frequency"), with("hw.gpu.clock.type", "sm")).v, 0, "MHz → Hz")
	assert.InDelta(t, 1.0, find(t, points(ms, "nvidia.gpu.clock_event.active"), with("nvidia.gpu.clock_event.reason", "sw_power_cap")).v, 0)
	assert.InDelta(t, 0.0, find(t, points(ms, "nvidia.gpu.clock_event.active"), with("nvidia.gpu.clock_event.reason", "gpu_idle")).v, 0)
	ecc := find(t, points(ms, "hw.errors"), with("error.type", "corrected"))
	assert.InDelta(t, 3.0, ecc.v, 0, "ECC errors by semconv's corrected / uncorrected")
	assert.Equal(t, "gpu", ecc.attrs["hw.type"], "semconv requires hw.type on hw.errors")
	assert.Equal(t, "gpu", find(t, points(ms, "hw.power"), id).attrs["hw.type"])
	assert.InDelta(t, 1.0, find(t, points(ms, "hw.errors"), with("error.type", "remapped_row_correctable")).v, 0)
	xid := find(t, points(ms, "hw.errors"), with("error.type", "xid"))
	assert.Equal(t, "79", xid.attrs["nvidia.gpu.xid"])
	assert.InDelta(t, 1.0, xid.v, 0, "Xid errors are counted")

	// Processes: memory and SM utilization, named from /proc, joined to the server on port 8000.
	vllm := find(t, points(ms, "nvidia.gpu.process.memory.usage"), with("process.pid", "4242"))
	assert.Equal(t, "python3", vllm.attrs["process.executable.name"])
	assert.Equal(t, "vllm-a", vllm.attrs["inference.server.name"])
	assert.InDelta(t, 16<<30, vllm.v, 0)
	other := find(t, points(ms, "nvidia.gpu.process.memory.usage"), with("process.pid", "5151"))
	assert.NotContains(t, other.attrs, "inference.server.name")
	assert.InDelta(t, 0.87, find(t, points(ms, "nvidia.gpu.process.utilization"), with("process.pid", "4242")).v, 1e-12)
	assert.InDelta(t, 0.0, find(t, points(ms, "nvidia.gpu.process.utilization"), with("process.pid", "5151")).v, 0, "no sample: idle")

	// The lost GPU is skipped (no metric but its health carries it), logged once; the other six
	// still report memory.
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() == "hw.status" {
			continue
		}
		for _, p := range points(ms, ms.At(i).Name()) {
			assert.NotEqual(t, g1, p.attrs["hw.id"], "GPU 1 is lost: %s", ms.At(i).Name())
		}
	}
	assert.Len(t, points(ms, "hw.gpu.memory.usage"), 7)

	// hw.status: GPU 0 had Xid 79 (fell off the bus) and GPU 1 is lost: failed; the others ok. One
	// point per state, 1 for the GPU's.
	state := func(uuid string) string {
		on := ""
		for _, p := range points(ms, "hw.status") {
			if p.attrs["hw.id"] == uuid && p.v == 1 {
				require.Empty(t, on, "one state at a time")
				on = p.attrs["hw.state"].(string)
			}
		}
		return on
	}
	g2, _ := srv.Devices[2].GetUUID()
	assert.Equal(t, "failed", state(g0))
	assert.Equal(t, "failed", state(g1), "a lost GPU still reports its health")
	assert.Equal(t, "ok", state(g2))
	assert.Len(t, points(ms, "hw.status"), 8*5)
	assert.Equal(t, 1, logs.FilterMessageSnippet("fallen off the bus").Len())
	assert.Positive(t, r.skipped["hw.power"], "NOT_SUPPORTED is skipped and counted")

	// Every metric as metadata.yaml declares it (name, unit, description, type, monotonicity): memory
	// in use and in total are up-down sums, as semconv has them.
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		d, ok := names.ByName(m.Name())
		require.True(t, ok, "%s is declared in metadata.yaml", m.Name())
		assert.Equal(t, d.Unit, m.Unit(), m.Name())
		assert.Equal(t, d.Description, m.Description(), m.Name())
		switch d.Type {
		case names.Sum:
			require.Equal(t, pmetric.MetricTypeSum, m.Type(), m.Name())
			assert.Equal(t, d.Monotonic, m.Sum().IsMonotonic(), m.Name())
		case names.Gauge:
			assert.Equal(t, pmetric.MetricTypeGauge, m.Type(), m.Name())
		}
	}
	usage, _ := names.ByName("hw.gpu.memory.usage")
	assert.False(t, usage.Monotonic)
}

// TestGPMProfiling: NVML GPM gives the profiling metrics from the second scrape on (two samples, one
// taken per scrape), percentages as 0..1; GPUs without GPM are said once and skipped.
func TestGPMProfiling(t *testing.T) {
	srv, _ := h100(t)
	core, logs := observer.New(zap.InfoLevel)
	r := newReaderWithLib(Options{}, zap.New(core), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	scrape := func() pmetric.MetricSlice {
		ms := pmetric.NewMetricSlice()
		require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
		return ms
	}
	assert.Empty(t, points(scrape(), "nvidia.gpu.sm.active"), "one sample: nothing to compare yet")
	ms := scrape()
	g0, _ := srv.Devices[0].GetUUID()
	id := map[string]any{"hw.id": g0}
	assert.InDelta(t, 0.875, find(t, points(ms, "nvidia.gpu.sm.active"), id).v, 1e-12)
	assert.InDelta(t, 0.3125, find(t, points(ms, "nvidia.gpu.sm.occupancy"), id).v, 1e-12)
	assert.InDelta(t, 0.98, find(t, points(ms, "nvidia.gpu.graphics_engine.active"), id).v, 1e-12)
	assert.InDelta(t, 0.125, find(t, points(ms, "nvidia.gpu.dram.active"), id).v, 1e-12)
	pipes := map[string]float64{}
	for _, p := range points(ms, "nvidia.gpu.pipe.active") {
		pipes[p.attrs["nvidia.gpu.pipe"].(string)] = p.v
	}
	assert.Equal(t, map[string]float64{"tensor": 0.4, "fp32": 0.05, "fp16": 0.2}, pipes, "fp64 unsupported: skipped")
	assert.Len(t, points(ms, "nvidia.gpu.sm.active"), 1, "only GPU 0 has GPM")
	assert.Equal(t, 6, logs.FilterMessageSnippet("NVML GPM").Len(), "each of the 6 other readable GPUs said once")
	scrape()
	assert.Equal(t, 6, logs.FilterMessageSnippet("NVML GPM").Len(), "not again")
	for i := 0; i < ms.Len(); i++ {
		d, ok := names.ByName(ms.At(i).Name())
		require.True(t, ok)
		assert.Equal(t, d.Description, ms.At(i).Description())
	}
}

func TestNoLibraryCallsNothingElse(t *testing.T) {
	// A mock with only Init set: any other NVML call would panic, as a missing symbol would kill the
	// process.
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	core, logs := observer.New(zap.InfoLevel)
	r := newReaderWithLib(Options{}, zap.New(core), func() nvml.Interface { return lib })
	require.NoError(t, r.Start(context.Background()))
	ms := pmetric.NewMetricSlice()
	for range 3 {
		require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
	}
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, 0, ms.Len())
	require.Equal(t, 1, logs.Len(), "one line says why GPU metrics are off")
	assert.Contains(t, logs.All()[0].ContextMap()["reason"], "NVML did not initialize")
	assert.Len(t, lib.InitCalls(), 1, "not retried before a minute")
}

func TestDriverGoneReinitialises(t *testing.T) {
	srv, _ := h100(t)
	var gone atomic.Bool
	count := srv.DeviceGetCountFunc
	srv.DeviceGetCountFunc = func() (int, nvml.Return) {
		if gone.Load() {
			return 0, nvml.ERROR_DRIVER_NOT_LOADED
		}
		return count()
	}
	r := newReaderWithLib(Options{}, zap.NewNop(), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	gone.Store(true)
	ms := pmetric.NewMetricSlice()
	require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
	assert.False(t, r.ready, "the driver went away: NVML is dropped")
	gone.Store(false)
	r.lastInit = time.Now().Add(-2 * reinitEvery)
	require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
	assert.True(t, r.ready)
	assert.Positive(t, ms.Len())
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestDeviceSelectionAndMIG(t *testing.T) {
	srv, _ := h100(t)
	g0 := srv.Devices[0].(*server.Device)
	mig := &mock.Device{
		GetUUIDFunc:          func() (string, nvml.Return) { return "MIG-0000-aaaa", nvml.SUCCESS },
		GetMemoryInfoFunc:    func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 10 << 30, Used: 2 << 30}, nvml.SUCCESS },
		GetGpuInstanceIdFunc: func() (int, nvml.Return) { return 3, nvml.SUCCESS },
	}
	var migInstance atomic.Int32
	g0.GpmMigSampleGetFunc = func(gi int, _ nvml.GpmSample) nvml.Return { migInstance.Store(int32(gi)); return nvml.SUCCESS }
	g0.GetMigModeFunc = func() (int, int, nvml.Return) { return nvml.DEVICE_MIG_ENABLE, nvml.DEVICE_MIG_ENABLE, nvml.SUCCESS }
	g0.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 2, nvml.SUCCESS }
	g0.GetMigDeviceHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i == 0 {
			return mig, nvml.SUCCESS
		}
		return nil, nvml.ERROR_NOT_FOUND
	}
	u2, _ := srv.Devices[2].GetUUID()
	r := newReaderWithLib(Options{Devices: []string{"0", u2}}, zap.NewNop(), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	t0 := time.Now()
	require.NoError(t, r.Scrape(context.Background(), t0, pmetric.NewMetricSlice()))
	ms := pmetric.NewMetricSlice()
	require.NoError(t, r.Scrape(context.Background(), t0.Add(10*time.Second), ms))
	require.NoError(t, r.Shutdown(context.Background()))

	// GPM per MIG instance, sampled through its parent by GPU instance id, with hw.parent.
	assert.Equal(t, int32(3), migInstance.Load())
	g0uuid, _ := g0.GetUUID()
	migSM := find(t, points(ms, "nvidia.gpu.sm.active"), map[string]any{"hw.id": "MIG-0000-aaaa"})
	assert.Equal(t, g0uuid, migSM.attrs["hw.parent"])
	assert.InDelta(t, 0.875, migSM.v, 1e-12)
	// PCIe bytes as semconv's hw.gpu.io: 100 MiB/s for 10 s, a counter; no NVLink on this GPU.
	tx := find(t, points(ms, "hw.gpu.io"), map[string]any{"hw.id": g0uuid, "network.io.direction": "transmit", "nvidia.gpu.link": "pcie"})
	assert.InDelta(t, 100*(1<<20)*10.0, tx.v, 1e-3)
	assert.Len(t, points(ms, "hw.gpu.io"), 4, "pcie transmit and receive, for the GPU and its MIG instance")
	mem := points(ms, "hw.gpu.memory.usage")
	assert.Len(t, mem, 3, "GPU 0, its MIG instance, GPU 2")
	g0id, _ := g0.GetUUID()
	p := find(t, mem, map[string]any{"hw.id": "MIG-0000-aaaa"})
	assert.Equal(t, g0id, p.attrs["hw.parent"])
	assert.InDelta(t, 2<<30, p.v, 0)
}

// BenchmarkScrape8GPUs: our own overhead per scrape of a DGX H100 (mocked NVML), processes on, PCIe
// off. The figure per GPU is ns/op ÷ 8.
func BenchmarkScrape8GPUs(b *testing.B) {
	srv, _ := h100(&testing.T{})
	r := newReaderWithLib(Options{Processes: true, ProcRoot: b.TempDir()}, zap.NewNop(), func() nvml.Interface { return srv })
	_ = r.Start(context.Background())
	defer func() { _ = r.Shutdown(context.Background()) }()
	b.ReportAllocs()
	for b.Loop() {
		ms := pmetric.NewMetricSlice()
		_ = r.Scrape(context.Background(), time.Now(), ms)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*8), "ns/gpu")
}

// TestNoGrowthOver10000Scrapes: the reader's own state stays bounded scrape after scrape. (The heap
// as a whole grows here because go-nvml's generated mocks record every call they answer: about 120
// calls a scrape on 8 GPUs. What the reader keeps is checked directly.)
func TestNoGrowthOver10000Scrapes(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 scrapes")
	}
	srv, _ := h100(t)
	r := newReaderWithLib(Options{Processes: true, ProcRoot: fakeProc(t), Servers: servers(Server{Name: "vllm-a", Port: 8000})},
		zap.NewNop(), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for range 100 { // warm up
		_ = r.Scrape(context.Background(), time.Now(), pmetric.NewMetricSlice())
	}
	before := heap()
	for range 10_000 {
		_ = r.Scrape(context.Background(), time.Now(), pmetric.NewMetricSlice())
	}
	after := heap()
	growth := int64(after) - int64(before)
	recorded := len(srv.Devices[0].(*server.Device).GetUtilizationRatesCalls())
	t.Logf("heap before %d B, after 10,000 scrapes %d B (growth %d B, with %d calls recorded by the mock of GPU 0's utilization alone)",
		before, after, growth, recorded)
	assert.GreaterOrEqual(t, recorded, 10_000, "the mock records its calls")
	assert.Len(t, r.lastProcTs, 7, "per-GPU state only (the lost GPU has none)")
	assert.Len(t, r.lost, 1, "the lost GPU, once")
	assert.LessOrEqual(t, len(r.skipped), 32, "one counter per metric name")
	assert.Len(t, r.xid, 1, "Xid counters per GPU and code")
}
