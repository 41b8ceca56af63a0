package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// binaries returns the collector and Prometheus to run. The collector is built by `make test`
// (OTELCOL_INFERENCE_BIN); without it the end-to-end tests are skipped, so that `go test ./...` alone
// stays a unit run. With E2E_REQUIRED set (make test sets it), a missing binary fails instead.
func binaries(t *testing.T) (collector, prometheus string) {
	t.Helper()
	collector = os.Getenv("OTELCOL_INFERENCE_BIN")
	prometheus = os.Getenv("PROMETHEUS_BIN")
	if prometheus == "" {
		prometheus = "prometheus"
	}
	if collector == "" {
		if os.Getenv("E2E_REQUIRED") != "" {
			t.Fatal("OTELCOL_INFERENCE_BIN is not set: build the distribution first (make build)")
		}
		t.Skip("OTELCOL_INFERENCE_BIN is not set; run `make test` for the end-to-end tests")
	}
	if _, err := exec.LookPath(prometheus); err != nil {
		t.Fatalf("prometheus not found (%v): `make test` installs Debian's prometheus package", err)
	}
	return collector, prometheus
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a child process whose output is kept for the failure message and which is stopped
// when the test ends, whatever its outcome.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// kill9 kills the process (and its group) with SIGKILL and reaps it: a crash, nothing flushed.
func (p *process) kill9() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.waitExit(10 * time.Second)
}

// signal sends sig and waits (bounded) for the process to exit.
func (p *process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	p.waitExit(30 * time.Second)
}

func (p *process) waitExit(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && !processExited(p.cmd.Process.Pid) {
		time.Sleep(50 * time.Millisecond)
	}
}

// requireRunning fails the test at once when the process has exited (its output is logged).
func (p *process) requireRunning(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(p.cmd.Process.Pid, 0); err != nil || processExited(p.cmd.Process.Pid) {
		t.Fatalf("%s exited early", p.name)
	}
}

// processExited tells whether pid is a zombie (exited, not yet reaped): Kill(pid, 0) still succeeds then.
func processExited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	return startProcessEnv(t, name, nil, bin, args...)
}

// startProcessEnv is startProcess with extra environment variables (KEY=value).
func startProcessEnv(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start(), "starting %s", name)
	t.Cleanup(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			out := p.output()
			if len(out) > 8000 && os.Getenv("E2E_VERBOSE") == "" {
				out = "…" + out[len(out)-8000:]
			}
			t.Logf("--- %s output ---\n%s", name, out)
		}
	})
	return p
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
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	port := freePort(t)
	args := append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	}, flags...)
	startProcess(t, "prometheus", bin, args...)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, "Prometheus", base)
	return base
}

// waitReady waits up to 30 s for a Prometheus or Alertmanager at base to answer /-/ready with 200.
func waitReady(t *testing.T, what, base string) {
	t.Helper()
	waitFor(t, 30*time.Second, what+" to be ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
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
	t.Helper()
	tmpl, err := os.ReadFile("../../testdata/modelservers/vllm/datadog-vllm_metrics.txt")
	require.NoError(t, err)
	payloads := make([][]byte, steps)
	for k := range payloads {
		payloads[k] = replay.VLLM(tmpl, model, k, counts(k))
	}
	srv := httptest.NewServer(replay.NewHandler(payloads))
	t.Cleanup(srv.Close)
	return srv
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
	q := fmt.Sprintf("%s[%ds]", selector, int(span.Seconds()))
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "query %s: %s", q, body)
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &r))
	var out []sample
	for _, series := range r.Data.Result {
		for _, v := range series.Values {
			ts, _ := v[0].(float64)
			val, err := strconv.ParseFloat(v[1].(string), 64)
			require.NoError(t, err)
			out = append(out, sample{labels: series.Metric, t: ts, v: val})
		}
	}
	return out
}

// instantQuery evaluates a PromQL expression now and returns one sample per series.
func instantQuery(t *testing.T, base, expr string) []sample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "query %s: %s", expr, body)
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &r))
	out := make([]sample, 0, len(r.Data.Result))
	for _, series := range r.Data.Result {
		ts, _ := series.Value[0].(float64)
		v, err := strconv.ParseFloat(series.Value[1].(string), 64)
		require.NoError(t, err)
		out = append(out, sample{labels: series.Metric, t: ts, v: v})
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
