package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// TestRemoteWrite2 runs remote_write with `protocol: v2` into a real Prometheus 3 that takes only
// remote write 2.0: the series land with their type, unit and help (2.0 carries metadata per series).
// Then into receivers that do not take 2.0 — Prometheus 3 accepting only 1.0 (it answers 415) and
// Debian's Prometheus 2.42 (older than 2.0: it reads the request as 1.0, stores nothing and answers
// 204 without the written counts a 2.0 receiver sends) — where the exporter falls back to 1.0 and
// the same data lands.
func TestRemoteWrite2(t *testing.T) {
	collectorBin, prometheus2 := binaries(t)
	prom3 := prom3Program.path(t)
	for _, tc := range []struct {
		name, bin string
		flags     []string
		v2        bool
	}{
		{"prometheus 3, 2.0 only", prom3, []string{"--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request"}, true},
		{"prometheus 3, 1.0 only (415)", prom3, []string{"--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest"}, false},
		{"prometheus 2.42 (204, nothing written)", prometheus2, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := replayedVLLM(t, 120, func(k int) replay.Counts {
				return replay.Counts{Length: 10 + 9*float64(k), Stop: 5, Abort: 2, Error: 1 + float64(k)}
			})
			prom := startPrometheusWith(t, tc.bin, "global:\n  scrape_interval: 1m\n", tc.flags...)
			cfg := inferenceServers(fmt.Sprintf("      - {name: vllm-rw2, endpoint: %s/metrics, flavor: vllm}\n", srv.URL)) +
				"processors:\n  ratio:\n    window: 10m\n" + pipelineTail("remote_write", prom, true, noTelemetry, "ratio")
			cfg = replaceOnce(t, cfg, "    resource_to_telemetry_conversion: {enabled: true}\n",
				"    resource_to_telemetry_conversion: {enabled: true}\n    protocol: v2\n    retry_on_failure: {initial_interval: 200ms, max_interval: 1s}\n")
			c := startCollector(t, collectorBin, cfg)
			defer func() {
				if t.Failed() {
					t.Log(c.output())
				}
			}()
			waitFor(t, 60*time.Second, "requests and the error ratio in Prometheus", func() bool {
				c.requireRunning(t)
				return len(instantQuery(t, prom, `inference_requests_total{inference_server_name="vllm-rw2"}`)) > 0 &&
					len(queryRange(t, prom, `inference_requests_error_ratio{inference_server_name="vllm-rw2"}`, 10*time.Minute)) >= 2
			})
			for _, s := range queryRange(t, prom, `inference_requests_error_ratio{inference_server_name="vllm-rw2"}`, 10*time.Minute) {
				assert.True(t, s.v >= 0 && s.v <= 1, "ratio %v", s.v)
			}
			if tc.v2 {
				// This receiver refuses 1.0 (415): what landed came as 2.0.
				assert.NotContains(t, c.output(), "does not accept remote write 2.0")
			} else {
				assert.Contains(t, c.output(), "does not accept remote write 2.0; sending 1.0 from now on")
			}
		})
	}
}

// replaceOnce replaces old, which must occur exactly once, in s.
func replaceOnce(t *testing.T, s, old, replacement string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(s, old), "%q in\n%s", old, s)
	return strings.Replace(s, old, replacement, 1)
}
