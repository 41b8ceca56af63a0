package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBadServersIsolated runs the distribution against a good vLLM and a matrix of bad targets (one
// that accepts and never answers, one that answers garbage with 200, one with a histogram the
// formats forbid, one late TGI that gains traffic) with no timeout configured. The good server is
// stored every interval, each bad one reports up 0 or what it can, the late TGI is mapped once it
// shows traffic, and SIGTERM stops the collector within seconds although a scrape is in flight.
func TestBadServersIsolated(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	const ms = "../../testdata/modelservers/"
	good := serveFiles(t, map[string]string{"/metrics": ms + "vllm/datadog-vllm_metrics.txt"})

	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hung.Close() })
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("\x00\x00\x00\x00vllm:num_requests_running 1\n"))
	}))
	t.Cleanup(garbage.Close)
	badHistogram := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE app_latency_seconds histogram\napp_latency_seconds_bucket{le=\"1\"} 1\napp_latency_seconds_count 1\napp_latency_seconds_sum 0.5\n# TYPE app_up gauge\napp_up 1\n"))
	}))
	t.Cleanup(badHistogram.Close)
	var tgiTraffic atomic.Bool
	tgi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/info" {
			_, _ = w.Write([]byte(`{"model_id":"org/late-model"}`))
			return
		}
		body := "# TYPE tgi_batch_max_total_tokens gauge\ntgi_batch_max_total_tokens 16000\n"
		if tgiTraffic.Load() {
			body += "# TYPE tgi_request_success counter\ntgi_request_success 5\n"
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(tgi.Close)
	prom := startPrometheus(t, prometheusBin)

	collector := startCollector(t, collectorBin, inferenceServers()+fmt.Sprintf(`      - {name: good, endpoint: %s/metrics}
      - {name: hung, endpoint: %s/metrics, flavor: vllm}
      - {name: garbage, endpoint: %s/metrics, flavor: vllm}
      - {name: badhist, endpoint: %s/metrics, flavor: prometheus}
      - {name: tgi, endpoint: %s/metrics}
`, good.URL, hung.URL, garbage.URL, badHistogram.URL, tgi.URL)+pipelineTail("prometheus_remote_write", prom, true, noTelemetry))

	waitFor(t, 60*time.Second, "every server's up in Prometheus", func() bool {
		collector.requireRunning(t)
		return len(instantQuery(t, prom, `inference_server_up`)) == 5
	})
	tgiTraffic.Store(true)
	time.Sleep(8 * time.Second)
	collector.requireRunning(t)

	up := map[string]float64{}
	for _, s := range instantQuery(t, prom, `inference_server_up`) {
		up[s.labels["inference_server_name"]] = s.v
	}
	assert.Equal(t, map[string]float64{"good": 1, "hung": 0, "garbage": 0, "badhist": 1, "tgi": 1}, up)
	// The good server is stored every interval (1 s) although one target never answers.
	goodSamples := queryRange(t, prom, `inference_server_up{inference_server_name="good"}`, 8*time.Second)
	assert.GreaterOrEqual(t, len(goodSamples), 6, "good server samples in the last 8 s")
	errs := map[string]string{}
	for _, s := range instantQuery(t, prom, `inference_server_scrape_errors_total`) {
		errs[s.labels["inference_server_name"]] = s.labels["error_type"]
	}
	assert.Equal(t, "timeout", errs["hung"])
	assert.Equal(t, "parse_error", errs["garbage"])
	assert.NotContains(t, metricNames(t, prom), "app_latency_seconds_bucket", "the invalid histogram is left out")
	assert.Contains(t, metricNames(t, prom), "app_up", "the rest of that scrape flows")
	// The late TGI is recognized from its first payload (one gauge) and maps its requests once they
	// appear, with the model from /info.
	require.NotEmpty(t, instantQuery(t, prom, `inference_requests_total{inference_server_name="tgi",inference_server_flavor="tgi",gen_ai_request_model="org/late-model"}`))

	out := collector.output()
	assert.Equal(t, 1, strings.Count(out, `Cannot scrape model server \"hung\"`)+strings.Count(out, `Cannot scrape model server "hung"`), "a server that stays down is logged once")
	assert.NotContains(t, out, "Error scraping metrics")

	began := time.Now()
	collector.signal(syscall.SIGTERM)
	collector.waitExit(10 * time.Second)
	assert.Less(t, time.Since(began), 5*time.Second, "SIGTERM stops the collector at once, scrapes in flight canceled")
}
