package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// advancing replays a recorded payload whose counters, histograms and summaries grow by 10 % of
// their recorded values at every request (gauges stay), so rates and quantiles have data.
func advancing(t *testing.T, file string, extra map[string]string) *httptest.Server {
	t.Helper()
	body, err := os.ReadFile(file)
	require.NoError(t, err)
	cumulative := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" && (f[3] == "counter" || f[3] == "histogram" || f[3] == "summary") {
			cumulative[f[2]] = true
		}
	}
	var k atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := extra[r.URL.Path]; ok {
			_, _ = w.Write([]byte(b))
			return
		}
		factor := 1 + 0.1*float64(k.Add(1))
		var out bytes.Buffer
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(scaleLine(line, cumulative, factor))
			out.WriteByte('\n')
		}
		_, _ = w.Write(out.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func scaleLine(line string, cumulative map[string]bool, factor float64) string {
	if line == "" || line[0] == '#' {
		return line
	}
	name := line
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name = line[:i]
	}
	base := name
	for _, suffix := range []string{"_bucket", "_sum", "_count", "_total"} {
		base = strings.TrimSuffix(base, suffix)
	}
	if !cumulative[name] && !cumulative[base] {
		return line
	}
	end := strings.LastIndexByte(line, '}') + 1
	rest := strings.Fields(line[end:])
	if end == 0 {
		rest = strings.Fields(line)[1:]
	}
	if len(rest) == 0 {
		return line
	}
	v, err := strconv.ParseFloat(rest[0], 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return line
	}
	head := line[:end]
	if end == 0 {
		head = name
	}
	return fmt.Sprintf("%s %g", head, v*factor)
}

// panelQueries reads every query of a generated dashboard, with its variables at their defaults
// (All: .*) and $__rate_interval at 1m.
func panelQueries(t *testing.T, file string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	out := map[string][]string{}
	r := strings.NewReplacer("$__rate_interval", "1m", "$server", ".*", "$model", ".*", "$flavor", ".*", "$gpu", ".*")
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out[p.Title] = append(out[p.Title], r.Replace(tg.Expr))
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestDashboardPanelsHaveData runs every panel query of the shipped dashboards against a real
// Prometheus fed by the collector: vLLM, TGI, Triton, an app exporter and dcgm-exporter replayed with
// growing counters, a server that is down and one exposing an invalid histogram, the ratio processor,
// and Prometheus scraping the collector's own telemetry. Each query must return a number; the panels
// that cannot have data here are listed with the reason.
func TestDashboardPanelsHaveData(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	const ms = "../../testdata/modelservers/"
	const payloads = "../../receiver/inferencereceiver/testdata/payloads/"
	info, err := os.ReadFile(payloads + "tgi-info.json")
	require.NoError(t, err)
	vllm := advancing(t, ms+"vllm/datadog-vllm_metrics.txt", nil)
	tgi := advancing(t, ms+"tgi/datadog-tgi_payload.txt", map[string]string{"/info": string(info)})
	triton := advancing(t, ms+"triton/datadog-triton_metrics.txt", nil)
	app := advancing(t, payloads+"app.txt", nil)
	dcgm := advancing(t, ms+"dcgm/datadog-dcgm_metrics.txt", nil)
	badhist := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n"))
	}))
	defer badhist.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	telemetryPort := freePort(t)
	prom := startPrometheusWith(t, prometheusBin, fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: otelcol
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, telemetryPort))
	// Probes of an OpenAI-compatible server, for the probe panels (one always right, one flaky).
	api := openAIServer(t)
	probes := fmt.Sprintf(`  inference_probe:
    collection_interval: 1s
    initial_delay: 0s
    probes:
      - {name: right, endpoint: %[1]s/v1, kind: chat, model: right, input: "2+2?", max_tokens: 4, timeout: 900ms, expect: {equals: "4"}}
      - {name: flaky, endpoint: %[1]s/v1, kind: chat, model: flaky, input: "2+2?", max_tokens: 4, timeout: 900ms, expect: {equals: "4"}}
`, api.URL)
	withProbes := func(cfg string) string {
		cfg = strings.Replace(cfg, "receivers:\n", "receivers:\n"+probes, 1)
		return strings.Replace(cfg, "receivers: [inference]", "receivers: [inference, inference_probe]", 1)
	}
	collector := startCollector(t, collectorBin, withProbes(inferenceServers()+fmt.Sprintf(`      - {name: vllm, endpoint: %s/metrics, flavor: vllm}
      - {name: tgi, endpoint: %s/metrics, flavor: tgi}
      - {name: triton, endpoint: %s/metrics, flavor: triton}
%s      - {name: dcgm, endpoint: %s/metrics, flavor: dcgm}
      - {name: badhist, endpoint: %s/metrics, flavor: prometheus}
      - {name: gone, endpoint: %s/metrics, flavor: vllm}
`, vllm.URL, tgi.URL, triton.URL, rerankerServer(app.URL), dcgm.URL, badhist.URL, goneURL)+ratioToRemoteWrite(prom, fmt.Sprintf(`    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus: {host: 127.0.0.1, port: %d}
`, telemetryPort))))

	// Panels that cannot have data on this machine, and why.
	noData := map[string]string{
		"Throttle reasons": "read through NVML only (dcgm-exporter's throttle field is not mapped): no GPU here",
		"Xid errors":       "counted from NVML events only: no GPU here",
		"Health":           "hw.status comes from NVML: no GPU here",
		"GPU memory per process, by model server": "per-process use comes from NVML: no GPU here",
		"Remote-write samples dropped, by reason": "a healthy backend refuses nothing (the faults tests cover drops)",
		"Remote-write retries, by reason":         "a healthy backend fails no send (the faults tests cover retries)",
	}
	var queries []struct{ board, title, expr string }
	for _, f := range []string{"inference-overview.json", "inference-gpus.json", "inference-collector.json"} {
		for title, exprs := range panelQueries(t, filepath.Join("../../deploy/grafana", f)) {
			for _, e := range exprs {
				queries = append(queries, struct{ board, title, expr string }{f, title, e})
			}
		}
	}
	hasNumber := func(expr string) bool {
		for _, s := range instantQuery(t, prom, expr) {
			if !math.IsNaN(s.v) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(90 * time.Second)
	missing := map[string]string{}
	for time.Now().Before(deadline) {
		collector.requireRunning(t)
		clear(missing)
		for _, q := range queries {
			if _, skip := noData[q.title]; skip {
				continue
			}
			if !hasNumber(q.expr) {
				missing[q.board+": "+q.title] = q.expr
			}
		}
		if len(missing) == 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	assert.Empty(t, missing, "panel queries without data; metric names: %v", metricNames(t, prom))
	for title := range noData {
		found := false
		for _, q := range queries {
			found = found || q.title == title
		}
		assert.True(t, found, "the exception %q names a panel that exists", title)
	}
}
