package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/otel-inference/collector/internal/replay"
	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/internal/testbed/fakekube"
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

// TestKubernetesDiscovery runs the built binary with Kubernetes discovery and k8s_attributes against
// a Kubernetes API endpoint on loopback (pods list and watch, as client-go asks for them): a pod of a
// Deployment running vllm/vllm-openai is found by its image and probed, with its pod's attributes
// and its Deployment's name on its resource; an annotated pod is found by its annotations; a pod of
// another node, and one whose image is no model server's, are not; a deleted pod stops being
// reported.
func TestKubernetesDiscovery(t *testing.T) {
	collectorBin := collectorProgram.path(t)
	engine, engineHits := replayedVLLMCounted(t, 1, func(int) replay.Counts { return replay.Counts{Length: 10, Stop: 5, Error: 1} })
	app, _ := replayedVLLMCounted(t, 1, func(int) replay.Counts { return replay.Counts{Length: 3} })
	other, otherHits := replayedVLLMCounted(t, 1, func(int) replay.Counts { return replay.Counts{} })
	port := func(srv *httptest.Server) int { return srv.Listener.Addr().(*net.TCPAddr).Port }

	api := fakekube.Start()
	defer api.Close()
	vllm := fakekube.Pod("serving", "vllm-7d9f8c6b5-x2x4q", "0a1b2c3d-0000-4000-8000-000000000001", "gpu-node-1", "127.0.0.1", corev1.Container{
		Name: "engine", Image: "vllm/vllm-openai:v0.11.0", Args: []string{model, "--port", strconv.Itoa(port(engine))},
	})
	// As a Deployment makes it: owned by its ReplicaSet, with the pod-template-hash label.
	vllm.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "vllm-7d9f8c6b5", UID: "rs-1", Controller: ptrTo(true)}}
	vllm.Labels = map[string]string{"app": "vllm", "pod-template-hash": "7d9f8c6b5"}
	annotated := fakekube.Pod("apps", "reranker-0", "0a1b2c3d-0000-4000-8000-000000000002", "gpu-node-1", "127.0.0.1", corev1.Container{Name: "app", Image: "example/reranker:1"})
	annotated.Annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(port(app))}
	elsewhere := fakekube.Pod("serving", "vllm-far", "0a1b2c3d-0000-4000-8000-000000000003", "gpu-node-2", "127.0.0.1", corev1.Container{
		Name: "engine", Image: "vllm/vllm-openai:v0.11.0", Args: []string{model, "--port", strconv.Itoa(port(other))},
	})
	web := fakekube.Pod("apps", "web-0", "0a1b2c3d-0000-4000-8000-000000000004", "gpu-node-1", "127.0.0.1", corev1.Container{
		Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: int32(port(other))}},
	})
	for _, p := range []*corev1.Pod{vllm, annotated, elsewhere, web} {
		api.Apply(p)
	}
	kubeconfig, err := api.WriteKubeconfig(t.TempDir())
	require.NoError(t, err)
	promPort := freePort(t)
	config := fmt.Sprintf(`receivers:
  inference:
    collection_interval: 1s
    initial_delay: 0s
    gpu: {enabled: false}
    discovery:
      kubernetes: {enabled: true, node: gpu-node-1, auth_type: kubeConfig, kube_config: %q}
processors:
  k8s_attributes:
    auth_type: kubeConfig
    context: fake
    passthrough: false
    filter: {node_from_env_var: K8S_NODE_NAME}
    extract: {metadata: [k8s.deployment.name]}
    pod_association:
      - sources: [{from: resource_attribute, name: k8s.pod.uid}]
exporters:
  prometheus:
    endpoint: 127.0.0.1:%d
    resource_to_telemetry_conversion: {enabled: true}
service:
  pipelines:
    metrics:
      receivers: [inference]
      processors: [k8s_attributes]
      exporters: [prometheus]
  telemetry:
    metrics:
      level: none
`, kubeconfig, promPort)
	path := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	collector := startProcessEnv(t, "otelcol-inference (kubernetes discovery)", []string{"KUBECONFIG=" + kubeconfig, "K8S_NODE_NAME=gpu-node-1"}, collectorBin, "--config="+path)

	vllmName := fmt.Sprintf("serving/vllm-7d9f8c6b5-x2x4q:%d", port(engine))
	appName := fmt.Sprintf("apps/reranker-0:%d", port(app))
	read := func() []string {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", promPort))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Split(string(b), "\n")
	}
	var lines []string
	defer func() {
		if t.Failed() {
			t.Logf("lines:\n%s\nrequests: %q", strings.Join(serverLines(lines, vllmName), "\n"), api.Requests())
		}
	}()
	waitFor(t, 30*time.Second, "both pods' servers found, with the Deployment's name", func() bool {
		collector.requireRunning(t)
		lines = read()
		if upOf(lines, vllmName) != "1" || upOf(lines, appName) != "1" {
			return false
		}
		for _, l := range serverLines(lines, vllmName) {
			if strings.HasPrefix(l, "inference_server_up{") {
				return strings.Contains(l, `k8s_deployment_name="vllm"`)
			}
		}
		return false
	})
	for _, l := range serverLines(lines, vllmName) {
		if strings.HasPrefix(l, "inference_server_up{") {
			for _, want := range []string{
				`inference_discovery_source="kubernetes"`, `k8s_namespace_name="serving"`, `k8s_pod_name="vllm-7d9f8c6b5-x2x4q"`,
				`k8s_container_name="engine"`, `k8s_node_name="gpu-node-1"`, `inference_server_flavor="vllm"`,
			} {
				assert.Contains(t, l, want)
			}
		}
	}
	assert.Zero(t, otherHits.Served(), "neither another node's pod nor a web server's is asked")

	api.Delete("serving", "vllm-7d9f8c6b5-x2x4q")
	waitFor(t, 20*time.Second, "the deleted pod's server gone", func() bool {
		collector.requireRunning(t)
		lines = read()
		for _, l := range serverLines(lines, vllmName) {
			upZero := strings.HasPrefix(l, "inference_server_up{") && strings.HasSuffix(l, " 0")
			if !upZero && !strings.HasPrefix(l, "target_info{") {
				return false
			}
		}
		return upOf(lines, appName) == "1"
	})
	served := engineHits.Served()
	time.Sleep(2 * time.Second)
	assert.Equal(t, served, engineHits.Served(), "no scrape after the pod went")
}

func ptrTo[T any](v T) *T { return &v }
