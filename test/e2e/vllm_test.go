// Package e2e runs the built otelcol-inference distribution against replayed model servers and a real
// Prometheus (Debian's package) as the remote-write backend, and checks what Prometheus stores.
package e2e

import (
	"fmt"
	"math"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

const (
	model = "facebook/opt-125m"
	// steps is how many distinct payloads the replayed vLLM serves; resetAt is the step at which it
	// "restarts" (every counter starts again from zero).
	steps   = 12
	resetAt = 7
)

// increments are the requests a step adds. Errors vary so that the expected ratio changes over time.
func increments(k int) replay.Counts {
	return replay.Counts{Length: float64(4 + k%3), Stop: 2, Abort: 1, Error: float64(k % 4)}
}

// sequence is the counters served at each step: offsets at step 0, increments after, and a restart at
// resetAt where the counters hold only that step's increments.
func sequence() []replay.Counts {
	c := replay.Counts{Length: 100, Stop: 50, Abort: 3, Error: 7}
	out := []replay.Counts{c}
	for k := 1; k < steps; k++ {
		inc := increments(k)
		if k == resetAt {
			c = inc
		} else {
			c = replay.Counts{Length: c.Length + inc.Length, Stop: c.Stop + inc.Stop, Abort: c.Abort + inc.Abort, Error: c.Error + inc.Error}
		}
		out = append(out, c)
	}
	return out
}

// replayedSequence serves the recorded vLLM payload with the counters of sequence().
func replayedSequence(t *testing.T) (*httptest.Server, *replay.Handler) {
	seq := sequence()
	return replayedVLLMCounted(t, len(seq), func(k int) replay.Counts { return seq[k] })
}

// expectedRatio is the error ratio at step k with a window longer than the test: every request since
// step 0 (the first point is the baseline), the restart counting its new values from zero. Aborted
// requests are in the denominator only.
func expectedRatio(k int) float64 {
	k = min(k, steps-1)
	var errs, all float64
	for j := 1; j <= k; j++ {
		inc := increments(j)
		errs += inc.Error
		all += inc.Total()
	}
	return errs / all
}

func TestVLLMToPrometheus(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	srv, vllm := replayedSequence(t)

	prom := startPrometheus(t, prometheusBin)
	collector := startCollector(t, collectorBin, inferenceServers()+fmt.Sprintf(`      - name: vllm-e2e
        endpoint: %s/metrics
        flavor: vllm
processors:
  ratio:
    window: 10m
  batch:
    timeout: 200ms
exporters:
  prometheusremotewrite:
    endpoint: %s/api/v1/write
    resource_to_telemetry_conversion:
      enabled: true
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
service:
  pipelines:
    metrics:
      receivers: [inference]
      processors: [ratio, batch]
      exporters: [prometheusremotewrite]
  telemetry:
    metrics:
      level: none
`, srv.URL, prom))

	// Every step served and stored, plus a couple of repeats of the last one.
	waitFor(t, 90*time.Second, "Prometheus to hold every replayed step", func() bool {
		collector.requireRunning(t)
		s := queryRange(t, prom, replay.StepFamily, 10*time.Minute)
		return vllm.Served() >= steps+2 && len(s) >= steps+2 && maxValue(s) == steps-1
	})

	// Which step each stored scrape came from, by timestamp: replay_step passes through unmapped.
	stepAt := map[float64]int{}
	for _, s := range queryRange(t, prom, replay.StepFamily, 10*time.Minute) {
		assert.Equal(t, "vllm-e2e", s.labels["inference_server_name"])
		stepAt[s.t] = int(s.v)
	}

	ratios := queryRange(t, prom, `inference_requests_error_ratio`, 10*time.Minute)
	require.NotEmpty(t, ratios, "no error ratio stored; metric names: %v", metricNames(t, prom))
	seen := map[int]bool{}
	for _, r := range ratios {
		step, ok := stepAt[r.t]
		require.True(t, ok, "ratio sample at %v has no replay_step sample at the same time", r.t)
		assert.Equal(t, model, r.labels["gen_ai_request_model"])
		assert.Equal(t, "vllm", r.labels["inference_server_flavor"])
		assert.InDelta(t, expectedRatio(step), r.v, 1e-9, "error ratio at step %d", step)
		seen[step] = true
	}
	var seenSteps []int
	for k := range seen {
		seenSteps = append(seenSteps, k)
	}
	sort.Ints(seenSteps)
	// Step 0 is the baseline (no ratio yet); every later step has its ratio, the restart included.
	for k := 1; k < steps; k++ {
		assert.True(t, seen[k], "no error ratio for step %d (seen %v)", k, seenSteps)
	}
	assert.False(t, seen[0], "a ratio at the baseline step")

	// The semconv histograms, with the model.
	durations := queryRange(t, prom, fmt.Sprintf(`gen_ai_server_request_duration_seconds_count{gen_ai_request_model=%q}`, model), 10*time.Minute)
	assert.NotEmpty(t, durations, "metric names: %v", metricNames(t, prom))
	buckets := queryRange(t, prom, fmt.Sprintf(`gen_ai_server_time_to_first_token_seconds_bucket{gen_ai_request_model=%q,le="0.5"}`, model), 10*time.Minute)
	require.NotEmpty(t, buckets)
	assert.InDelta(t, 1.0, buckets[len(buckets)-1].v, 0)

	// Unified counters: finished requests of the last step, by outcome.
	requests := queryRange(t, prom, `inference_requests_total{inference_outcome="error"}`, 10*time.Minute)
	assert.NotEmpty(t, requests, "metric names: %v", metricNames(t, prom))

	// A passthrough metric under its own name, and the server up.
	assert.NotEmpty(t, queryRange(t, prom, `{__name__="vllm:num_preemptions_total"}`, 10*time.Minute), "metric names: %v", metricNames(t, prom))
	up := queryRange(t, prom, `inference_server_up{inference_server_name="vllm-e2e"}`, 10*time.Minute)
	require.NotEmpty(t, up)
	for _, s := range up {
		assert.InDelta(t, 1.0, s.v, 0)
	}
}

func maxValue(s []sample) float64 {
	m := math.Inf(-1)
	for _, x := range s {
		m = math.Max(m, x.v)
	}
	return m
}
