package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/testbed"
)

// fakeServers builds cmd/replay once under the names model servers run as (vllm; python3 for
// `python3 -m sglang.launch_server`) and a name that is no model server's (webapp), and returns the
// folder.
func fakeServers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "vllm"), "../../cmd/replay").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range []string{"python3", "webapp"} {
		require.NoError(t, os.Link(filepath.Join(dir, "vllm"), filepath.Join(dir, name)))
	}
	return dir
}

// startAs runs a fake server with the command line given (argv[0] included), as ps would show it.
func startAs(t *testing.T, name, bin string, argv ...string) *process {
	t.Helper()
	testdata, err := filepath.Abs("../../testdata/modelservers")
	require.NoError(t, err)
	p, err := testbed.StartArgv(name, []string{"REPLAY_TESTDATA=" + testdata}, bin, argv)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, testbed.Tail(p.Output(), 4000))
		}
	})
	return &process{p}
}

// pulled is what the default configuration's Prometheus exporter serves now, line by line.
func pulled(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:8889/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Split(string(b), "\n")
}

// serverLines are the lines of one server (by inference_server_name).
func serverLines(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, `inference_server_name="`+name+`"`) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// upOf is a server's inference_server_up value ("" when absent).
func upOf(lines []string, name string) string {
	for _, l := range serverLines(lines, name) {
		if strings.HasPrefix(l, "inference_server_up{") {
			return l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	return ""
}

// TestZeroConfigDiscovery is `make run` on a GPU host: the built binary with no --config finds a
// process started as `vllm serve MODEL --port N` on a port nobody configured, and its unified
// metrics carry the model; a plain HTTP server (serving metrics too) is never asked; when the vLLM
// server stops and another starts on a new port, the first stops being reported and the second is
// found, each within 30 s; an SGLang started as `python3 -m sglang.launch_server` is found by its
// own command line.
func TestZeroConfigDiscovery(t *testing.T) {
	collectorBin := collectorProgram.path(t)
	for _, port := range []int{8888, 8889, 13133} {
		if !portFree(port) {
			t.Skipf("127.0.0.1:%d is in use; the default configuration needs it free", port)
		}
	}
	fakes := fakeServers(t)
	collector := startProcess(t, "otelcol-inference (no --config)", collectorBin)
	waitFor(t, 60*time.Second, "the collector's health check", func() bool {
		collector.requireRunning(t)
		resp, err := http.Get("http://127.0.0.1:13133/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	const model = "Qwen/Qwen3-0.6B"
	port1, plainPort := freePort(t), freePort(t)
	vllm1 := startAs(t, "vllm (first)", filepath.Join(fakes, "vllm"),
		"/usr/bin/python3", "/usr/local/bin/vllm", "serve", model, "--port", strconv.Itoa(port1))
	plain := startAs(t, "webapp", filepath.Join(fakes, "webapp"), "webapp", "-listen", "127.0.0.1:"+strconv.Itoa(plainPort))
	name1 := "vllm-" + strconv.Itoa(port1)
	var lines []string
	waitFor(t, 30*time.Second, "the first vLLM's unified metrics with its model on :8889", func() bool {
		collector.requireRunning(t)
		lines = pulled(t)
		if upOf(lines, name1) != "1" {
			return false
		}
		for _, l := range serverLines(lines, name1) {
			if strings.HasPrefix(l, "gen_ai_server_") && strings.Contains(l, `gen_ai_request_model="`+model+`"`) {
				return true
			}
		}
		return false
	})
	for _, l := range serverLines(lines, name1) {
		if strings.HasPrefix(l, "inference_server_up{") {
			assert.Contains(t, l, `inference_server_flavor="vllm"`, "the flavor detected from the payload")
			assert.Contains(t, l, `inference_discovery_source="host"`)
		}
	}
	assert.NotContains(t, plain.output(), "replay: GET", "a process that is no model server is never asked")

	vllm1.Stop()
	port2 := freePort(t)
	startAs(t, "vllm (second)", filepath.Join(fakes, "vllm"), "/usr/bin/python3", "/usr/local/bin/vllm", "serve", model, "--port", strconv.Itoa(port2))
	name2 := "vllm-" + strconv.Itoa(port2)
	defer func() {
		if t.Failed() {
			t.Logf("lines of %s left:\n%s", name1, strings.Join(serverLines(lines, name1), "\n"))
		}
	}()
	waitFor(t, 30*time.Second, "the first vLLM gone and the second found", func() bool {
		collector.requireRunning(t)
		lines = pulled(t)
		for _, l := range serverLines(lines, name1) {
			// up 0 (and the exporter's target_info of the resource) may stay a minute: the rest goes.
			upZero := strings.HasPrefix(l, "inference_server_up{") && strings.HasSuffix(l, " 0")
			if !upZero && !strings.HasPrefix(l, "target_info{") {
				return false
			}
		}
		return upOf(lines, name2) == "1"
	})
	t.Logf("after the first stopped: %d lines of it left", len(serverLines(lines, name1)))

	port3 := freePort(t)
	startAs(t, "sglang", filepath.Join(fakes, "python3"),
		"python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-8B", "--host", "127.0.0.1", "--port", strconv.Itoa(port3), "--enable-metrics")
	name3 := "sglang-" + strconv.Itoa(port3)
	waitFor(t, 30*time.Second, "the SGLang server found by its command line", func() bool {
		collector.requireRunning(t)
		lines = pulled(t)
		return upOf(lines, name3) == "1"
	})
	for _, l := range serverLines(lines, name3) {
		if strings.HasPrefix(l, "inference_server_up{") {
			assert.Contains(t, l, `inference_server_flavor="sglang"`)
		}
	}
	assert.NotContains(t, plain.output(), "replay: GET")
	out := collector.output()
	assert.Contains(t, out, `Discovered model server "`+name1+`"`)
	assert.Contains(t, out, `Model server "`+name1+`" is gone`)
}
