//go:build linux && cgo

package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
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

// readGPM records the GPU's profiling metrics. A GPU without GPM is said once and skipped after.
func (r *reader) readGPM(dev nvml.Device, a deviceAttrs, out *metricSet) {
	if !r.hasGPM {
		return
	}
	st := r.gpm[a.id]
	if st == nil {
		st = &gpmState{}
		r.gpm[a.id] = st
		support, ret := dev.GpmQueryDeviceSupport()
		if ret != nvml.SUCCESS || support.IsSupportedDevice == 0 {
			st.unsupported = true
			r.logger.Info("GPU profiling metrics (NVML GPM: SM active and occupancy, tensor and FP pipes, DRAM) are not available on this GPU (Hopper or later needed); skipped",
				zap.String("hw.id", a.id), zap.String("hw.name", a.name), zap.String("nvml", nvml.ErrorString(ret)))
			return
		}
		var ret1, ret2 nvml.Return
		st.prev, ret1 = r.lib.GpmSampleAlloc()
		st.cur, ret2 = r.lib.GpmSampleAlloc()
		if ret1 != nvml.SUCCESS || ret2 != nvml.SUCCESS {
			st.unsupported = true
			r.skip("gpm sample alloc", ret1)
			return
		}
	}
	if st.unsupported {
		return
	}
	if ret := dev.GpmSampleGet(st.cur); ret != nvml.SUCCESS {
		r.skip("gpm sample", ret)
		st.havePrev = false
		return
	}
	if st.havePrev {
		mg := &nvml.GpmMetricsGetType{NumMetrics: uint32(len(gpmMetrics)), Sample1: st.prev, Sample2: st.cur}
		for i, m := range gpmMetrics {
			mg.Metrics[i].MetricId = uint32(m.id)
		}
		if ret := r.lib.GpmMetricsGet(mg); ret == nvml.SUCCESS {
			for i, m := range gpmMetrics {
				if ret := nvml.Return(mg.Metrics[i].NvmlReturn); ret != nvml.SUCCESS {
					r.skip(m.metric.Name, ret)
					continue
				}
				out.record(m.metric, a, mg.Metrics[i].Value/100, m.kv...)
			}
		} else {
			r.skip("gpm metrics", ret)
		}
	}
	st.prev, st.cur = st.cur, st.prev
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
