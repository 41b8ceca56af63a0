package inferencereceiver

import (
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// Facts of payloads built from the servers' current sources (testdata/payloads/README.md), checked
// by hand.

func pointsByAttr(m pmetric.Metric, key string) map[string]float64 {
	out := map[string]float64{}
	dps := testbed.NumberPoints(m)
	for i := 0; i < dps.Len(); i++ {
		k := ""
		if v, ok := dps.At(i).Attributes().Get(key); ok {
			k = v.AsString()
		}
		out[k] += dps.At(i).DoubleValue()
	}
	return out
}

// vLLM v1 in the classic text format: prometheus_client's _created gauges are the start times of
// their counters and histograms, not metrics of their own.
func TestVLLMCreatedAreStartTimes(t *testing.T) {
	srv := serveRoutes(t, metricsRoute("testdata/payloads/vllm-v1-text.txt"))
	md, err := scrapeOnce(t, testConfig(serverConfig("vllm", srv.URL+"/metrics", "vllm")))
	require.NoError(t, err)
	metrics := byName(md.ResourceMetrics().At(0))
	for name := range metrics {
		assert.NotContains(t, name, "_created")
	}
	reqs := metrics["inference.requests"].Sum().DataPoints()
	require.Equal(t, 3, reqs.Len())
	starts := map[string]pcommon.Timestamp{}
	for i := 0; i < reqs.Len(); i++ {
		reason, _ := reqs.At(i).Attributes().Get("inference.finish_reason")
		engine, _ := reqs.At(i).Attributes().Get("engine")
		starts[engine.Str()+"/"+reason.Str()] = reqs.At(i).StartTimestamp()
	}
	assert.Equal(t, pcommon.Timestamp(1_764_100_000_000*1e6), starts["0/stop"])
	assert.Equal(t, pcommon.Timestamp(1_764_100_012_500*1e6), starts["0/abort"])
	assert.Equal(t, map[string]float64{"success": 171, "aborted": 4}, pointsByAttr(metrics["inference.requests"], "inference.outcome"))
	lat := metrics["gen_ai.server.request.duration"].Histogram().DataPoints().At(0)
	assert.Equal(t, pcommon.Timestamp(1_764_100_000_000*1e6), lat.StartTimestamp())
	assert.Equal(t, []uint64{10, 50, 34}, lat.BucketCounts().AsRaw())
	assert.Equal(t, map[string]float64{"0": 3, "1": 2}, pointsByAttr(metrics["inference.requests.running"], "engine"), "one point per data-parallel engine")

	// Time per output token is per request, as semconv defines it (its count is the requests'); the
	// per-token intervals have their own name.
	tpot := metrics["gen_ai.server.time_per_output_token"].Histogram().DataPoints().At(0)
	assert.Equal(t, uint64(94), tpot.Count())
	assert.Equal(t, lat.Count(), tpot.Count(), "one observation per request")
	provider, _ := tpot.Attributes().Get("gen_ai.provider.name")
	assert.Equal(t, "vllm", provider.Str())
	itl := metrics["inference.inter_token.duration"].Histogram().DataPoints().At(0)
	assert.Equal(t, uint64(47899), itl.Count())
	assert.NotContains(t, metrics, "vllm:request_time_per_output_token_seconds")
	assert.NotContains(t, metrics, "vllm:inter_token_latency_seconds")
}

// SGLang with priority scheduling: the total (priority="", read as no priority) is mapped; the
// per-priority points pass through, so sums do not double.
func TestSGLangPriorityTotals(t *testing.T) {
	srv := serveRoutes(t, metricsRoute("testdata/payloads/sglang-priority.txt"))
	md, err := scrapeOnce(t, testConfig(serverConfig("sglang", srv.URL+"/metrics", "sglang")))
	require.NoError(t, err)
	metrics := byName(md.ResourceMetrics().At(0))
	running := metrics["inference.requests.running"].Gauge().DataPoints()
	require.Equal(t, 1, running.Len())
	assert.InDelta(t, 12.0, running.At(0).DoubleValue(), 0)
	_, hasPriority := running.At(0).Attributes().Get("priority")
	assert.False(t, hasPriority, "an empty label value is no attribute")
	assert.InDelta(t, 4.0, metrics["inference.requests.queued"].Gauge().DataPoints().At(0).DoubleValue(), 0)
	assert.Equal(t, map[string]float64{"": 12, "0": 7, "1": 5}, pointsByAttr(metrics["sglang:num_running_reqs"], "priority"), "the breakdown passes through")
	assert.NotContains(t, metrics, "sglang:token_usage", "a family without breakdown is mapped whole")
}

// Triton: µs counters divided exactly, the first-response histogram (ms) as time to first token in
// seconds, and cancellations as aborted rather than errors.
func TestTritonCurrent(t *testing.T) {
	srv := serveRoutes(t, metricsRoute("testdata/payloads/triton-current.txt"))
	md, err := scrapeOnce(t, testConfig(serverConfig("triton", srv.URL+"/metrics", "triton")))
	require.NoError(t, err)
	metrics := byName(md.ResourceMetrics().At(0))
	assert.Equal(t, map[string]float64{"success": 200, "aborted": 30, "error": 2}, pointsByAttr(metrics["inference.requests"], "inference.outcome"))
	assert.Equal(t, map[string]float64{"": 200, "REJECTED": 0, "CANCELED": 30, "BACKEND": 2, "OTHER": 0}, pointsByAttr(metrics["inference.requests"], "error.type"))
	assert.Equal(t, 3.2, metrics["inference.requests.duration"].Sum().DataPoints().At(0).DoubleValue(), "3,200,000 µs is exactly 3.2 s") //nolint:testifylint // unit scaling is exact by design
	assert.Equal(t, 1.1, metrics["inference.requests.queue.duration"].Sum().DataPoints().At(0).DoubleValue())                            //nolint:testifylint // exact scaling
	ttft := metrics["gen_ai.server.time_to_first_token"]
	require.Equal(t, "s", ttft.Unit())
	dp := ttft.Histogram().DataPoints().At(0)
	assert.Equal(t, []float64{0.1, 0.5, 2, 5}, dp.ExplicitBounds().AsRaw())
	assert.Equal(t, []uint64{120, 70, 10, 0, 0}, dp.BucketCounts().AsRaw())
	assert.Equal(t, 23.0, dp.Sum()) //nolint:testifylint // exact scaling
	assert.NotContains(t, metrics, "nv_inference_first_response_histogram_ms")
}

// llama.cpp: the model from /v1/models, cached prompt tokens counted as input, and a changed
// Process-Start-Time-Unix header read as a restart.
func TestLlamaCPPCurrent(t *testing.T) {
	metricsBody, err := os.ReadFile("testdata/payloads/llamacpp-current.txt")
	require.NoError(t, err)
	models, err := os.ReadFile("testdata/payloads/llamacpp-models.json")
	require.NoError(t, err)
	var token atomic.Value
	token.Store("123456789")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Process-Start-Time-Unix", token.Load().(string))
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write(metricsBody)
		case "/v1/models":
			_, _ = w.Write(models)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	g := startGroup(t, testConfig(serverConfig("llama", srv.URL+"/metrics", "")), receivertest.NewNopSettings(metadata.Type))
	md, err := scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, "llamacpp", flavorOf(md))
	tokens := byName(md.ResourceMetrics().At(0))["inference.tokens"]
	assert.Equal(t, map[string]float64{"input": 6886 + 3114, "output": 3469}, pointsByAttr(tokens, "gen_ai.token.type"))
	assert.Equal(t, map[string]float64{"": 6886 + 3469, "true": 3114}, pointsByAttr(tokens, "inference.token.cached"))
	model, _ := tokens.Sum().DataPoints().At(0).Attributes().Get("gen_ai.request.model")
	assert.Equal(t, "qwen2.5-7b-instruct-q4_k_m.gguf", model.Str())
	first := tokens.Sum().DataPoints().At(0).StartTimestamp()

	md, err = scrapeAll(g)
	require.NoError(t, err)
	same := byName(md.ResourceMetrics().At(0))["inference.tokens"].Sum().DataPoints().At(0).StartTimestamp()
	assert.Equal(t, first, same, "same process: same start")

	token.Store("987654321") // restarted; the counters happen to read the same
	md, err = scrapeAll(g)
	require.NoError(t, err)
	moved := byName(md.ResourceMetrics().At(0))["inference.tokens"].Sum().DataPoints().At(0).StartTimestamp()
	assert.Greater(t, moved, first, "a new Process-Start-Time-Unix restarts the counters")
}

// Ollama: keep_alive -1 (expiry ~292 years away) gives no unload time; a list with null or nameless
// entries is not Ollama's answer.
func TestOllamaEdges(t *testing.T) {
	srv := serveRoutes(t, map[string]route{"/api/ps": {File: "testdata/payloads/ollama-ps-keepalive.json", ContentType: "application/json"}})
	md, err := scrapeOnce(t, testConfig(serverConfig("ollama", srv.URL, "ollama")))
	require.NoError(t, err)
	metrics := byName(md.ResourceMetrics().At(0))
	assert.Equal(t, int64(2), metrics["inference.models.loaded"].Gauge().DataPoints().At(0).IntValue())
	unload := pointsByAttr(metrics["inference.model.unload_in"], "gen_ai.request.model")
	assert.NotContains(t, unload, "llama3.2:latest", "kept loaded for good: no unload time")
	assert.Contains(t, unload, "qwen3:8b")
	assert.Less(t, unload["qwen3:8b"], 100*365*24*3600.0)

	for _, body := range []string{`{"models":[null]}`, `{"models":[{"name":null}]}`, `{"other":1}`} {
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
		md, err := scrapeOnce(t, testConfig(serverConfig("ollama", bad.URL, "ollama")))
		bad.Close()
		require.ErrorContains(t, err, "not Ollama's /api/ps answer", body)
		assert.Equal(t, int64(0), upOf(md), body)
	}
}

// A server's scrape reports the GPU energy attributed to it, on its own resource, beside its tokens
// (so that the default energy-per-token rule divides them).
func TestServerEnergyOnItsResource(t *testing.T) {
	srv := serveRoutes(t, metricsRoute("testdata/payloads/vllm-v1-text.txt"))
	g := startGroup(t, testConfig(serverConfig("vllm-a", srv.URL+"/metrics", "vllm")), receivertest.NewNopSettings(metadata.Type))
	md, err := scrapeAll(g)
	require.NoError(t, err)
	assert.NotContains(t, byName(md.ResourceMetrics().At(0)), "inference.server.energy", "nothing attributed yet: no point")
	g.energy = gpu.NewServerLedger()
	g.energy.Add("vllm-a", 123.5)
	md, err = scrapeAll(g)
	require.NoError(t, err)
	metrics := byName(md.ResourceMetrics().At(0))
	e := metrics["inference.server.energy"]
	require.Equal(t, pmetric.MetricTypeSum, e.Type())
	assert.Equal(t, "J", e.Unit())
	assert.InDelta(t, 123.5, e.Sum().DataPoints().At(0).DoubleValue(), 0)
	assert.Contains(t, metrics, "inference.tokens")
}

// A server whose process the GPU join found in a pod carries the pod on its resource; before that,
// nothing of Kubernetes.
func TestServerPodOnItsResource(t *testing.T) {
	srv := serveRoutes(t, metricsRoute("testdata/payloads/vllm-v1-text.txt"))
	g := startGroup(t, testConfig(serverConfig("vllm-a", srv.URL+"/metrics", "vllm")), receivertest.NewNopSettings(metadata.Type))
	g.energy = gpu.NewServerLedger()
	md, err := scrapeAll(g)
	require.NoError(t, err)
	attrs := md.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	for _, k := range []string{"k8s.pod.name", "k8s.namespace.name", "k8s.container.name", "k8s.pod.uid", "container.id"} {
		assert.NotContains(t, attrs, k)
	}
	g.energy.SetPod("vllm-a", kubepod.Pod{
		Ref:   kubepod.Ref{PodUID: "9e3c2f71-4b8a-4d6e-a1f0-2c7d9b5e8a34", ContainerID: "f2a9c4e1b7d3"},
		Owner: kubepod.Owner{Namespace: "serving", Pod: "vllm-0", Container: "vllm"}, Named: true,
	})
	g.energy.SetPod("other", kubepod.Pod{Ref: kubepod.Ref{PodUID: "x"}})
	md, err = scrapeAll(g)
	require.NoError(t, err)
	attrs = md.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, "serving", attrs["k8s.namespace.name"])
	assert.Equal(t, "vllm-0", attrs["k8s.pod.name"])
	assert.Equal(t, "vllm", attrs["k8s.container.name"])
	assert.Equal(t, "9e3c2f71-4b8a-4d6e-a1f0-2c7d9b5e8a34", attrs["k8s.pod.uid"])
	assert.Equal(t, "f2a9c4e1b7d3", attrs["container.id"])
	assert.Equal(t, "vllm-a", attrs["inference.server.name"])
}
