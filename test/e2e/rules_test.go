package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// TestShippedRulesOnRealData loads deploy/prometheus/inference-rules.yaml into a real Prometheus fed
// by the collector (a replayed vLLM whose counters advance, one server that is down): the recording
// rules have data under the names the collector writes, and InferenceServerDown goes pending for the
// server that does not answer.
func TestShippedRulesOnRealData(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	rules, err := filepath.Abs("../../deploy/prometheus/inference-rules.yaml")
	require.NoError(t, err)
	srv := replayedVLLM(t, 40, func(k int) replay.Counts {
		return replay.Counts{Length: float64(100 + 5*k), Stop: float64(50 + 2*k), Abort: 3, Error: float64(7 + k)}
	})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	prom := startPrometheusWith(t, prometheusBin, fmt.Sprintf("global:\n  scrape_interval: 1m\n  evaluation_interval: 1s\nrule_files: [%q]\n", rules))
	collector := startCollector(t, collectorBin, inferenceServers(
		fmt.Sprintf("      - {name: vllm-e2e, endpoint: %s/metrics, flavor: vllm}\n", srv.URL),
		fmt.Sprintf("      - {name: gone, endpoint: %s/metrics, flavor: vllm}\n", downURL),
	)+ratioToRemoteWrite(prom, noTelemetry))

	for _, record := range []string{
		`inference:requests:rate5m{job="vllm-e2e",inference_outcome="error"}`,
		`inference:request_duration_seconds:p95_5m{job="vllm-e2e"}`,
		`inference:time_to_first_token_seconds:p99_5m{job="vllm-e2e"}`,
		`inference:tokens:rate5m{job="vllm-e2e",gen_ai_token_type="output"}`,
	} {
		waitFor(t, 60*time.Second, record, func() bool {
			collector.requireRunning(t)
			return len(instantQuery(t, prom, record)) > 0
		})
	}
	rate := instantQuery(t, prom, `inference:requests:rate5m{job="vllm-e2e",inference_outcome="error"}`)
	assert.Equal(t, model, rate[0].labels["gen_ai_request_model"])
	assert.Equal(t, "vllm-e2e", rate[0].labels["inference_server_name"])

	waitFor(t, 30*time.Second, "InferenceServerDown pending for the server that does not answer", func() bool {
		for _, s := range instantQuery(t, prom, `ALERTS{alertname="InferenceServerDown"}`) {
			if s.labels["job"] == "gone" && (s.labels["alertstate"] == "pending" || s.labels["alertstate"] == "firing") {
				return true
			}
		}
		return false
	})
	for _, s := range instantQuery(t, prom, `ALERTS{alertname="InferenceServerDown"}`) {
		assert.Equal(t, "gone", s.labels["job"], "the server that answers raises nothing")
	}
}
