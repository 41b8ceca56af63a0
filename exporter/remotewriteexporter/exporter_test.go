package remotewriteexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

// backend is a fake remote-write receiver: it decodes each request and answers with the next status
// of its script (then 204).
type backend struct {
	mu       sync.Mutex
	requests []*prompb.WriteRequest
	script   []int
	headers  []http.Header
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	body, err := snappy.Decode(nil, raw)
	if err != nil {
		http.Error(w, "not snappy", http.StatusBadRequest)
		return
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(body); err != nil {
		http.Error(w, "not a WriteRequest", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.headers = append(b.headers, r.Header.Clone())
	status := http.StatusNoContent
	if len(b.script) > 0 {
		status, b.script = b.script[0], b.script[1:]
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	if status/100 == 2 {
		b.requests = append(b.requests, &req)
	}
	msg := map[int]string{400: "out of order sample", 500: "tsdb busy", 429: "slow down"}[status]
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// gauge builds one point of a gauge "step" at second t with value v.
func gauge(t int64, v float64, series int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "vllm")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("step")
	g := m.SetEmptyGauge()
	for s := 0; s < series; s++ {
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(t * int64(time.Second)))
		dp.SetDoubleValue(v)
		dp.Attributes().PutInt("s", int64(s))
	}
	return md
}

func newTestExporter(t *testing.T, b http.Handler, mutate func(*Config)) (func(pmetric.Metrics), func()) {
	t.Helper()
	return newTestExporterSet(t, b, exportertest.NewNopSettings(metadata.Type), mutate)
}

// newTestExporterSet is newTestExporter with the exporter's settings (telemetry, logger).
func newTestExporterSet(t *testing.T, b http.Handler, set exporter.Settings, mutate func(*Config)) (func(pmetric.Metrics), func()) {
	t.Helper()
	srv := httptest.NewServer(b)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL + "/api/v1/write"
	cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 20 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	send := func(md pmetric.Metrics) { require.NoError(t, exp.ConsumeMetrics(context.Background(), md)) }
	stop := func() {
		require.NoError(t, exp.Shutdown(context.Background()))
		srv.Close()
	}
	return send, stop
}

// stepsOf lists the values of the "step" series with s="0", in the order the backend received them.
func (b *backend) stepsOf() []float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []float64
	seen := map[int64]bool{}
	for _, r := range b.requests {
		for _, ts := range r.Timeseries {
			isStep, s0 := false, false
			for _, l := range ts.Labels {
				isStep = isStep || (l.Name == "__name__" && l.Value == "step")
				s0 = s0 || (l.Name == "s" && l.Value == "0")
			}
			if !isStep || !s0 {
				continue
			}
			for _, smp := range ts.Samples {
				if !seen[smp.Timestamp] { // a retried request repeats what was taken: Prometheus accepts exact duplicates
					out = append(out, smp.Value)
				}
				seen[smp.Timestamp] = true
			}
		}
	}
	return out
}

func TestInOrderAcrossRetries(t *testing.T) {
	b := &backend{script: []int{500, 500, 429, 204, 503}}
	send, stop := newTestExporter(t, b, nil)
	for i := int64(1); i <= 20; i++ {
		send(gauge(i, float64(i), 1))
	}
	require.Eventually(t, func() bool { return len(b.stepsOf()) == 20 }, 10*time.Second, 10*time.Millisecond)
	stop()
	got := b.stepsOf()
	for i, v := range got {
		assert.InDelta(t, float64(i+1), v, 0, "sample %d arrived out of order: %v", i, got)
	}
	assert.Equal(t, "snappy", b.headers[0].Get("Content-Encoding"))
	assert.Equal(t, "0.1.0", b.headers[0].Get("X-Prometheus-Remote-Write-Version"))
}

func TestRejectedSamplesAreDroppedNotRetried(t *testing.T) {
	b := &backend{script: []int{400}}
	send, stop := newTestExporter(t, b, func(c *Config) { c.MaxSamplesPerRequest = 5 })
	// 12 series in one push: three requests of 5, 5 and 2 samples; the first is refused for good.
	send(gauge(1, 1, 12))
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.headers) == 3
	}, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	assert.Len(t, b.headers, 3, "a 400 is not retried")
	require.Len(t, b.requests, 2)
	assert.Equal(t, 5, samplesIn(b.requests[0]))
	assert.Equal(t, 2, samplesIn(b.requests[1]))
}

func samplesIn(req *prompb.WriteRequest) int {
	n := 0
	for _, ts := range req.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	return n
}

func TestDropReasonAndRetryAfter(t *testing.T) {
	assert.Equal(t, "out_of_order", dropReason("out of order sample"))
	assert.Equal(t, "duplicate", dropReason("duplicate sample for timestamp"))
	assert.Equal(t, "too_old", dropReason("out of bounds"))
	assert.Equal(t, "bad_request", dropReason("label name invalid"))
	d, ok := retryAfter("3")
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	_, ok = retryAfter("soon")
	assert.False(t, ok)
}

func TestConfigValidate(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	require.ErrorContains(t, cfg.Validate(), `"endpoint" must be specified`)
	cfg.Endpoint = "http://127.0.0.1:9090/api/v1/write"
	require.NoError(t, cfg.Validate())
	cfg.QueueConfig.QueueSize = 0
	require.ErrorContains(t, cfg.Validate(), `"sending_queue.queue_size" must be positive`)
	cfg.QueueConfig.QueueSize = 10
	cfg.MaxSamplesPerRequest = 0
	require.ErrorContains(t, cfg.Validate(), `"max_samples_per_request" must be positive`)
	cfg.MaxSamplesPerRequest = 10

	// The keys users copy from every other exporter: accepted where they mean what this queue does.
	on, off := true, false
	cfg.QueueConfig.Enabled, cfg.QueueConfig.NumConsumers = &on, 1
	require.NoError(t, cfg.Validate())
	cfg.QueueConfig.Enabled = &off
	require.ErrorContains(t, cfg.Validate(), `always queues`)
	cfg.QueueConfig.Enabled, cfg.QueueConfig.NumConsumers = &on, 4
	require.ErrorContains(t, cfg.Validate(), `"sending_queue.num_consumers" must be 1 (got 4)`)
	cfg.QueueConfig.NumConsumers = 1
	cfg.MaxRetryAfter = -time.Second
	require.ErrorContains(t, cfg.Validate(), `"max_retry_after" must not be negative`)
}

// As a new user writes it, copied from another exporter.
func TestSendingQueueCommonKeysLoad(t *testing.T) {
	cm := confmap.NewFromStringMap(map[string]any{
		"endpoint":      "http://127.0.0.1:9090/api/v1/write",
		"sending_queue": map[string]any{"enabled": true, "storage": "file_storage", "num_consumers": 1, "queue_size": 500},
	})
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, cm.Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	assert.Equal(t, "file_storage", cfg.QueueConfig.Storage.String())
	assert.Equal(t, 500, cfg.QueueConfig.QueueSize)
}

func TestLargePushIsSplitInOrder(t *testing.T) {
	md := pmetric.NewMetrics()
	for i := 0; i < 150; i++ {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt("i", int64(i))
	}
	parts := splitResources(md, 64)
	require.Len(t, parts, 3)
	assert.Equal(t, 64, parts[0].ResourceMetrics().Len())
	assert.Equal(t, 22, parts[2].ResourceMetrics().Len())
	first, _ := parts[1].ResourceMetrics().At(0).Resource().Attributes().Get("i")
	assert.Equal(t, int64(64), first.Int())
	assert.Len(t, splitResources(gauge(1, 1, 1), 64), 1)
}

// TestCompressBufferReusedOnlyWhenReleased: the compressed request's buffer is reused once the
// transport closed every body sent from it, and left to the transport otherwise.
func TestCompressBufferReusedOnlyWhenReleased(t *testing.T) {
	e := &rwExporter{}
	first := e.compress([]byte("one request"))
	b := &sentBody{}
	e.bodies = append(e.bodies, b)
	b.closed.Store(true)
	second := e.compress([]byte("two request"))
	assert.Same(t, &first[0], &second[0], "released: reused")

	e.bodies = append(e.bodies, &sentBody{}) // not closed: the transport may still read it
	third := e.compress([]byte("three request"))
	assert.NotSame(t, &second[0], &third[0], "still held: a new buffer")
	assert.Equal(t, "two request", string(mustSnappyDecode(t, second)), "the held request is left intact")
}

func mustSnappyDecode(t *testing.T, b []byte) []byte {
	out, err := snappy.Decode(nil, b)
	require.NoError(t, err)
	return out
}

// TestResourceToTelemetry: with resource_to_telemetry_conversion the resource's attributes are
// labels of its series (service.* left out with exclude_service_attributes), and the pipeline's data
// is not changed (the encoder reads them; nothing is copied into the points).
func TestResourceToTelemetry(t *testing.T) {
	for _, exclude := range []bool{false, true} {
		b := &backend{}
		send, stop := newTestExporter(t, b, func(c *Config) {
			c.ResourceToTelemetry.Enabled = true
			c.ResourceToTelemetry.ExcludeServiceAttributes = exclude
		})
		md := gauge(1, 1, 1)
		md.ResourceMetrics().At(0).Resource().Attributes().PutStr("k8s.pod.name", "vllm-0")
		send(md)
		require.Eventually(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.requests) > 0 }, 5*time.Second, 10*time.Millisecond)
		stop()
		assert.Equal(t, 1, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().Len(), "the points are left as they were")
		b.mu.Lock()
		var labels map[string]string
		for _, ts := range b.requests[0].Timeseries {
			ls := map[string]string{}
			for _, l := range ts.Labels {
				ls[l.Name] = l.Value
			}
			if ls["__name__"] == "step" {
				labels = ls
			}
		}
		require.NotNil(t, labels, "the step series was sent")
		b.mu.Unlock()
		assert.Equal(t, "vllm-0", labels["k8s_pod_name"])
		assert.Equal(t, "vllm", labels["job"])
		_, hasService := labels["service_name"]
		assert.Equal(t, !exclude, hasService, "service.name as a label unless excluded")
	}
}

// TestRoundsAreBounded: a backlog is sent in rounds of at most bytesPerSend encoded bytes, or, for
// an in-memory queue, pointsPerSend points; a round always takes at least one batch.
func TestRoundsAreBounded(t *testing.T) {
	e := &rwExporter{}
	big := make([]byte, bytesPerSend/2+1)
	assert.Len(t, e.round([][]byte{big, big, big}), 1)
	assert.Len(t, e.round([][]byte{make([]byte, 2*bytesPerSend)}), 1, "one batch larger than the bound still goes")
	assert.Len(t, e.round([][]byte{{1}, {2}, {3}}), 3)

	e = &rwExporter{inMemory: true, pointsPerSend: 25}
	for i := range 10 {
		e.memq = append(e.memq, gauge(int64(i), 1, 10))
	}
	assert.Len(t, e.round(make([][]byte, 10)), 2, "10 + 10 points, the third push would pass 25")
	e.memDrop(2)
	assert.Len(t, e.memq, 8)
	e.pointsPerSend = 5
	assert.Len(t, e.round(make([][]byte, 8)), 1)
}
