package inferencereceiver

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/internal/names"
)

// checkDeclared asserts that every metric of md that metadata.yaml declares is emitted as declared
// (unit, description, type, monotonicity, cumulative), and returns the declared names seen.
func checkDeclared(t *testing.T, md pmetric.Metrics) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		for name, m := range byName(md.ResourceMetrics().At(i)) {
			d, ok := names.ByName(name)
			if !ok {
				continue // passed through under the server's own name
			}
			seen[name] = true
			assert.Equal(t, d.Unit, m.Unit(), name)
			assert.Equal(t, d.Description, m.Description(), name)
			switch d.Type {
			case names.Histogram:
				require.Equal(t, pmetric.MetricTypeHistogram, m.Type(), name)
				assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Histogram().AggregationTemporality(), name)
			case names.Sum:
				require.Equal(t, pmetric.MetricTypeSum, m.Type(), name)
				assert.Equal(t, d.Monotonic, m.Sum().IsMonotonic(), name)
				assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality(), name)
			case names.Gauge:
				assert.Equal(t, pmetric.MetricTypeGauge, m.Type(), name)
			}
			if strings.HasPrefix(name, "gen_ai.server.") {
				forEachAttrs(m, func(attrs map[string]any) {
					assert.NotEmpty(t, attrs["gen_ai.provider.name"], "%s carries gen_ai.provider.name", name)
				})
			}
			if strings.HasPrefix(name, "hw.") {
				forEachAttrs(m, func(attrs map[string]any) { assert.Equal(t, "gpu", attrs["hw.type"], name) })
			}
		}
	}
	return seen
}

func forEachAttrs(m pmetric.Metric, f func(map[string]any)) {
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			f(m.Histogram().DataPoints().At(i).Attributes().AsRaw())
		}
	case pmetric.MetricTypeSum:
		for i := 0; i < m.Sum().DataPoints().Len(); i++ {
			f(m.Sum().DataPoints().At(i).Attributes().AsRaw())
		}
	case pmetric.MetricTypeGauge:
		for i := 0; i < m.Gauge().DataPoints().Len(); i++ {
			f(m.Gauge().DataPoints().At(i).Attributes().AsRaw())
		}
	}
}

// TestEveryMetricAsDeclared walks every metric the receiver emits on every golden payload: each
// one metadata.yaml declares comes out with its declared unit, description and type, whichever
// flavor fed it; and together the payloads feed every server metric declared.
func TestEveryMetricAsDeclared(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			md, err := scrapeOnce(t, testConfig(tc.serve(t)))
			require.NoError(t, err)
			for n := range checkDeclared(t, md) {
				seen[n] = true
			}
		})
	}
	// Fed elsewhere: NVML only (checked on the mock in internal/gpu), dcgm-exporter's remapped rows
	// (not in the recorded payloads), failures.
	elsewhere := map[string]bool{
		"hw.errors": true, "hw.status": true, "hw.gpu.io": true, "nvidia.gpu.clock_event.active": true, "nvidia.gpu.pcie.throughput": true,
		"nvidia.gpu.process.memory.usage": true, "nvidia.gpu.process.utilization": true,
		"inference.server.scrape.errors": true, "inference.server.energy": true,
	}
	for _, d := range names.All {
		if !elsewhere[d.Name] {
			assert.True(t, seen[d.Name], "no golden payload feeds %s", d.Name)
		}
	}
}

// A metric turned off under `metrics:` is gone whichever source feeds it: a server's table and the
// dcgm flavor alike.
func TestDisabledMetricGoneFromEverySource(t *testing.T) {
	for _, tc := range goldenCases() {
		if tc.name != "vllm" && tc.name != "dcgm" {
			continue
		}
		cfg := testConfig(tc.serve(t))
		cfg.Metrics.HwPower.Enabled = false
		cfg.Metrics.InferenceRequests.Enabled = false
		cfg.Metrics.GenAiServerRequestDuration.Enabled = false
		md, err := scrapeOnce(t, cfg)
		require.NoError(t, err)
		metrics := byName(md.ResourceMetrics().At(0))
		assert.NotContains(t, metrics, "hw.power", tc.name)
		assert.NotContains(t, metrics, "inference.requests", tc.name)
		assert.NotContains(t, metrics, "gen_ai.server.request.duration", tc.name)
		assert.NotEmpty(t, metrics, tc.name)
	}
}
