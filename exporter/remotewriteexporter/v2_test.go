package remotewriteexporter

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

// backendV2 is a remote-write receiver that takes 2.0 (unless v1Only: then 2.0 gets v2Status, a 415
// as Prometheus 3 answers or a 400 as an older receiver does) and 1.0. It reports written counts
// (minus notWritten) in the 2.0 response headers.
type backendV2 struct {
	mu         sync.Mutex
	v1Only     bool
	v2Status   int
	silent     bool // answers 2.0 requests 204 without written counts, storing nothing (Prometheus 2.x)
	notWritten int
	v2, v1     int               // requests taken, by protocol
	values     map[int64]float64 // step{s="0"} by timestamp, from either protocol
	meta       []writev2.Metadata
	rejected   int
	maxPer     int                            // most samples in one 2.0 request
	exemplars  map[string][]map[string]string // series name{le} → its exemplars' labels (and "value")
}

func (b *backendV2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	body, err := snappy.Decode(nil, raw)
	if err != nil {
		http.Error(w, "not snappy", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.values == nil {
		b.values = map[int64]float64{}
	}
	if r.Header.Get("Content-Type") == contentTypeV2 {
		if r.Header.Get("X-Prometheus-Remote-Write-Version") != "2.0.0" {
			http.Error(w, "no 2.0 version header", http.StatusBadRequest)
			return
		}
		if b.v1Only {
			b.rejected++
			if b.silent {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			http.Error(w, "unsupported", b.v2Status)
			return
		}
		var req writev2.Request
		if err := req.Unmarshal(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.v2++
		n := 0
		for _, ts := range req.Timeseries {
			labels := map[string]string{}
			for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
				labels[req.Symbols[ts.LabelsRefs[i]]] = req.Symbols[ts.LabelsRefs[i+1]]
			}
			for _, ex := range ts.Exemplars {
				if b.exemplars == nil {
					b.exemplars = map[string][]map[string]string{}
				}
				el := map[string]string{"value": strconv.FormatFloat(ex.Value, 'g', -1, 64)}
				for i := 0; i+1 < len(ex.LabelsRefs); i += 2 {
					el[req.Symbols[ex.LabelsRefs[i]]] = req.Symbols[ex.LabelsRefs[i+1]]
				}
				key := labels["__name__"] + "{" + labels["le"] + "}"
				b.exemplars[key] = append(b.exemplars[key], el)
			}
			if labels["__name__"] == "step" && labels["s"] == "0" {
				for _, s := range ts.Samples {
					b.values[s.Timestamp] = s.Value
				}
				b.meta = append(b.meta, ts.Metadata)
			}
			n += len(ts.Samples)
		}
		b.maxPer = max(b.maxPer, n)
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", strconv.Itoa(n-b.notWritten))
		w.Header().Set("X-Prometheus-Remote-Write-Histograms-Written", "0")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.v1++
	for _, ts := range req.Timeseries {
		name, s0 := "", false
		for _, l := range ts.Labels {
			if l.Name == "__name__" {
				name = l.Value
			}
			s0 = s0 || (l.Name == "s" && l.Value == "0")
		}
		if name == "step" && s0 {
			for _, s := range ts.Samples {
				b.values[s.Timestamp] = s.Value
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *backendV2) got() (v2, v1, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v2, b.v1, len(b.values)
}

// Protocol v2: 2.0 requests with interned symbols and the metric's type per series; split by
// max_samples_per_request, each request with its symbols.
func TestRemoteWriteV2(t *testing.T) {
	b := &backendV2{}
	send, stop := newTestExporter(t, b, func(c *Config) { c.Protocol = protocolV2; c.MaxSamplesPerRequest = 4 })
	for i := int64(1); i <= 5; i++ {
		send(gauge(i, float64(i), 6)) // 6 series: two requests per push
	}
	// 30 samples, at most 4 a request: at least 8 requests (waiting for them all, not only s="0").
	require.Eventually(t, func() bool { v2, _, n := b.got(); return n == 5 && v2 >= 8 }, 5*time.Second, 10*time.Millisecond)
	stop()
	_, v1, _ := b.got()
	assert.LessOrEqual(t, b.maxPer, 4)
	assert.Zero(t, v1)
	for i := int64(1); i <= 5; i++ {
		assert.InDelta(t, float64(i), b.values[i*1000], 0)
	}
	require.NotEmpty(t, b.meta)
	assert.Equal(t, writev2.Metadata_METRIC_TYPE_GAUGE, b.meta[0].Type)
}

// A receiver that answers 2.0 with 415 (Prometheus 3 without 2.0 enabled), with a 400 before any 2.0
// request worked, or with a 204 that says nothing of what it wrote (Prometheus 2.x reads a 2.0
// request as 1.0 and stores nothing): the same batches go as 1.0, nothing is lost, and later batches
// go as 1.0 too.
func TestRemoteWriteV2FallsBackToV1(t *testing.T) {
	for _, status := range []int{http.StatusUnsupportedMediaType, http.StatusBadRequest, http.StatusNoContent} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			b := &backendV2{v1Only: true, v2Status: status, silent: status == http.StatusNoContent}
			send, stop := newTestExporter(t, b, func(c *Config) { c.Protocol = protocolV2 })
			for i := int64(1); i <= 5; i++ {
				send(gauge(i, float64(i), 2))
			}
			require.Eventually(t, func() bool { _, _, n := b.got(); return n == 5 }, 5*time.Second, 10*time.Millisecond)
			stop()
			b.mu.Lock()
			defer b.mu.Unlock()
			assert.Equal(t, 1, b.rejected, "2.0 tried once, then 1.0")
			for i := int64(1); i <= 5; i++ {
				assert.InDelta(t, float64(i), b.values[i*1000], 0)
			}
		})
	}
}

// After 2.0 worked, a 400 is a refusal of those samples (dropped and counted), not a reason to fall
// back; the receiver's written counts below what was sent are dropped samples.
func TestRemoteWriteV2RefusalAndNotWritten(t *testing.T) {
	b := &backendV2{notWritten: 1}
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	send, stop := newTestExporterSet(t, b, set, func(c *Config) { c.Protocol = protocolV2 })
	send(gauge(1, 1, 3))
	require.Eventually(t, func() bool { v2, _, _ := b.got(); return v2 == 1 }, 5*time.Second, 10*time.Millisecond)
	b.mu.Lock()
	b.v1Only, b.v2Status = true, http.StatusBadRequest
	b.mu.Unlock()
	send(gauge(2, 2, 3))
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.rejected == 1
	}, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	stop()
	_, v1, _ := b.got()
	assert.Zero(t, v1, "no fallback once 2.0 worked")
	m, err := tel.GetMetric("otelcol_exporter_remote_write_samples_dropped")
	require.NoError(t, err)
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok)
	dropped := map[string]int64{}
	for _, dp := range sum.DataPoints {
		reason, _ := dp.Attributes.Value("reason")
		dropped[reason.AsString()] = dp.Value
	}
	assert.Equal(t, map[string]int64{"not_written": 1, "bad_request": 3}, dropped)
}

// Under 2.0, a classic histogram's exemplar reaches its bucket series as under 1.0 (contrib's 2.0
// translator alone drops it).
func TestRemoteWriteV2HistogramExemplars(t *testing.T) {
	b := &backendV2{}
	send, stop := newTestExporter(t, b, func(c *Config) { c.Protocol = protocolV2 })
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "vllm")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("latency")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(10 * time.Second))
	dp.ExplicitBounds().FromRaw([]float64{0.1, 0.5})
	dp.BucketCounts().FromRaw([]uint64{100, 150, 750})
	dp.SetCount(1000)
	dp.SetSum(450.5)
	ex := dp.Exemplars().AppendEmpty()
	ex.SetDoubleValue(0.05)
	ex.SetTimestamp(pcommon.Timestamp(9 * time.Second))
	ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	send(md)
	require.Eventually(t, func() bool { v2, _, _ := b.got(); return v2 >= 1 }, 5*time.Second, 10*time.Millisecond)
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	got := b.exemplars["latency_seconds_bucket{0.1}"]
	require.Len(t, got, 1, "exemplars by series: %v", b.exemplars)
	assert.Equal(t, "0.05", got[0]["value"])
	assert.Equal(t, "0102030405060708090a0b0c0d0e0f10", got[0]["trace_id"])
	assert.Len(t, b.exemplars, 1, "on its bucket only")
}
