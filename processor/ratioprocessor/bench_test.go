package ratioprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/processor/ratioprocessor/internal/metadata"
	"github.com/otel-inference/collector/processor/ratioprocessor/internal/window"
)

// benchBatch is one scrape of many servers: resources × models × 3 outcomes points of
// inference.requests (or of an unrelated metric, for the pass-through case).
func benchBatch(resources, models int, metric string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := 0; r < resources; r++ {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("server.address", fmt.Sprintf("10.0.%d.%d", r/256, r%256))
		rm.Resource().Attributes().PutStr("inference.server.flavor", "vllm")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName(metric)
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for mo := 0; mo < models; mo++ {
			for _, outcome := range []string{"success", "error", "aborted"} {
				dp := sum.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(1)
				dp.Attributes().PutStr("gen_ai.request.model", fmt.Sprintf("model-%d", mo))
				dp.Attributes().PutStr("inference.outcome", outcome)
			}
		}
	}
	return md
}

// advance moves every point of the batch one scrape on, and drops the ratio scope a previous run
// appended.
func advance(md pmetric.Metrics, step int) {
	ts := pcommon.Timestamp(int64(step+1) * int64(10*time.Second))
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		sms.RemoveIf(func(sm pmetric.ScopeMetrics) bool { return sm.Scope().Name() == metadata.ScopeName })
		dps := sms.At(0).Metrics().At(0).Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			dp := dps.At(j)
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(float64(step * (j%3 + 1)))
		}
	}
}

func benchmarkProcessor(b *testing.B, resources, models int, metric string) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxSeries = 1_000_000
	p := newRatioProcessor(cfg, zap.NewNop())
	md := benchBatch(resources, models, metric)
	points := md.DataPointCount()
	// Warm up: fill the windows (5 min at 10 s = 31 points a series).
	step := 0
	for ; step < 40; step++ {
		advance(md, step)
		_, _ = p.processMetrics(context.Background(), md)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		advance(md, step)
		step++
		b.StartTimer()
		_, _ = p.processMetrics(context.Background(), md)
	}
	b.StopTimer()
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/float64(points), "ns/point")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if metric == "inference.requests" {
		series, _ := p.state.Len()
		b.ReportMetric(float64(series), "series")
	}
}

// BenchmarkProcessor10k: 10,000 tracked series (≈3,333 servers × 1 model × 3 outcomes) through the
// default rules, windows full.
func BenchmarkProcessor10k(b *testing.B) { benchmarkProcessor(b, 3334, 1, "inference.requests") }

// BenchmarkProcessor100k: 100,000 tracked series (≈3,333 servers × 10 models × 3 outcomes).
func BenchmarkProcessor100k(b *testing.B) { benchmarkProcessor(b, 3334, 10, "inference.requests") }

// BenchmarkProcessorPassThrough10k: 10,000 points of a metric no rule reads.
func BenchmarkProcessorPassThrough10k(b *testing.B) {
	benchmarkProcessor(b, 3334, 1, "vllm:num_preemptions_total")
}

// TestStatePerSeries measures the processor's memory per tracked series with full 5-minute windows
// at a 10 s interval, and reports it (it asserts only that state was built).
func TestStatePerSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	cfg := createDefaultConfig().(*Config)
	p := newRatioProcessor(cfg, zap.NewNop())
	md := benchBatch(1000, 10, "inference.requests")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for step := 0; step < 40; step++ {
		advance(md, step)
		_, _ = p.processMetrics(context.Background(), md)
	}
	advance(md, 41) // drop the last outputs, so only the processor's state stays
	runtime.GC()
	runtime.ReadMemStats(&after)
	n, _ := p.state.Len()
	if n != 30000 {
		t.Fatalf("tracked %d series, want 30000", n)
	}
	perSeries := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	held, ring := 0, 0
	if s := p.state.Any(); s != nil {
		held, ring = s.Len(), s.Cap()
	}
	pointBytes := int(unsafe.Sizeof(window.Point{}))
	t.Logf("state: %.0f bytes per tracked series: a ring of %d points (%d held, %d B each) = %d B, and %.0f B beside the points",
		perSeries, ring, held, pointBytes, ring*pointBytes, perSeries-float64(ring*pointBytes))
	runtime.KeepAlive(md)
}
