package ratioprocessor

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

func TestCountAtMost(t *testing.T) {
	bounds := pcommon.NewFloat64Slice()
	bounds.FromRaw([]float64{0.5, 0.7, 0.8, 0.9})
	counts := pcommon.NewUInt64Slice()
	counts.FromRaw([]uint64{300, 220, 180, 200, 100})
	for _, tt := range []struct {
		x    float64
		want float64
	}{
		{0.7, 520},             // a bound: exact
		{0.8, 700},             // a bound: exact
		{0.75, 520 + 180*0.5},  // inside (0.7, 0.8]: interpolated
		{0.25, 300 * 0.5},      // first bucket assumed to start at 0
		{0.9, 900},             // last bound
		{5, 900},               // nothing of the +Inf bucket counts
		{-1, 0},                // below everything
		{0.95, 900},            // in the +Inf bucket: not interpolated
		{0.5 + 1e-12, 300 + 0}, // just above a bound
	} {
		assert.InDelta(t, tt.want, countAtMost(bounds, counts, tt.x), 1e-6, "x=%v", tt.x)
	}
}

func TestExponentialCountAtMost(t *testing.T) {
	dp := pmetric.NewExponentialHistogramDataPoint()
	dp.SetScale(0) // base 2: bucket i is (2^i, 2^(i+1)]
	dp.SetZeroCount(5)
	dp.Positive().SetOffset(0)
	dp.Positive().BucketCounts().FromRaw([]uint64{10, 20, 40}) // (1,2], (2,4], (4,8]
	dp.Negative().BucketCounts().FromRaw([]uint64{3})
	assert.InDelta(t, 5+3+10+20, exponentialCountAtMost(dp, 4), 1e-9)
	assert.InDelta(t, 5+3+10+20*0.5, exponentialCountAtMost(dp, 3), 1e-9)
	assert.InDelta(t, 5+3+10+20+40, exponentialCountAtMost(dp, 100), 1e-9)
	assert.InDelta(t, 0, exponentialCountAtMost(dp, -1), 1e-9)
}

// histBatch builds one cumulative histogram point of reranker_score_distribution.
func histBatch(tSec, startSec int64, bounds []float64, counts []uint64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("server.address", "a")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("reranker_score_distribution")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
	dp.SetStartTimestamp(pcommon.Timestamp(startSec * sec))
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	var total uint64
	for _, c := range counts {
		total += c
	}
	dp.SetCount(total)
	dp.Attributes().PutStr("model", "m1")
	return md
}

func gaugeValues(md pmetric.Metrics, name string) []float64 {
	var out []float64
	for _, dp := range gaugePoints(md, name) {
		out = append(out, dp.DoubleValue())
	}
	return out
}

func TestHistogramFractionSequence(t *testing.T) {
	above, atMost := 0.7, 0.75
	cfg := createDefaultConfig().(*Config)
	cfg.Window = time.Minute
	cfg.Rules = []RuleConfig{
		{Name: "high", Histogram: &HistogramSelector{Metric: "reranker_score_distribution", Above: &above}, GroupBy: []string{"model"}},
		{Name: "low", Histogram: &HistogramSelector{Metric: "reranker_score_distribution", AtMost: &atMost}},
	}
	p := newRatioProcessor(cfg, zap.NewNop())
	bounds := []float64{0.5, 0.7, 0.8, 0.9}
	step := func(tSec, startSec int64, bs []float64, counts []uint64) (high, low []float64) {
		out, err := p.processMetrics(context.Background(), histBatch(tSec, startSec, bs, counts))
		require.NoError(t, err)
		return gaugeValues(out, "high"), gaugeValues(out, "low")
	}
	h, l := step(10, 1, bounds, []uint64{100, 100, 100, 100, 100})
	assert.Empty(t, h)
	assert.Empty(t, l)
	// +10 in ≤0.5, +20 in (0.7,0.8], +30 in (0.9,+Inf): 60 new observations.
	h, l = step(20, 1, bounds, []uint64{110, 100, 120, 100, 130})
	assert.InDeltaSlice(t, []float64{50.0 / 60}, h, 1e-12)            // above 0.7: exact (a bound)
	assert.InDeltaSlice(t, []float64{(10 + 20*0.5) / 60.0}, l, 1e-12) // at most 0.75: interpolated
	// The bucket layout changes: history is dropped, the next point is a new baseline.
	h, _ = step(30, 1, []float64{0.5, 0.8}, []uint64{1, 1, 1})
	assert.Empty(t, h)
	h, _ = step(40, 1, []float64{0.5, 0.8}, []uint64{1, 3, 5})
	// +2 in (0.5,0.8] (of which (0.7,0.8] is a third, interpolated) and +4 above 0.8.
	assert.InDeltaSlice(t, []float64{(4 + 2.0/3) / 6}, h, 1e-12)
}

func TestDeltaHistogramAndCounterFilters(t *testing.T) {
	slo := 1.0
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{
		{Name: "slo", Histogram: &HistogramSelector{Metric: "lat", AtMost: &slo, Match: map[string]string{"route": "/chat"}}},
		{
			Name: "coder.error_ratio", Numerator: &Selector{Metric: "coder_model_requests_total", Match: map[string]string{"status": "error"}},
			Denominator: &Selector{Metric: "coder_model_requests_total"}, GroupBy: []string{"model_name"},
		},
		{Name: "triton.mean_latency", Unit: "s", Numerator: &Selector{Metric: "inference.requests.duration"}, Denominator: &Selector{Metric: "inference.requests"}},
	}
	p := newRatioProcessor(cfg, zap.NewNop())
	batch := func(tSec int64, okA, errA, okB, durSum, reqs float64, routes map[string][]uint64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		h := ms.AppendEmpty()
		h.SetName("lat")
		hist := h.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		for route, counts := range routes {
			dp := hist.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(pcommon.Timestamp((tSec - 10) * sec))
			dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
			dp.ExplicitBounds().FromRaw([]float64{1})
			dp.BucketCounts().FromRaw(counts)
			dp.SetCount(counts[0] + counts[1])
			dp.Attributes().PutStr("route", route)
		}
		c := ms.AppendEmpty()
		c.SetName("coder_model_requests_total")
		sum := c.SetEmptySum()
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for _, x := range []struct {
			model, status string
			v             float64
		}{{"a", "ok", okA}, {"a", "error", errA}, {"b", "ok", okB}} {
			dp := sum.DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
			dp.SetStartTimestamp(1)
			dp.SetDoubleValue(x.v)
			dp.Attributes().PutStr("model_name", x.model)
			dp.Attributes().PutStr("status", x.status)
		}
		for name, v := range map[string]float64{"inference.requests.duration": durSum, "inference.requests": reqs} {
			m := ms.AppendEmpty()
			m.SetName(name)
			s := m.SetEmptySum()
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := s.DataPoints().AppendEmpty()
			dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
			dp.SetStartTimestamp(1)
			dp.SetIntValue(int64(v))
		}
		return md
	}
	_, _ = p.processMetrics(context.Background(), batch(110, 10, 0, 5, 100, 10, map[string][]uint64{"/chat": {3, 1}, "/embed": {0, 9}}))
	out, _ := p.processMetrics(context.Background(), batch(120, 16, 2, 9, 190, 13, map[string][]uint64{"/chat": {5, 3}, "/embed": {0, 9}}))
	// Delta histogram, /chat only: (3+5) ≤ 1 of 12.
	assert.InDeltaSlice(t, []float64{8.0 / 12}, gaugeValues(out, "slo"), 1e-12)
	// Per model: a has +6 ok +2 error → 0.25; b has +4 ok, no errors → 0.
	got := gaugeValues(out, "coder.error_ratio")
	require.Len(t, got, 2)
	assert.ElementsMatch(t, []float64{0.25, 0}, got)
	// A quotient in seconds: (190-100)/(13-10) = 30 s, above 1 and still reported.
	assert.InDeltaSlice(t, []float64{30}, gaugeValues(out, "triton.mean_latency"), 1e-12)
	assert.False(t, p.rules[2].misconfigured)
	assert.False(t, math.IsNaN(got[0]))
}
