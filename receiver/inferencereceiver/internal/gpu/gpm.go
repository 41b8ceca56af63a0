//go:build linux && cgo

package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/names"
)

// gpmState is one GPU's two GPM samples, kept between scrapes: each scrape takes one sample and
// compares it with the previous one, so the metrics cover the whole interval between scrapes.
type gpmState struct {
	prev, cur   nvml.GpmSample
	havePrev    bool
	unsupported bool
	// prevAt is when the previous sample was taken; io the bytes moved since start, by link and
	// direction (GPM gives rates: they are integrated into the counter semconv's hw.gpu.io is).
	prevAt time.Time
	io     map[[2]string]float64
}

// gpmIO are the GPM rates (MiB/s) that become hw.gpu.io byte counters, by link and direction.
var gpmIO = []struct {
	id              nvml.GpmMetricId
	link, direction string
}{
	{nvml.GPM_METRIC_PCIE_TX_PER_SEC, "pcie", "transmit"},
	{nvml.GPM_METRIC_PCIE_RX_PER_SEC, "pcie", "receive"},
	{nvml.GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC, "nvlink", "transmit"},
	{nvml.GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC, "nvlink", "receive"},
}

// gpmMetrics are the profiling metrics read through NVML GPM (Hopper and later), the same the dcgm
// flavor reads from DCGM_FI_PROF_*. GPM gives percentages; they become 0..1.
var gpmMetrics = []struct {
	id     nvml.GpmMetricId
	metric names.Metric
	kv     []string
}{
	{nvml.GPM_METRIC_SM_UTIL, names.NvidiaGPUSMActive, nil},
	{nvml.GPM_METRIC_SM_OCCUPANCY, names.NvidiaGPUSMOccupancy, nil},
	{nvml.GPM_METRIC_GRAPHICS_UTIL, names.NvidiaGPUGraphicsEngineActive, nil},
	{nvml.GPM_METRIC_DRAM_BW_UTIL, names.NvidiaGPUDramActive, nil},
	{nvml.GPM_METRIC_ANY_TENSOR_UTIL, names.NvidiaGPUPipeActive, []string{"nvidia.gpu.pipe", "tensor"}},
	{nvml.GPM_METRIC_FP64_UTIL, names.NvidiaGPUPipeActive, []string{"nvidia.gpu.pipe", "fp64"}},
	{nvml.GPM_METRIC_FP32_UTIL, names.NvidiaGPUPipeActive, []string{"nvidia.gpu.pipe", "fp32"}},
	{nvml.GPM_METRIC_FP16_UTIL, names.NvidiaGPUPipeActive, []string{"nvidia.gpu.pipe", "fp16"}},
}

// readGPM records the GPU's profiling metrics, and those of each of its MIG instances. A GPU without
// GPM is said once and skipped after.
func (r *reader) readGPM(dev nvml.Device, a deviceAttrs, now time.Time, out *metricSet) {
	if !r.hasGPM {
		return
	}
	st := r.gpmState(a.id, func() (nvml.GpmSupport, nvml.Return) { return dev.GpmQueryDeviceSupport() }, a)
	if st == nil {
		return
	}
	r.gpmRead(st, func(s nvml.GpmSample) nvml.Return { return dev.GpmSampleGet(s) }, a, now, out)
	// MIG instances: sampled through their parent, by GPU instance id.
	current, _, ret := dev.GetMigMode()
	if ret != nvml.SUCCESS || current != nvml.DEVICE_MIG_ENABLE {
		return
	}
	n, ret := dev.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return
	}
	for j := 0; j < n; j++ {
		mig, ret := dev.GetMigDeviceHandleByIndex(j)
		if ret != nvml.SUCCESS {
			continue
		}
		uuid, ret := mig.GetUUID()
		if ret != nvml.SUCCESS {
			continue
		}
		gi, ret := mig.GetGpuInstanceId()
		if ret != nvml.SUCCESS {
			continue
		}
		ma := deviceAttrs{id: uuid, name: a.name, parent: a.id}
		mst := r.gpmState(uuid, func() (nvml.GpmSupport, nvml.Return) { return nvml.GpmSupport{IsSupportedDevice: 1}, nvml.SUCCESS }, ma)
		if mst == nil {
			continue
		}
		r.gpmRead(mst, func(s nvml.GpmSample) nvml.Return { return dev.GpmMigSampleGet(gi, s) }, ma, now, out)
	}
}

// gpmState is the GPM state of a GPU or MIG instance, made on first sight (nil when unsupported).
func (r *reader) gpmState(id string, support func() (nvml.GpmSupport, nvml.Return), a deviceAttrs) *gpmState {
	st := r.gpm[id]
	if st == nil {
		st = &gpmState{io: map[[2]string]float64{}}
		r.gpm[id] = st
		s, ret := support()
		if ret != nvml.SUCCESS || s.IsSupportedDevice == 0 {
			st.unsupported = true
			r.logger.Info("GPU profiling metrics (NVML GPM: SM active and occupancy, tensor and FP pipes, DRAM) are not available on this GPU (Hopper or later needed); skipped",
				zap.String("hw.id", a.id), zap.String("hw.name", a.name), zap.String("nvml", nvml.ErrorString(ret)))
			return nil
		}
		var ret1, ret2 nvml.Return
		st.prev, ret1 = r.lib.GpmSampleAlloc()
		st.cur, ret2 = r.lib.GpmSampleAlloc()
		if ret1 != nvml.SUCCESS || ret2 != nvml.SUCCESS {
			st.unsupported = true
			r.skip("gpm sample alloc", ret1)
			return nil
		}
	}
	if st.unsupported {
		return nil
	}
	return st
}

// gpmRead takes one sample and, with the previous one, records the metrics over the interval.
func (r *reader) gpmRead(st *gpmState, sample func(nvml.GpmSample) nvml.Return, a deviceAttrs, now time.Time, out *metricSet) {
	if ret := sample(st.cur); ret != nvml.SUCCESS {
		r.skip("gpm sample", ret)
		st.havePrev = false
		return
	}
	if st.havePrev {
		mg := &nvml.GpmMetricsGetType{Sample1: st.prev, Sample2: st.cur}
		for _, m := range gpmMetrics {
			mg.Metrics[mg.NumMetrics].MetricId = uint32(m.id)
			mg.NumMetrics++
		}
		for _, m := range gpmIO {
			mg.Metrics[mg.NumMetrics].MetricId = uint32(m.id)
			mg.NumMetrics++
		}
		if ret := r.lib.GpmMetricsGet(mg); ret == nvml.SUCCESS {
			for i, m := range gpmMetrics {
				if ret := nvml.Return(mg.Metrics[i].NvmlReturn); ret != nvml.SUCCESS {
					r.skip(m.metric.Name, ret)
					continue
				}
				out.record(m.metric, a, mg.Metrics[i].Value/100, m.kv...)
			}
			seconds := now.Sub(st.prevAt).Seconds()
			for j, m := range gpmIO {
				g := mg.Metrics[len(gpmMetrics)+j]
				if nvml.Return(g.NvmlReturn) != nvml.SUCCESS {
					continue // no NVLink here, say
				}
				key := [2]string{m.link, m.direction}
				st.io[key] += g.Value * (1 << 20) * seconds // MiB/s over the interval → bytes
			}
		} else {
			r.skip("gpm metrics", ret)
		}
	}
	for key, bytes := range st.io {
		out.record(names.HwGPUIO, a, bytes, "network.io.direction", key[1], "nvidia.gpu.link", key[0])
	}
	st.prev, st.cur = st.cur, st.prev
	st.prevAt = now
	st.havePrev = true
}

// freeGPM releases the samples (at Shutdown, or when NVML goes away).
func (r *reader) freeGPM() {
	for _, st := range r.gpm {
		if st.prev != nil {
			_ = st.prev.Free()
		}
		if st.cur != nil {
			_ = st.cur.Free()
		}
	}
	r.gpm = map[string]*gpmState{}
}
