package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/testbed"
)

// TestOpenMetricsSuiteOnTheBinary serves every case of the OpenMetrics parser test suite
// (testdata/openmetrics) over HTTP as application/openmetrics-text, and has the built collector and
// a real Prometheus 3 scrape all of them. The collector's inference_server_up must be 1 exactly for
// the cases that must parse; it must be 0 wherever Prometheus 3's up is 0 (at least as strict); the
// cases Prometheus 3 takes although they must be refused are logged.
func TestOpenMetricsSuiteOnTheBinary(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	cases, err := testbed.OpenMetricsCases("../../testdata/openmetrics/parsers")
	require.NoError(t, err)
	require.Len(t, cases, 211)
	bodies := map[string][]byte{}
	shouldParse := map[string]bool{}
	names := make([]string, 0, len(cases))
	for _, c := range cases {
		bodies[c.Name], shouldParse[c.Name] = c.Body, c.ShouldParse
		names = append(names, c.Name)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/metrics")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)

	var servers, targets strings.Builder
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, n := range names {
		// passthrough none: only the receiver's own metrics (up, scrape errors) are written, not the
		// cases' samples, whose timestamps (123 s after the epoch, say) no TSDB takes.
		fmt.Fprintf(&servers, "      - {name: %s, endpoint: %s/%s/metrics, flavor: prometheus, passthrough: none}\n", n, srv.URL, n)
		fmt.Fprintf(&targets, "      - targets: [%q]\n        labels: {__metrics_path__: /%s/metrics, case: %s}\n", host, n, n)
	}

	// Prometheus 3 scrapes the cases itself; Prometheus 2.42 stores what the collector writes.
	scraper := startPrometheusWith(t, prom3Program.path(t), fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: openmetrics
    scrape_protocols: [OpenMetricsText1.0.0]
    static_configs:
%s`, targets.String()))
	prom := startPrometheus(t, prometheusBin)
	collector := startCollector(t, collectorBin, inferenceServers(servers.String())+pipelineTail("remote_write", prom, true, noTelemetry))

	ours := map[string]float64{}
	waitFor(t, 90*time.Second, "every case's inference_server_up in Prometheus", func() bool {
		collector.requireRunning(t)
		for _, s := range instantQuery(t, prom, `inference_server_up`) {
			ours[s.labels["inference_server_name"]] = s.v
		}
		return len(ours) == len(names)
	})
	theirs := map[string]float64{}
	waitFor(t, 30*time.Second, "Prometheus 3's up for every case", func() bool {
		for _, s := range instantQuery(t, scraper, `up{job="openmetrics"}`) {
			theirs[s.labels["case"]] = s.v
		}
		return len(theirs) == len(names)
	})

	var oursRight, theirsRight int
	var laxer []string
	for _, n := range names {
		want := 0.0
		if shouldParse[n] {
			want = 1
		}
		if assert.InDelta(t, want, ours[n], 0, "%s: inference_server_up (shouldParse %v):\n%s", n, shouldParse[n], bodies[n]) {
			oursRight++
		}
		switch theirs[n] {
		case want:
			theirsRight++
		case 1:
			laxer = append(laxer, n)
		}
		if theirs[n] == 0 {
			assert.Zero(t, ours[n], "%s: Prometheus 3 refuses it; so must the collector", n)
		}
	}
	t.Logf("OpenMetrics parser suite over HTTP: otelcol-inference %d of %d, Prometheus 3 %d of %d; Prometheus 3 takes %d cases that must be refused: %v",
		oursRight, len(names), theirsRight, len(names), len(laxer), laxer)
}
