package gpu

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/internal/names"
)

// TestAMDSysfs reads a sysfs tree laid out as the amdgpu driver has it (testdata/gpu/amd-sysfs: one
// MI300X bound to amdgpu, an Intel GPU bound to i915, a connector entry): values in the units
// semconv wants, the same metrics as NVIDIA's.
func TestAMDSysfs(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	r := newAMDReader("../../../../testdata/gpu/amd-sysfs", zap.New(core))
	ms := pmetric.NewMetricSlice()
	require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
	id := map[string]any{"hw.id": "4a1e8b3c5d2f6071"}
	with := func(k, v string) map[string]any { return map[string]any{"hw.id": "4a1e8b3c5d2f6071", k: v} }
	util := find(t, points(ms, "hw.gpu.utilization"), with("hw.gpu.task", "general"))
	assert.InDelta(t, 0.67, util.v, 1e-12)
	assert.Equal(t, "amd", util.attrs["hw.vendor"])
	assert.Equal(t, "AMD Instinct MI300X", util.attrs["hw.name"])
	assert.Equal(t, "gpu", util.attrs["hw.type"])
	assert.Equal(t, "1", util.attrs["nvidia.gpu.index"])
	assert.InDelta(t, 0.12, find(t, points(ms, "hw.gpu.memory.busy"), id).v, 1e-12)
	assert.InDelta(t, 83751862272, find(t, points(ms, "hw.gpu.memory.usage"), id).v, 0)
	assert.InDelta(t, 205822885888, find(t, points(ms, "hw.gpu.memory.limit"), id).v, 0)
	assert.InDelta(t, 83751862272.0/205822885888, find(t, points(ms, "hw.gpu.memory.utilization"), id).v, 1e-12)
	assert.InDelta(t, 512.0, find(t, points(ms, "hw.power"), id).v, 1e-9, "µW → W")
	assert.InDelta(t, 1843200.0, find(t, points(ms, "hw.energy"), id).v, 1e-6, "µJ → J")
	assert.InDelta(t, 41.0, find(t, points(ms, "hw.temperature"), with("hw.sensor_location", "edge")).v, 1e-12, "m°C → °C")
	assert.InDelta(t, 58.0, find(t, points(ms, "hw.temperature"), with("hw.sensor_location", "junction")).v, 1e-12)
	assert.InDelta(t, 47.0, find(t, points(ms, "hw.temperature"), with("hw.sensor_location", "mem")).v, 1e-12)
	assert.InDelta(t, 2.1e9, find(t, points(ms, "hw.gpu.clock.frequency"), with("hw.gpu.clock.type", "sm")).v, 0)
	assert.InDelta(t, 1.3e9, find(t, points(ms, "hw.gpu.clock.frequency"), with("hw.gpu.clock.type", "memory")).v, 0)
	assert.Len(t, points(ms, "hw.gpu.utilization"), 1, "the i915 GPU and the connector are not read")
	for i := 0; i < ms.Len(); i++ {
		d, ok := names.ByName(ms.At(i).Name())
		require.True(t, ok, ms.At(i).Name())
		assert.Equal(t, d.Unit, ms.At(i).Unit())
		assert.Equal(t, d.Description, ms.At(i).Description())
	}
	assert.Equal(t, 1, logs.FilterMessageSnippet("Reading AMD GPUs").Len())
	require.NoError(t, r.Scrape(context.Background(), time.Now(), pmetric.NewMetricSlice()))
	assert.Equal(t, 1, logs.FilterMessageSnippet("Reading AMD GPUs").Len(), "said once")
}

// Without AMD GPUs (no sysfs tree, or none bound to amdgpu): nothing read, nothing said.
func TestAMDNone(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	for _, root := range []string{t.TempDir(), "/nonexistent"} {
		r := newAMDReader(root, zap.New(core))
		ms := pmetric.NewMetricSlice()
		for i := 0; i < 3; i++ {
			require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
		}
		assert.Equal(t, 0, ms.Len())
	}
	assert.Equal(t, 0, logs.Len())
}
