package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appStep is what a reranker service (written with prometheus_client) has counted at one step.
type appStep struct {
	requests, errors float64
	// scores: cumulative observations ≤ 0.5, ≤ 0.7, ≤ 0.9, and all.
	le05, le07, le09, all float64
}

const appSteps = 10

// appSequence: each step adds 10 requests, k%3 errors, and 20 scores of which 4+k%5 are above 0.7.
func appSequence() []appStep {
	var out []appStep
	c := appStep{requests: 50, errors: 4, le05: 30, le07: 50, le09: 70, all: 80}
	out = append(out, c)
	for k := 1; k < appSteps; k++ {
		high := float64(4 + k%5)
		c.requests += 10
		c.errors += float64(k % 3)
		c.le05 += 10
		c.le07 += 20 - high
		c.le09 += 20 - high + 1
		c.all += 20
		c.le09 = min(c.le09, c.all)
		out = append(out, c)
	}
	return out
}

func (s appStep) payload(step int) string {
	return fmt.Sprintf(`# TYPE reranker_requests_total counter
reranker_requests_total{model="bge"} %g
# TYPE reranker_errors_total counter
reranker_errors_total{model="bge"} %g
# TYPE reranker_score_distribution histogram
reranker_score_distribution_bucket{le="0.5",model="bge"} %g
reranker_score_distribution_bucket{le="0.7",model="bge"} %g
reranker_score_distribution_bucket{le="0.9",model="bge"} %g
reranker_score_distribution_bucket{le="+Inf",model="bge"} %g
reranker_score_distribution_count{model="bge"} %g
reranker_score_distribution_sum{model="bge"} 1
# TYPE replay_step gauge
replay_step %d
`, s.requests, s.errors, s.le05, s.le07, s.le09, s.all, s.all, step)
}

// TestAppExporterRatios: the ratio processor's rules on an application's own metric names, read back
// from Prometheus equal to the ratios known from the replayed sequence.
func TestAppExporterRatios(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	seq := appSequence()
	var mu sync.Mutex
	served := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		k := min(served, appSteps-1)
		served++
		mu.Unlock()
		_, _ = w.Write([]byte(seq[k].payload(k)))
	}))
	defer srv.Close()
	prom := startPrometheus(t, prometheusBin)
	collector := startCollector(t, collectorBin, inferenceServers()+fmt.Sprintf(`      - {name: reranker, endpoint: %s/metrics, flavor: prometheus}
processors:
  ratio:
    window: 10m
    rules:
      - name: reranker.error_ratio
        numerator: {metric: reranker_errors_total}
        denominator: {metric: reranker_requests_total}
        group_by: [model]
      - name: reranker.score.high_ratio
        histogram: {metric: reranker_score_distribution, above: 0.7}
        group_by: [model]
  batch:
    timeout: 200ms
`, srv.URL)+pipelineTail("prometheus_remote_write", prom, true, noTelemetry, "ratio", "batch"))

	waitFor(t, 60*time.Second, "every replayed step in Prometheus", func() bool {
		collector.requireRunning(t)
		s := queryRange(t, prom, "replay_step", 10*time.Minute)
		return len(s) >= appSteps+1 && maxValue(s) == appSteps-1
	})
	stepAt := map[float64]int{}
	for _, s := range queryRange(t, prom, "replay_step", 10*time.Minute) {
		stepAt[s.t] = int(s.v)
	}
	expected := func(k int) (errRatio, highRatio float64) {
		first, cur := seq[0], seq[k]
		errRatio = (cur.errors - first.errors) / (cur.requests - first.requests)
		highRatio = ((cur.all - cur.le07) - (first.all - first.le07)) / (cur.all - first.all)
		return
	}
	for _, c := range []struct {
		metric string
		pick   func(k int) float64
	}{
		{"reranker_error_ratio", func(k int) float64 { e, _ := expected(k); return e }},
		{"reranker_score_high_ratio", func(k int) float64 { _, h := expected(k); return h }},
	} {
		samples := queryRange(t, prom, c.metric, 10*time.Minute)
		require.NotEmpty(t, samples, "no %s; names: %v", c.metric, metricNames(t, prom))
		seen := map[int]bool{}
		for _, s := range samples {
			k, ok := stepAt[s.t]
			require.True(t, ok, "%s at %v has no replay_step beside it", c.metric, s.t)
			assert.Equal(t, "bge", s.labels["model"])
			assert.InDelta(t, c.pick(k), s.v, 1e-9, "%s at step %d", c.metric, k)
			seen[k] = true
		}
		for k := 1; k < appSteps; k++ {
			assert.True(t, seen[k], "%s: no value for step %d", c.metric, k)
		}
	}
}
