package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
	"github.com/otel-inference/collector/internal/testbed"
)

// binaries returns the collector and Prometheus to run. The collector is built by `make test`
// (OTELCOL_INFERENCE_BIN); without it the end-to-end tests are skipped, so that `go test ./...` alone
// stays a unit run. With E2E_REQUIRED set (make test sets it), a missing binary fails instead.
func binaries(t *testing.T) (collector, prometheus string) {
	t.Helper()
	return collectorProgram.path(t), prom2Program.path(t)
}

// program is one the tests run: the one env names, else fallback on the PATH ("" for none); how
// says what provides it.
type program struct{ env, fallback, what, how string }

// The programs the end-to-end tests run.
var (
	collectorProgram    = program{"OTELCOL_INFERENCE_BIN", "", "the distribution", "make build"}
	agentProgram        = program{"OTELCOL_INFERENCE_AGENT_BIN", "", "the lean agent build", "make build"}
	prom2Program        = program{"PROMETHEUS_BIN", "prometheus", "Prometheus 2", "`make test` (Debian's prometheus package)"}
	prom3Program        = program{"PROMETHEUS3_BIN", "", "Prometheus 3 v0.316.0", "make prometheus3"}
	helmProgram         = program{"HELM_BIN", "", "helm v3.22.0", "make helm"}
	alertmanagerProgram = program{"ALERTMANAGER_BIN", "prometheus-alertmanager", "Alertmanager", "`make test` (Debian's prometheus-alertmanager package)"}
)

// path finds the program. When neither env nor a fallback names it, the test fails under `make e2e`
// (E2E_REQUIRED) and is skipped under a plain `go test`; one that cannot be found fails it.
func (p program) path(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(p.env)
	if bin == "" {
		bin = p.fallback
	}
	if bin == "" {
		if os.Getenv("E2E_REQUIRED") != "" {
			t.Fatalf("%s is not set: %s provides %s", p.env, p.how, p.what)
		}
		t.Skipf("%s is not set; run `make test` for the end-to-end tests", p.env)
	}
	path, err := exec.LookPath(bin)
	require.NoError(t, err, "%s not found: %s provides it", p.what, p.how)
	return path
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testbed.FreePort()
	require.NoError(t, err)
	return port
}

// process is a child process whose output is kept for the failure message and which is stopped
// when the test ends, whatever its outcome.
type process struct {
	*testbed.Process
}

func (p *process) output() string { return p.Output() }

// kill9 kills the process (and its group) with SIGKILL and reaps it: a crash, nothing flushed.
func (p *process) kill9() { p.Kill9() }

// signal sends sig and waits (bounded) for the process to exit.
func (p *process) signal(sig syscall.Signal) { p.Signal(sig, 30*time.Second) }

func (p *process) waitExit(limit time.Duration) { p.Signal(0, limit) }

// requireRunning fails the test at once when the process has exited (its output is logged).
func (p *process) requireRunning(t *testing.T) {
	t.Helper()
	if p.Exited() {
		t.Fatalf("%s exited early", p.Name)
	}
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	return startProcessEnv(t, name, nil, bin, args...)
}

// startProcessEnv is startProcess with extra environment variables (KEY=value).
func startProcessEnv(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p, err := testbed.Start(name, env, bin, args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			out := p.Output()
			if os.Getenv("E2E_VERBOSE") == "" {
				out = testbed.Tail(out, 8000)
			}
			t.Logf("--- %s output ---\n%s", name, out)
		}
	})
	return &process{p}
}

// startPrometheus runs a real Prometheus with the remote-write receiver on a loopback port and waits
// until it is ready. It returns its base URL.
func startPrometheus(t *testing.T, bin string) string {
	t.Helper()
	return startPrometheusWith(t, bin, "global:\n  scrape_interval: 1m\n")
}

// startPrometheusWith is startPrometheus on a configuration of its own (rule files, say), with extra
// flags (Prometheus 3's --web.enable-otlp-receiver).
func startPrometheusWith(t *testing.T, bin, config string, flags ...string) string {
	t.Helper()
	prom, err := testbed.StartPrometheus(bin, t.TempDir(), config, flags...)
	require.NoError(t, err)
	t.Cleanup(func() {
		prom.Proc.Stop()
		if t.Failed() {
			t.Logf("--- prometheus output ---\n%s", testbed.Tail(prom.Proc.Output(), 8000))
		}
	})
	return prom.URL
}

// waitReady waits up to 30 s for a Prometheus or Alertmanager at base to answer /-/ready with 200.
func waitReady(t *testing.T, what, base string) {
	t.Helper()
	require.NoError(t, testbed.WaitReady(base, 30*time.Second), "%s", what)
}

// rerankerServer is a server line (for inferenceServers) for the recorded reranker app at endpoint:
// flavor prometheus, its requests, errors and score distribution mapped onto the schema.
func rerankerServer(endpoint string) string {
	return fmt.Sprintf(`      - name: reranker
        endpoint: %s/metrics
        flavor: prometheus
        mappings:
          - {from: reranker_requests_total, to: inference.requests, labels: {model: gen_ai.request.model}, attributes: {inference.outcome: success}}
          - {from: reranker_errors_total, to: inference.requests, labels: {model: gen_ai.request.model, reason: error.type}, attributes: {inference.outcome: error}}
          - {from: reranker_score_distribution, to: inference.score, labels: {model: gen_ai.request.model}}
`, endpoint)
}

// inferenceServers is the head of a collector configuration: the inference receiver scraping every
// second from the first scrape, without GPUs, with the given server lines (YAML list items at six
// spaces).
func inferenceServers(servers ...string) string {
	return "receivers:\n  inference:\n    collection_interval: 1s\n    initial_delay: 0s\n    gpu: {enabled: false}\n    servers:\n" +
		strings.Join(servers, "")
}

// noTelemetry turns the collector's own metrics off (the telemetry block of ratioToRemoteWrite).
const noTelemetry = "    metrics:\n      level: none\n"

// ratioToRemoteWrite is the tail of a collector configuration: the ratio processor (10 m window) and
// our remote_write exporter into the Prometheus at prom (labels from resource attributes), with the
// given service telemetry block (indented under `telemetry:`).
func ratioToRemoteWrite(prom, telemetry string) string {
	return "processors:\n  ratio:\n    window: 10m\n" + pipelineTail("remote_write", prom, true, telemetry, "ratio")
}

// pipelineTail is the exporters and service sections of a collector configuration: the inference
// receiver, the processors named (declared above it), and exporter (remote_write or contrib's
// prometheus_remote_write) into the Prometheus at prom, with resource attributes as labels when
// conversion is set; telemetry is the service telemetry block (indented under `telemetry:`).
func pipelineTail(exporter, prom string, conversion bool, telemetry string, processors ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "exporters:\n  %s:\n    endpoint: %s/api/v1/write\n", exporter, prom)
	if conversion {
		b.WriteString("    resource_to_telemetry_conversion: {enabled: true}\n")
	}
	b.WriteString("service:\n  pipelines:\n    metrics:\n      receivers: [inference]\n")
	if len(processors) > 0 {
		fmt.Fprintf(&b, "      processors: [%s]\n", strings.Join(processors, ", "))
	}
	fmt.Fprintf(&b, "      exporters: [%s]\n  telemetry:\n%s", exporter, telemetry)
	return b.String()
}

// replayedVLLM serves the recorded vLLM payload for steps scrapes, step k with the finished-request
// counters counts(k) (the last step repeats); the server stops with the test.
func replayedVLLM(t *testing.T, steps int, counts func(k int) replay.Counts) *httptest.Server {
	srv, _ := replayedVLLMCounted(t, steps, counts)
	return srv
}

// replayedVLLMCounted is replayedVLLM with its handler, which counts the scrapes served.
func replayedVLLMCounted(t *testing.T, steps int, counts func(k int) replay.Counts) (*httptest.Server, *replay.Handler) {
	t.Helper()
	tmpl, err := os.ReadFile("../../testdata/modelservers/vllm/datadog-vllm_metrics.txt")
	require.NoError(t, err)
	payloads := make([][]byte, steps)
	for k := range payloads {
		payloads[k] = replay.VLLM(tmpl, model, k, counts(k))
	}
	h := replay.NewHandler(payloads)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

// validate runs `otelcol-inference validate` on a collector config, with the environment the pod
// spec gives it. It returns the command's output and error.
func validate(t *testing.T, collector, config string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, collector, "validate", "--config="+path)
	cmd.Env = append(os.Environ(), "MY_POD_IP=10.0.0.7", "K8S_NODE_IP=10.0.0.1", "K8S_NODE_NAME=gpu-node-1", "REMOTE_WRITE_TOKEN=secret")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startCollector runs the distribution on a configuration text.
func startCollector(t *testing.T, bin, config string) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	return startProcess(t, "otelcol-inference", bin, "--config="+path)
}

// waitFor polls cond every 250 ms until it holds or the deadline passes (then the test fails).
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}

// sample is one stored sample of one series.
type sample struct {
	labels map[string]string
	t      float64 // seconds
	v      float64
}

// queryRange returns every raw sample of the series a selector matches over the last span, using an
// instant query of a range vector (no interpolation, exact timestamps).
func queryRange(t *testing.T, base, selector string, span time.Duration) []sample {
	t.Helper()
	return instantQuery(t, base, fmt.Sprintf("%s[%ds]", selector, int(span.Seconds())))
}

// instantQuery evaluates a PromQL expression now and returns one sample per series (every sample
// of each series for a range selector).
func instantQuery(t *testing.T, base, expr string) []sample {
	t.Helper()
	got, err := testbed.Query(base, expr)
	require.NoError(t, err)
	out := make([]sample, 0, len(got))
	for _, s := range got {
		out = append(out, sample{labels: s.Labels, t: s.T, v: s.V})
	}
	return out
}

// metricNames lists every metric name Prometheus stores.
func metricNames(t *testing.T, base string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/label/__name__/values", http.NoBody)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r struct {
		Data []string `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return r.Data
}

// listedServer writes a configuration overlay that lists one server for the inference receiver
// (the shipped agent configurations only discover theirs; lists in a later --config replace) and
// returns the --config flag that adds it.
func listedServer(t *testing.T, name, endpoint, flavor string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "servers.yaml")
	overlay := fmt.Sprintf("receivers:\n  inference:\n    servers:\n      - {name: %s, endpoint: %q, flavor: %s}\n", name, endpoint, flavor)
	require.NoError(t, os.WriteFile(path, []byte(overlay), 0o600))
	return "--config=" + path
}
