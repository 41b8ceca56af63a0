package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// TestOTLPBackendPrometheus3 sends the collector's metrics over OTLP/HTTP (the distribution's
// otlp_http exporter, no remote write) to Prometheus 3's OTLP receiver, the way a user with any
// OTLP-native backend would: the ratio processor's error ratio reads back exact, and the gen_ai request
// duration histogram reads back with its buckets, under Prometheus's default OTLP name translation,
// with the server's name promoted from the resource.
func TestOTLPBackendPrometheus3(t *testing.T) {
	collectorBin, _ := binaries(t)
	prom3 := prom3Program.path(t)
	srv := replayedVLLM(t, 120, func(k int) replay.Counts {
		return replay.Counts{Length: 10 + 9*float64(k), Stop: 5, Abort: 2, Error: 1 + float64(k)}
	})

	prom := startPrometheusWith(t, prom3, `global:
  scrape_interval: 1m
otlp:
  promote_resource_attributes: [inference.server.name, inference.server.flavor]
storage:
  tsdb:
    out_of_order_time_window: 10m
`, "--web.enable-otlp-receiver")
	collector := startCollector(t, collectorBin, inferenceServers(
		fmt.Sprintf("      - {name: vllm-otlp, endpoint: %s/metrics, flavor: vllm}\n", srv.URL),
	)+fmt.Sprintf(`processors:
  ratio:
    window: 10m
exporters:
  otlp_http:
    endpoint: %s/api/v1/otlp
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s}
service:
  pipelines:
    metrics:
      receivers: [inference]
      processors: [ratio]
      exporters: [otlp_http]
  telemetry:
    metrics:
      level: none
`, prom))

	const ratio = `inference_requests_error_ratio{inference_server_name="vllm-otlp"}`
	waitFor(t, 60*time.Second, "the error ratio in Prometheus 3", func() bool {
		collector.requireRunning(t)
		return len(instantQuery(t, prom, ratio)) > 0
	})
	time.Sleep(5 * time.Second)
	for _, fn := range []string{"min_over_time", "max_over_time"} {
		got := instantQuery(t, prom, fn+"("+ratio+"[10m])")
		require.Len(t, got, 1, "metric names: %v", metricNames(t, prom))
		assert.InDelta(t, 1.0/10, got[0].v, 1e-12, "%s of the error ratio: 1 error in 10 finished requests a scrape", fn)
		assert.Equal(t, model, got[0].labels["gen_ai_request_model"])
	}
	buckets := instantQuery(t, prom, `gen_ai_server_request_duration_seconds_bucket{inference_server_name="vllm-otlp"}`)
	assert.NotEmpty(t, buckets, "the request-duration histogram's buckets; metric names: %v", metricNames(t, prom))
	les := map[string]bool{}
	for _, b := range buckets {
		les[b.labels["le"]] = true
	}
	assert.True(t, les["+Inf"], "an +Inf bucket among %v", les)
	assert.NotEmpty(t, instantQuery(t, prom, `histogram_quantile(0.95, sum by (le) (rate(gen_ai_server_request_duration_seconds_bucket{inference_server_name="vllm-otlp"}[5m])))`))
	assert.NotEmpty(t, instantQuery(t, prom, `target_info{job="vllm-otlp"}`), "the resource as target_info")
}
