package e2e

import (
	"fmt"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// serveFiles replays recorded payloads over real HTTP: path → file.
func serveFiles(t *testing.T, files map[string]string) *httptest.Server {
	t.Helper()
	routes := map[string]replay.Route{}
	for path, f := range files {
		routes[path] = replay.Route{File: f}
	}
	h, err := replay.Files(routes)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestFlavorsIntoOneSchema scrapes vLLM, TGI, Triton and an app exporter at once (recorded payloads)
// and checks that one unified query over Prometheus returns all of them.
func TestFlavorsIntoOneSchema(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	const ms = "../../testdata/modelservers/"
	vllm := serveFiles(t, map[string]string{"/metrics": ms + "vllm/datadog-vllm_metrics.txt"})
	tgi := serveFiles(t, map[string]string{"/metrics": ms + "tgi/datadog-tgi_payload.txt", "/info": "../../receiver/inferencereceiver/testdata/payloads/tgi-info.json"})
	triton := serveFiles(t, map[string]string{"/metrics": ms + "triton/datadog-triton_metrics.txt"})
	app := serveFiles(t, map[string]string{"/metrics": "../../receiver/inferencereceiver/testdata/payloads/app.txt"})
	prom := startPrometheus(t, prometheusBin)

	collector := startCollector(t, collectorBin, inferenceServers()+fmt.Sprintf(`      - {name: vllm, endpoint: %s/metrics}
      - {name: tgi, endpoint: %s/metrics, flavor: tgi}
      - {name: triton, endpoint: %s/metrics, flavor: triton}
%sprocessors:
  batch:
    timeout: 200ms
`, vllm.URL, tgi.URL, triton.URL, rerankerServer(app.URL))+pipelineTail("prometheus_remote_write", prom, true, noTelemetry, "batch"))

	byFlavor := map[string]float64{}
	waitFor(t, 60*time.Second, "inference_requests_total from every flavor", func() bool {
		collector.requireRunning(t)
		byFlavor = map[string]float64{}
		for _, s := range instantQuery(t, prom, `sum by (inference_server_flavor) (inference_requests_total)`) {
			byFlavor[s.labels["inference_server_flavor"]] = s.v
		}
		return len(byFlavor) == 4
	})
	var flavors []string
	for f := range byFlavor {
		flavors = append(flavors, f)
	}
	sort.Strings(flavors)
	assert.Equal(t, []string{"prometheus", "tgi", "triton", "vllm"}, flavors)
	// Totals from the recorded payloads: vLLM 1 (length), TGI 109 + 2, Triton 3 + 0, app 200 + 6.
	assert.InDelta(t, 1.0, byFlavor["vllm"], 0)
	assert.InDelta(t, 111.0, byFlavor["tgi"], 0)
	assert.InDelta(t, 3.0, byFlavor["triton"], 0)
	assert.InDelta(t, 206.0, byFlavor["prometheus"], 0)

	// Errors with their type, across servers.
	errs := map[string]float64{}
	for _, s := range instantQuery(t, prom, `sum by (inference_server_name, error_type) (inference_requests_total{inference_outcome="error"})`) {
		errs[s.labels["inference_server_name"]+"/"+s.labels["error_type"]] = s.v
	}
	assert.InDelta(t, 2.0, errs["tgi/validation"], 0)
	assert.InDelta(t, 6.0, errs["reranker/timeout"], 0)

	// TGI's model comes from /info; Triton's µs counters arrive in seconds.
	assert.NotEmpty(t, instantQuery(t, prom, `inference_requests_total{inference_server_name="tgi",gen_ai_request_model="bigscience/bloom-560m"}`))
	tritonDur := instantQuery(t, prom, `inference_requests_duration_seconds_total{gen_ai_request_model="densenet_onnx"}`)
	require.Len(t, tritonDur, 1, "metric names: %v", metricNames(t, prom))
	assert.InDelta(t, 1.327965, tritonDur[0].v, 1e-9)
	// The app's score histogram is inference_score.
	assert.NotEmpty(t, instantQuery(t, prom, `inference_score_bucket{gen_ai_request_model="bge-reranker-v2",le="0.8"}`), "metric names: %v", metricNames(t, prom))
}
