package prw

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/resourcetotelemetry"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The encoder must say exactly what contrib's translator says: these tests decode its requests and
// compare them, series by series, with the translator's output for the same input.

// flat is a series in a comparable form.
type flat struct {
	labels     string
	meta       string
	samples    []string
	exemplars  []string
	histograms []string
}

func labelString(ls []prompb.Label) string {
	ls = slices.Clone(ls)
	slices.SortStableFunc(ls, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s=%q,", l.Name, l.Value)
	}
	return b.String()
}

func valueString(v float64) string {
	if math.IsNaN(v) {
		return fmt.Sprintf("NaN(%#x)", math.Float64bits(v))
	}
	return fmt.Sprint(v)
}

// histString describes a native histogram by what it means: the bucket counts by index (empty
// buckets left out), so that two span layouts of the same histogram compare equal.
func histString(h prompb.Histogram) string {
	expand := func(spans []prompb.BucketSpan, deltas []int64) string {
		var parts []string
		idx, i := int32(0), 0
		var c int64
		for si, s := range spans {
			if si == 0 {
				idx = s.Offset
			} else {
				idx += s.Offset
			}
			for range s.Length {
				c += deltas[i]
				i++
				if c != 0 {
					parts = append(parts, fmt.Sprintf("%d:%d", idx, c))
				}
				idx++
			}
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("t=%d count=%d sum=%s schema=%d zt=%g zc=%d hint=%d neg[%s] pos[%s]",
		h.Timestamp, h.GetCountInt(), valueString(h.Sum), h.Schema, h.ZeroThreshold, h.GetZeroCountInt(), h.ResetHint,
		expand(h.NegativeSpans, h.NegativeDeltas), expand(h.PositiveSpans, h.PositiveDeltas))
}

func flatten(tss []prompb.TimeSeries) []flat {
	byLabels := map[string]*flat{}
	for _, ts := range tss {
		k := labelString(ts.Labels)
		f := byLabels[k]
		if f == nil {
			f = &flat{labels: k}
			byLabels[k] = f
		}
		for _, s := range ts.Samples {
			f.samples = append(f.samples, fmt.Sprintf("%d@%s", s.Timestamp, valueString(s.Value)))
		}
		for _, ex := range ts.Exemplars {
			f.exemplars = append(f.exemplars, fmt.Sprintf("%s %d@%s", labelString(ex.Labels), ex.Timestamp, valueString(ex.Value)))
		}
		for _, h := range ts.Histograms {
			f.histograms = append(f.histograms, histString(h))
		}
	}
	out := make([]flat, 0, len(byLabels))
	for _, f := range byLabels {
		slices.Sort(f.exemplars) // the order of a series' exemplars carries no meaning
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b flat) int { return cmp.Compare(a.labels, b.labels) })
	return out
}

// flattenV2 reads 2.0 series as 1.0 ones (labels and exemplar labels resolved through the symbols),
// with their metadata.
func flattenV2(t *testing.T, tss []writev2.TimeSeries, symbols []string) []flat {
	require.NotEmpty(t, symbols)
	require.Empty(t, symbols[0], "2.0: the first symbol is the empty string")
	resolve := func(refs []uint32) []prompb.Label {
		require.Zero(t, len(refs)%2)
		var ls []prompb.Label
		for i := 0; i < len(refs); i += 2 {
			require.Less(t, int(refs[i+1]), len(symbols))
			ls = append(ls, prompb.Label{Name: symbols[refs[i]], Value: symbols[refs[i+1]]})
		}
		return ls
	}
	v1 := make([]prompb.TimeSeries, 0, len(tss))
	metas := map[string]string{}
	for _, ts := range tss {
		one := prompb.TimeSeries{Labels: resolve(ts.LabelsRefs)}
		for _, s := range ts.Samples {
			one.Samples = append(one.Samples, prompb.Sample{Value: s.Value, Timestamp: s.Timestamp})
		}
		for _, ex := range ts.Exemplars {
			one.Exemplars = append(one.Exemplars, prompb.Exemplar{Labels: resolve(ex.LabelsRefs), Value: ex.Value, Timestamp: ex.Timestamp})
		}
		for _, h := range ts.Histograms {
			one.Histograms = append(one.Histograms, prompb.Histogram{
				Count: &prompb.Histogram_CountInt{CountInt: h.GetCountInt()}, Sum: h.Sum, Schema: h.Schema, ZeroThreshold: h.ZeroThreshold,
				ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: h.GetZeroCountInt()}, ResetHint: prompb.Histogram_ResetHint(h.ResetHint),
				Timestamp: h.Timestamp, NegativeSpans: spansV1(h.NegativeSpans), NegativeDeltas: h.NegativeDeltas,
				PositiveSpans: spansV1(h.PositiveSpans), PositiveDeltas: h.PositiveDeltas,
			})
		}
		v1 = append(v1, one)
		metas[labelString(one.Labels)] = fmt.Sprintf("%s help=%q unit=%q", ts.Metadata.Type, symbols[ts.Metadata.HelpRef], symbols[ts.Metadata.UnitRef])
	}
	out := flatten(v1)
	for i := range out {
		out[i].meta = metas[out[i].labels]
	}
	return out
}

func spansV1(in []writev2.BucketSpan) []prompb.BucketSpan {
	out := make([]prompb.BucketSpan, 0, len(in))
	for _, s := range in {
		out = append(out, prompb.BucketSpan{Offset: s.Offset, Length: s.Length})
	}
	return out
}

// referenceV2 is contrib's 2.0 translation, with the exemplars of its 1.0 one (its 2.0 translator
// leaves classic histograms' bucket exemplars out, and adds gauges'; ours sends 1.0's in both).
func referenceV2(t *testing.T, set Settings, md pmetric.Metrics) []flat {
	tsMap, symbols, _ := prometheusremotewrite.FromMetricsV2(toTelemetry(set, md), contribSettings(set))
	all := make([]writev2.TimeSeries, 0, len(tsMap))
	for _, ts := range tsMap {
		all = append(all, *ts)
	}
	out := flattenV2(t, all, symbols.Symbols())
	v1, _ := reference(set, md)
	exemplars := map[string][]string{}
	for _, f := range v1 {
		exemplars[f.labels] = f.exemplars
	}
	for i := range out {
		out[i].exemplars = exemplars[out[i].labels]
		sortSamples(out[i].samples)
	}
	return out
}

func oursV2(t *testing.T, e *Encoder, maxSamples int, md pmetric.Metrics) []flat {
	_ = e.Add(md)
	var all []flat
	require.True(t, e.Flush(V2, maxSamples, func(raw []byte, n int) bool {
		var req writev2.Request
		require.NoError(t, req.Unmarshal(raw), "our request must decode as io.prometheus.write.v2.Request")
		got := 0
		for _, ts := range req.Timeseries {
			got += len(ts.Samples) + len(ts.Histograms)
		}
		require.Equal(t, got, n)
		require.LessOrEqual(t, n, maxSamples)
		all = append(all, flattenV2(t, req.Timeseries, req.Symbols)...)
		return true
	}))
	// Series cut across requests come back together.
	byLabels := map[string]int{}
	var out []flat
	for _, f := range all {
		if i, ok := byLabels[f.labels]; ok {
			out[i].samples = append(out[i].samples, f.samples...)
			out[i].histograms = append(out[i].histograms, f.histograms...)
			out[i].exemplars = append(out[i].exemplars, f.exemplars...)
			continue
		}
		byLabels[f.labels] = len(out)
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b flat) int { return cmp.Compare(a.labels, b.labels) })
	for i := range out {
		slices.Sort(out[i].exemplars)
	}
	return out
}

// TestGoldenEquivalenceV2: 2.0 requests carry the same series as the translator's 2.0 output, with
// its metadata (type, help, unit), through the symbols table, also cut into small requests.
func TestGoldenEquivalenceV2(t *testing.T) {
	for sname, set := range settingsCases {
		for pname, md := range goldenPayloads(t) {
			t.Run(sname+"/"+pname, func(t *testing.T) {
				want := referenceV2(t, set, md)
				e := New(set)
				assertSame(t, want, oursV2(t, e, 1000, md))
				// Again on the kept streams, in requests of 7 samples.
				assertSame(t, want, oursV2(t, e, 7, md))
			})
		}
	}
}

// toTelemetry is md as contrib's resource_to_telemetry_conversion hands it to an exporter.
func toTelemetry(set Settings, md pmetric.Metrics) pmetric.Metrics {
	if !set.ResourceToTelemetry {
		return md
	}
	in := pmetric.NewMetrics()
	md.CopyTo(in)
	c := &capture{}
	wrapped := resourcetotelemetry.WrapMetricsExporter(resourcetotelemetry.Settings{Enabled: true, ExcludeServiceAttributes: set.ExcludeServiceAttributes}, c)
	if err := wrapped.ConsumeMetrics(context.Background(), in); err != nil {
		panic(err)
	}
	return c.md
}

type capture struct {
	component.StartFunc
	component.ShutdownFunc
	md pmetric.Metrics
}

func (*capture) Capabilities() consumer.Capabilities { return consumer.Capabilities{MutatesData: true} }

func (c *capture) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	c.md = md
	return nil
}

func contribSettings(s Settings) prometheusremotewrite.Settings {
	return prometheusremotewrite.Settings{
		Namespace: s.Namespace, ExternalLabels: s.ExternalLabels, DisableTargetInfo: s.DisableTargetInfo,
		DisableScopeInfo: s.DisableScopeInfo, AddMetricSuffixes: s.AddMetricSuffixes,
	}
}

// reference is the translator's output for the batches, merged as the exporter merged them (the
// samples of one series from several batches together, in time order).
func reference(set Settings, batches ...pmetric.Metrics) ([]flat, string) {
	var all []prompb.TimeSeries
	var errs []string
	for _, md := range batches {
		tsMap, err := prometheusremotewrite.FromMetrics(toTelemetry(set, md), contribSettings(set))
		if err != nil {
			errs = append(errs, err.Error())
		}
		for _, ts := range tsMap {
			all = append(all, *ts)
		}
	}
	out := flatten(all)
	for i := range out {
		sortSamples(out[i].samples)
	}
	return out, strings.Join(errs, "\n")
}

// sortSamples orders "t@v" strings by t, stably.
func sortSamples(ss []string) {
	slices.SortStableFunc(ss, func(a, b string) int {
		var ta, tb int64
		_, _ = fmt.Sscanf(a, "%d@", &ta)
		_, _ = fmt.Sscanf(b, "%d@", &tb)
		return cmp.Compare(ta, tb)
	})
}

// ours encodes the batches into one flush, decodes every request, and checks the request size limit.
func ours(t *testing.T, e *Encoder, maxSamples int, batches ...pmetric.Metrics) ([]flat, string) {
	var errs []string
	for _, md := range batches {
		if err := e.Add(md); err != nil {
			errs = append(errs, err.Error())
		}
	}
	var all []prompb.TimeSeries
	ok := e.Flush(V1, maxSamples, func(raw []byte, n int) bool {
		var req prompb.WriteRequest
		require.NoError(t, req.Unmarshal(raw), "our request must decode as prometheus.WriteRequest")
		got := 0
		for _, ts := range req.Timeseries {
			got += len(ts.Samples) + len(ts.Histograms)
			require.True(t, slices.IsSortedFunc(ts.Labels, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) }), "labels sorted")
		}
		require.Equal(t, got, n, "the sample count handed with the request")
		require.LessOrEqual(t, n, maxSamples)
		all = append(all, req.Timeseries...)
		return true
	})
	require.True(t, ok)
	return flatten(all), strings.Join(errs, "\n")
}

func assertSame(t *testing.T, want, got []flat) {
	t.Helper()
	require.Len(t, got, len(want), "series count")
	for i := range want {
		if !assert.Equal(t, want[i], got[i]) {
			return
		}
	}
}

func goldenPayloads(t *testing.T) map[string]pmetric.Metrics {
	files, err := filepath.Glob("../../../../receiver/inferencereceiver/testdata/golden/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]pmetric.Metrics{}
	for _, f := range files {
		md, err := golden.ReadMetrics(f)
		require.NoError(t, err)
		out[filepath.Base(f)] = md
	}
	out["synthetic"] = synthetic(time.Unix(1700000000, 123456789))
	return out
}

var settingsCases = map[string]Settings{
	"defaults":                      {AddMetricSuffixes: true, DisableTargetInfo: true},
	"no suffixes":                   {DisableTargetInfo: true},
	"namespace":                     {Namespace: "inf", AddMetricSuffixes: true, DisableTargetInfo: true},
	"target_info":                   {AddMetricSuffixes: true, ExternalLabels: map[string]string{"cluster": "a", "job": "ext"}},
	"no scope info":                 {AddMetricSuffixes: true, DisableScopeInfo: true, Namespace: "x"},
	"external label":                {AddMetricSuffixes: true, DisableTargetInfo: true, ExternalLabels: map[string]string{"region": "eu", "model": "ext"}},
	"resource attributes as labels": {AddMetricSuffixes: true, ResourceToTelemetry: true},
	"without service attributes":    {AddMetricSuffixes: true, ResourceToTelemetry: true, ExcludeServiceAttributes: true, DisableTargetInfo: true},
}

// TestGoldenEquivalence: every recorded payload of every flavor, and a synthetic one with every
// metric type and the naming corner cases, under every naming option: the same series, labels,
// samples, exemplars and native histograms as the translator.
func TestGoldenEquivalence(t *testing.T) {
	payloads := goldenPayloads(t)
	for sname, set := range settingsCases {
		for pname, md := range payloads {
			t.Run(sname+"/"+pname, func(t *testing.T) {
				want, wantErr := reference(set, md)
				require.NotEmpty(t, want)
				got, gotErr := ours(t, New(set), 1000, md)
				assertSame(t, want, got)
				assert.Equal(t, wantErr != "", gotErr != "", "errors: translator %q, ours %q", wantErr, gotErr)
			})
		}
	}
}

// TestStreamsReused: later pushes reuse the encoded label sets (no new series are built) and still
// match the translator, also when several batches are merged into one flush and requests are cut
// small, and when a histogram's bounds or a summary's quantiles change.
func TestStreamsReused(t *testing.T) {
	set := settingsCases["target_info"]
	e := New(set)
	base := time.Unix(1700000000, 0)
	md1 := synthetic(base)
	want, _ := reference(set, md1)
	got, _ := ours(t, e, 7, md1)
	assertSame(t, want, got)
	built := e.Series()
	entries := len(e.entries)

	md2, md3 := synthetic(base.Add(time.Second)), synthetic(base.Add(2*time.Second))
	want, _ = reference(set, md3, md2) // out of order on purpose: each series is sent in time order
	got, _ = ours(t, e, 5, md3, md2)
	assertSame(t, want, got)
	assert.Equal(t, built, e.Series(), "no new series for the same streams")
	assert.Len(t, e.entries, entries)

	// New bounds: the buckets are built again for the new bounds.
	md4 := synthetic(base.Add(3 * time.Second))
	h := findMetric(md4, "histo").Histogram().DataPoints().At(0)
	h.ExplicitBounds().FromRaw([]float64{0.5, 5})
	h.BucketCounts().FromRaw([]uint64{1, 2, 3})
	q := findMetric(md4, "latency_summary").Summary().DataPoints().At(0)
	q.QuantileValues().At(0).SetQuantile(0.25)
	want, _ = reference(set, md4)
	got, _ = ours(t, e, 1000, md4)
	assertSame(t, want, got)
}

func TestForgetsStaleStreams(t *testing.T) {
	set := Settings{AddMetricSuffixes: true, StaleAfter: time.Minute}
	e := New(set)
	now := time.Unix(1700000000, 0)
	e.now = func() time.Time { return now }
	_, _ = ours(t, e, 1000, synthetic(now))
	require.NotZero(t, e.Series())

	// One stream keeps reporting; the rest stop.
	one := pmetric.NewMetrics()
	g := one.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("alive")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1)
	for range 5 {
		now = now.Add(20 * time.Second)
		_, _ = ours(t, e, 1000, one)
	}
	assert.Len(t, e.entries, 1)
	assert.Equal(t, 1, e.Series())

	// A stream that comes back is built again, the same as before, in 1.0 and in 2.0 (whose symbol
	// table was rebuilt without the forgotten streams' strings).
	md := synthetic(now)
	want, _ := reference(set, md)
	got, _ := ours(t, e, 1000, md)
	assertSame(t, want, got)
	assertSame(t, referenceV2(t, set, md), oursV2(t, e, 1000, md))
	now = now.Add(2 * time.Minute)
	_, _ = ours(t, e, 1000, one)
	assert.Len(t, e.sym.strs, len(e.sym.ids))
	assert.Less(t, len(e.sym.strs), 20, "the symbol table keeps only the strings of live series")
	assertSame(t, referenceV2(t, set, md), oursV2(t, e, 1000, md))
}

// oneScope is a batch of one resource and one scope, and that scope's metrics.
func oneScope() (pmetric.Metrics, pmetric.MetricSlice) {
	md := pmetric.NewMetrics()
	return md, md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
}

// appendMetric appends a metric named name, of unit unit, to ms.
func appendMetric(ms pmetric.MetricSlice, name, unit string) pmetric.Metric {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	return m
}

func TestErrorsNameTheMetric(t *testing.T) {
	md, ms := oneScope()
	s := appendMetric(ms, "requests_delta", "").SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	s.DataPoints().AppendEmpty().SetIntValue(3)
	appendMetric(ms, "nothing", "").SetEmptyGauge()
	appendMetric(ms, "fine", "").SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	appendMetric(ms, "bad_label", "").SetEmptyGauge().DataPoints().AppendEmpty().Attributes().PutStr("", "x")

	e := New(Settings{})
	err := e.Add(md)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"requests_delta"`)
	assert.Contains(t, err.Error(), "nothing is dropped")
	assert.Contains(t, err.Error(), "label name is empty")
	assert.Equal(t, 1, e.Pending(), "the valid metric is still sent")
}

func findMetric(md pmetric.Metrics, name string) pmetric.Metric {
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		sms := rms.At(i).ScopeMetrics()
		for j := range sms.Len() {
			ms := sms.At(j).Metrics()
			for k := range ms.Len() {
				if ms.At(k).Name() == name {
					return ms.At(k)
				}
			}
		}
	}
	panic(name)
}

// synthetic has every metric type and the naming corner cases: attributes that collide once
// sanitized, empty values, names starting with digits or underscores, non-string attributes, two
// resources whose points land on the same labels, exemplars, stale points, scales above 8.
func synthetic(at time.Time) pmetric.Metrics {
	ts := pcommon.NewTimestampFromTime(at)
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "vllm")
	rm.Resource().Attributes().PutStr("service.namespace", "prod")
	rm.Resource().Attributes().PutStr("service.instance.id", "10.0.0.1:8000")
	rm.Resource().Attributes().PutStr("k8s.pod.name", "vllm-0")
	rm.Resource().Attributes().PutInt("host.cpus", 8)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/otel-inference/collector/receiver/inferencereceiver")
	sm.Scope().SetVersion("1.2.3")
	sm.Scope().Attributes().PutStr("flavor", "vllm")
	ms := sm.Metrics()

	g := appendMetric(ms, "gpu.utilization", "1")
	for i, model := range []string{"llama", "qwen"} {
		p := g.SetEmptyGauge().DataPoints().AppendEmpty()
		if i == 1 {
			p = g.Gauge().DataPoints().AppendEmpty()
		}
		p.SetTimestamp(ts)
		p.SetDoubleValue(0.5 + float64(i))
		p.Attributes().PutStr("model.name", model)
		p.Attributes().PutStr("model_name", "x") // collides with model.name
		p.Attributes().PutStr("empty", "")       // left out
		p.Attributes().PutStr("2xx", "a")        // key_2xx
		p.Attributes().PutStr("_private", "b")   // key_private
		p.Attributes().PutInt("gpu", int64(i))   // int attribute
		p.Attributes().PutBool("mig", i == 0)    // bool attribute
		p.Attributes().PutDouble("ratio", 0.25*float64(i))
		if i == 1 {
			p.Attributes().PutStr("k8s.pod.name", "from-the-point") // the resource's value wins when it is a label
		}
	}
	st := g.Gauge().DataPoints().AppendEmpty()
	st.SetTimestamp(ts)
	st.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	st.Attributes().PutStr("model.name", "gone")

	c := appendMetric(ms, "requests", "{request}")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	cp := sum.DataPoints().AppendEmpty()
	cp.SetTimestamp(ts)
	cp.SetIntValue(42 + int64(at.Unix()%7))
	cp.Attributes().PutStr("status", "ok")
	ex := cp.Exemplars().AppendEmpty()
	ex.SetTimestamp(ts)
	ex.SetDoubleValue(1)
	ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	ex.FilteredAttributes().PutStr("user", "u1")
	// Same labels from an int attribute and a string one: one series with two samples.
	cp2 := sum.DataPoints().AppendEmpty()
	cp2.SetTimestamp(ts)
	cp2.SetIntValue(1)
	cp2.Attributes().PutInt("status", 200)
	cp3 := sum.DataPoints().AppendEmpty()
	cp3.SetTimestamp(ts + 1e6)
	cp3.SetIntValue(2)
	cp3.Attributes().PutStr("status", "200")

	nm := appendMetric(ms, "queue.depth", "By").SetEmptySum() // a non-monotonic sum: a gauge
	nm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	up := nm.DataPoints().AppendEmpty()
	up.SetTimestamp(ts)
	up.SetDoubleValue(-3)

	hh := appendMetric(ms, "histo", "s").SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hh.DataPoints().AppendEmpty()
	hp.SetTimestamp(ts)
	hp.SetCount(10)
	hp.SetSum(12.5)
	hp.ExplicitBounds().FromRaw([]float64{0.1, 1, 10})
	hp.BucketCounts().FromRaw([]uint64{1, 4, 3, 2})
	hp.Attributes().PutStr("model", "llama")
	for _, v := range []float64{0.05, 0.5, 5, 50, 1} {
		x := hp.Exemplars().AppendEmpty()
		x.SetTimestamp(ts)
		x.SetDoubleValue(v)
		x.SetTraceID(pcommon.TraceID{byte(v*10) + 1})
	}
	hn := hh.DataPoints().AppendEmpty() // no sum, fewer counts than bounds
	hn.SetTimestamp(ts)
	hn.SetCount(3)
	hn.ExplicitBounds().FromRaw([]float64{1, 2, 3})
	hn.BucketCounts().FromRaw([]uint64{1, 1})
	hn.Attributes().PutStr("model", "qwen")
	hs := hh.DataPoints().AppendEmpty() // stale
	hs.SetTimestamp(ts)
	hs.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	hs.SetSum(1)
	hs.ExplicitBounds().FromRaw([]float64{1})
	hs.BucketCounts().FromRaw([]uint64{0, 0})
	hs.Attributes().PutStr("model", "gone")

	q := appendMetric(ms, "latency_summary", "ms")
	qp := q.SetEmptySummary().DataPoints().AppendEmpty()
	qp.SetTimestamp(ts)
	qp.SetCount(5)
	qp.SetSum(100)
	for _, qq := range [][2]float64{{0.5, 10}, {0.99, 40}} {
		v := qp.QuantileValues().AppendEmpty()
		v.SetQuantile(qq[0])
		v.SetValue(qq[1])
	}

	x := appendMetric(ms, "tokens", "{token}")
	eh := x.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i, scale := range []int32{3, 10, -2} {
		p := eh.DataPoints().AppendEmpty()
		p.SetTimestamp(ts)
		p.SetScale(scale)
		p.SetCount(30)
		p.SetSum(99)
		p.SetZeroCount(2)
		p.Positive().SetOffset(-3)
		p.Positive().BucketCounts().FromRaw([]uint64{0, 0, 1, 2, 0, 0, 0, 0, 3, 0, 4, 5, 0, 0, 0, 6})
		p.Negative().SetOffset(int32(5 - i*7))
		p.Negative().BucketCounts().FromRaw([]uint64{1, 0, 1, 0, 0, 7})
		p.Attributes().PutInt("scale", int64(scale))
		if i == 1 {
			p.SetZeroThreshold(0.001)
			p.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
	}

	// A second resource with the same identity: its points land on the first one's series.
	rm2 := md.ResourceMetrics().AppendEmpty()
	rm.Resource().CopyTo(rm2.Resource())
	sm2 := rm2.ScopeMetrics().AppendEmpty()
	sm.Scope().CopyTo(sm2.Scope())
	s2 := appendMetric(sm2.Metrics(), "queue.depth", "By").SetEmptySum()
	s2.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	p2 := s2.DataPoints().AppendEmpty()
	p2.SetTimestamp(ts + 5e6)
	p2.SetDoubleValue(7)

	// A resource with only service.name: target_info needs other attributes, so none.
	rm3 := md.ResourceMetrics().AppendEmpty()
	rm3.Resource().Attributes().PutStr("service.name", "bare")
	g3 := rm3.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g3.SetName("up")
	p3 := g3.SetEmptyGauge().DataPoints().AppendEmpty()
	p3.SetTimestamp(ts)
	p3.SetIntValue(1)
	return md
}

// TestFlushKeepsTimeOrderWithinASeries: batches merged out of order, cut into requests of 2 samples:
// the series' samples still go in time order, in consecutive pieces.
func TestFlushKeepsTimeOrderWithinASeries(t *testing.T) {
	e := New(Settings{})
	for _, sec := range []int64{5, 1, 4, 2, 3} {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("x")
		p := m.SetEmptyGauge().DataPoints().AppendEmpty()
		p.SetTimestamp(pcommon.Timestamp(sec * 1e9))
		p.SetDoubleValue(float64(sec))
		require.NoError(t, e.Add(md))
	}
	var order []int64
	requests := 0
	require.True(t, e.Flush(V1, 2, func(raw []byte, n int) bool {
		var req prompb.WriteRequest
		require.NoError(t, req.Unmarshal(raw))
		require.LessOrEqual(t, n, 2)
		requests++
		for _, s := range req.Timeseries[0].Samples {
			order = append(order, s.Timestamp)
		}
		return true
	}))
	assert.Equal(t, 3, requests)
	assert.Equal(t, []int64{1000, 2000, 3000, 4000, 5000}, order)
	assert.Zero(t, e.Pending(), "a flush leaves nothing pending")

	// An interrupted flush (shutdown) drops what it did not send: the batches stay queued instead.
	_ = e.Add(synthetic(time.Unix(1700000000, 0)))
	calls := 0
	assert.False(t, e.Flush(V1, 3, func([]byte, int) bool { calls++; return false }))
	assert.Equal(t, 1, calls)
	assert.Zero(t, e.Pending())
}

// TestHostileInputDoesNotBreakTheEncoder: extreme offsets and scales, bounds and counts that do not
// match, NaN quantiles, map and slice attributes, empty keys, a huge value: nothing panics, what can
// be sent decodes, and the rest is named in the error.
func TestHostileInputDoesNotBreakTheEncoder(t *testing.T) {
	md, ms := oneScope()
	ehs := appendMetric(ms, "exp", "").SetEmptyExponentialHistogram()
	ehs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, c := range []struct {
		scale, offset int32
	}{{20, math.MaxInt32 - 2}, {-10, 0}, {8, math.MinInt32 + 1}, {0, -5}} {
		p := ehs.DataPoints().AppendEmpty()
		p.SetScale(c.scale)
		p.Positive().SetOffset(c.offset)
		p.Positive().BucketCounts().FromRaw([]uint64{1, 0, 0, 0, 0, 2, 3})
		p.Attributes().PutInt("scale", int64(c.scale))
	}
	hs := appendMetric(ms, "hist", "").SetEmptyHistogram()
	hs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hs.DataPoints().AppendEmpty()
	hp.ExplicitBounds().FromRaw([]float64{math.NaN(), math.Inf(1), -1})
	hp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6})
	hp.Exemplars().AppendEmpty().SetDoubleValue(math.NaN())
	qp := appendMetric(ms, "sum", "").SetEmptySummary().DataPoints().AppendEmpty()
	qp.QuantileValues().AppendEmpty().SetQuantile(math.NaN())
	gp := appendMetric(ms, "g", "").SetEmptyGauge().DataPoints().AppendEmpty()
	gp.Attributes().PutEmptyMap("m").PutStr("k", "v")
	gp.Attributes().PutEmptySlice("s").AppendEmpty().SetInt(1)
	gp.Attributes().PutStr("big", strings.Repeat("x", 1<<16))
	gp.Attributes().PutEmptyBytes("b").FromRaw([]byte{0, 1})
	appendMetric(ms, "bad", "").SetEmptyGauge().DataPoints().AppendEmpty().Attributes().PutStr("", "x")

	for _, p := range []Protocol{V1, V2} {
		e := New(Settings{AddMetricSuffixes: true})
		for range 2 { // new streams, then kept ones
			err := e.Add(md)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Scale must be >= -4")
			assert.Contains(t, err.Error(), "label name is empty")
			sent := 0
			require.True(t, e.Flush(p, 3, func(raw []byte, n int) bool {
				if p == V1 {
					var req prompb.WriteRequest
					require.NoError(t, req.Unmarshal(raw))
				} else {
					var req writev2.Request
					require.NoError(t, req.Unmarshal(raw))
				}
				sent += n
				return true
			}))
			assert.Positive(t, sent)
		}
	}
}
