package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/otel-inference/collector/internal/replay"
)

// TestVLLMDashboardQueriesWork is a Prometheus user's drop-in: with passthrough: all, vLLM's own
// series reach Prometheus under vLLM's names with the job and instance labels a scrape would give
// them (from service.name and service.instance.id), so the queries of vLLM's Grafana dashboards
// (examples/online_serving/prometheus_grafana/grafana.json and dashboards/grafana), with their
// variables at match-all, return data.
func TestVLLMDashboardQueriesWork(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	srv := replayedVLLM(t, 8, func(k int) replay.Counts {
		return replay.Counts{Length: float64(100 + 5*k), Stop: float64(50 + 2*k), Abort: 3, Error: float64(7 + k%2)}
	})
	prom := startPrometheus(t, prometheusBin)
	collector := startCollector(t, collectorBin, inferenceServers()+fmt.Sprintf(`      - {name: vllm-prod, endpoint: %s/metrics, flavor: vllm, passthrough: all}
`, srv.URL)+pipelineTail("prometheus_remote_write", prom, false, noTelemetry))

	var success []sample
	waitFor(t, 60*time.Second, "vllm:request_success_total in Prometheus", func() bool {
		collector.requireRunning(t)
		success = instantQuery(t, prom, `{__name__="vllm:request_success_total"}`)
		return len(success) > 0
	})
	instance := srv.Listener.Addr().String()
	for _, s := range success {
		assert.Equal(t, "vllm-prod", s.labels["job"], "job from service.name")
		assert.Equal(t, instance, s.labels["instance"], "instance from service.instance.id")
	}
	time.Sleep(5 * time.Second) // a few scrapes, for rate()

	sel := fmt.Sprintf(`model_name=%q, job=~".*", instance=~".*"`, model)
	for _, q := range []string{
		`histogram_quantile(0.99, sum by(le) (rate({__name__="vllm:e2e_request_latency_seconds_bucket", ` + sel + `}[1m])))`,
		`histogram_quantile(0.5, sum by(le) (rate({__name__="vllm:time_to_first_token_seconds_bucket", ` + sel + `}[1m])))`,
		`rate({__name__="vllm:prompt_tokens_total", ` + sel + `}[1m])`,
		`rate({__name__="vllm:generation_tokens_total", ` + sel + `}[1m])`,
		`{__name__="vllm:num_requests_running", ` + sel + `}`,
		`{__name__="vllm:num_requests_waiting", ` + sel + `}`,
		`sum by (model_name) (rate({__name__="vllm:request_success_total", ` + sel + `}[1m]))`,
		`{__name__="vllm:gpu_cache_usage_perc", ` + sel + `}`,
		`sum by (job, instance) ({__name__="vllm:request_success_total", job="vllm-prod"})`,
	} {
		assert.NotEmpty(t, instantQuery(t, prom, q), "no data for %s; metric names: %v", q, metricNames(t, prom))
	}
	// The unified schema carries the same job and instance.
	for _, s := range instantQuery(t, prom, `inference_requests_total`) {
		assert.Equal(t, "vllm-prod", s.labels["job"])
		assert.Equal(t, instance, s.labels["instance"])

	}
}
