package convert

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

func convert(t *testing.T, c *Converter, payload string, nowMs int64) map[string]pmetric.Metric {
	t.Helper()
	p, err := exposition.Parse([]byte(payload), "text/plain")
	require.NoError(t, err)
	ms := pmetric.NewMetricSlice()
	c.Append(p, nowMs, ms)
	out := map[string]pmetric.Metric{}
	for i := 0; i < ms.Len(); i++ {
		_, dup := out[ms.At(i).Name()]
		require.False(t, dup, "metric %s emitted twice", ms.At(i).Name())
		out[ms.At(i).Name()] = ms.At(i)
	}
	return out
}

func ms(v int64) pcommon.Timestamp { return pcommon.Timestamp(v * 1e6) }

func TestCounterStartTimesAndResets(t *testing.T) {
	c := New(&schema.Prometheus, PassthroughUnmapped)
	payload := func(v string) string { return "# TYPE jobs_total counter\njobs_total " + v + "\n" }

	m := convert(t, c, payload("10"), 1000)
	dp := m["jobs_total"].Sum().DataPoints().At(0)
	assert.Equal(t, ms(1000), dp.StartTimestamp(), "first sight without process start: start = now")

	m = convert(t, c, payload("15"), 2000)
	assert.Equal(t, ms(1000), m["jobs_total"].Sum().DataPoints().At(0).StartTimestamp(), "unchanged while growing")

	m = convert(t, c, payload("3"), 3000)
	assert.Equal(t, ms(2001), m["jobs_total"].Sum().DataPoints().At(0).StartTimestamp(), "a drop restarts after the previous scrape")
	assert.Equal(t, 1, c.TrackedSeries())

	convert(t, c, "# TYPE other gauge\nother 1\n", 4000)
	assert.Equal(t, 0, c.TrackedSeries(), "series gone from the payload are forgotten")
}

func TestProcessStartIsTheCounterStart(t *testing.T) {
	c := New(&schema.Prometheus, PassthroughUnmapped)
	m := convert(t, c, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 500.5\n# TYPE jobs_total counter\njobs_total 4\n", 900000)
	assert.Equal(t, ms(500500), m["jobs_total"].Sum().DataPoints().At(0).StartTimestamp())
}

func TestMappedRuleSkipsIncompatibleType(t *testing.T) {
	// A server exposing the family with another type than the table expects is passed through, not
	// forced into the schema.
	c := New(&schema.VLLM, PassthroughUnmapped)
	m := convert(t, c, "# TYPE vllm:e2e_request_latency_seconds gauge\nvllm:e2e_request_latency_seconds 3\n", 1000)
	assert.NotContains(t, m, names.GenAIServerRequestDuration.Name)
	assert.Contains(t, m, "vllm:e2e_request_latency_seconds")
}

func TestFallbackSourceWhenPreferredAbsent(t *testing.T) {
	c := New(&schema.VLLM, PassthroughUnmapped)
	m := convert(t, c, "# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name=\"x\"} 0.25\n", 1000)
	require.Contains(t, m, names.InferenceKVCacheUtilization.Name)
	dp := m[names.InferenceKVCacheUtilization.Name].Gauge().DataPoints().At(0)
	assert.InDelta(t, 0.25, dp.DoubleValue(), 0)
	model, _ := dp.Attributes().Get(schema.AttrModel)
	assert.Equal(t, "x", model.Str())
	assert.NotContains(t, m, "vllm:gpu_cache_usage_perc")
}

func TestOutcomes(t *testing.T) {
	c := New(&schema.VLLM, PassthroughNone)
	m := convert(t, c, `# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="x"} 5
vllm:request_success_total{finished_reason="length",model_name="x"} 2
vllm:request_success_total{finished_reason="abort",model_name="x"} 1
vllm:request_success_total{finished_reason="error",model_name="x"} 3
`, 1000)
	got := map[string]float64{}
	dps := m[names.InferenceRequests.Name].Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		o, _ := dps.At(i).Attributes().Get(schema.AttrOutcome)
		got[o.Str()] += dps.At(i).DoubleValue()
	}
	assert.Equal(t, map[string]float64{"success": 7, "aborted": 1, "error": 3}, got)
}

func TestScaleConvertsHistogramBoundsAndSum(t *testing.T) {
	f := &schema.Flavor{Name: "test", Rules: []schema.Rule{{
		Sources: []string{"lat_us"}, Metric: names.Metric{Name: "lat", Unit: "s", Type: names.Histogram}, Div: 1e6,
	}}}
	c := New(f, PassthroughNone)
	m := convert(t, c, "# TYPE lat_us histogram\nlat_us_bucket{le=\"1000\"} 2\nlat_us_bucket{le=\"+Inf\"} 3\nlat_us_sum 5000\nlat_us_count 3\n", 1000)
	dp := m["lat"].Histogram().DataPoints().At(0)
	assert.Equal(t, []float64{0.001}, dp.ExplicitBounds().AsRaw())
	assert.Equal(t, []uint64{2, 1}, dp.BucketCounts().AsRaw())
	assert.Equal(t, 0.005, dp.Sum(), "divided, exactly") //nolint:testifylint // exact scaling is the point
}

// FuzzParseAndConvert: whatever parses converts without panicking, under every flavor table, and
// every histogram point it emits is a valid OTLP one (counts add up, one more count than bounds,
// bounds increasing).
func FuzzParseAndConvert(f *testing.F) {
	f.Add([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\n"), "text/plain")
	f.Add([]byte("# TYPE vllm:e2e_request_latency_seconds histogram\nvllm:e2e_request_latency_seconds_bucket{le=\"2\",model_name=\"m\"} 1\nvllm:e2e_request_latency_seconds_bucket{le=\"1\",model_name=\"m\"} 1\n"), "text/plain")
	f.Add([]byte("# TYPE c counter\nc_total 1 # {trace_id=\"ab\"} 1\nc_created 1.7e9\n# EOF\n"), "application/openmetrics-text")
	f.Add([]byte("# TYPE x_total counter\nx_total{a=\"\"} 1\n# TYPE x_created gauge\nx_created 5\n"), "")
	f.Fuzz(func(t *testing.T, b []byte, contentType string) {
		p, err := exposition.Parse(b, contentType)
		if err != nil {
			return
		}
		for _, fl := range []*schema.Flavor{&schema.VLLM, &schema.TGI, &schema.Triton, &schema.DCGM, &schema.Prometheus} {
			ms := pmetric.NewMetricSlice()
			New(fl, PassthroughAll).Append(p, 1, ms)
			for i := 0; i < ms.Len(); i++ {
				m := ms.At(i)
				if m.Type() != pmetric.MetricTypeHistogram {
					continue
				}
				for j := 0; j < m.Histogram().DataPoints().Len(); j++ {
					dp := m.Histogram().DataPoints().At(j)
					if dp.BucketCounts().Len() == 0 {
						continue
					}
					if dp.BucketCounts().Len() != dp.ExplicitBounds().Len()+1 {
						t.Fatalf("%s: %d counts for %d bounds", m.Name(), dp.BucketCounts().Len(), dp.ExplicitBounds().Len())
					}
					var total uint64
					for _, c := range dp.BucketCounts().AsRaw() {
						total += c
					}
					if total != dp.Count() {
						t.Fatalf("%s: buckets add up to %d, count %d", m.Name(), total, dp.Count())
					}
					bs := dp.ExplicitBounds().AsRaw()
					for k := 1; k < len(bs); k++ {
						if !(bs[k] > bs[k-1]) {
							t.Fatalf("%s: bounds not increasing: %v", m.Name(), bs)
						}
					}
				}
			}
		}
	})
}
