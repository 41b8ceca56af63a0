package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/testbed"
)

func TestComponentsListed(t *testing.T) {
	collectorBin, _ := binaries(t)
	out, err := exec.Command(collectorBin, "components").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, want := range []string{
		"name: inference", "name: ratio", "name: otlp", "name: prometheus", "name: batch", "name: memory_limiter",
		"name: resource", "name: resource_detection", "name: transform", "name: filter", "name: debug",
		"name: otlp_grpc", "name: otlp_http", "name: prometheus_remote_write", "name: file", "name: load_balancing",
		"name: remote_write", "name: health_check", "name: file_storage", "name: bearertokenauth", "name: basicauth", "name: zpages", "name: pprof",
		"name: k8s_attributes",
	} {
		assert.Contains(t, string(out), want)
	}
}

func TestShippedConfigsValidate(t *testing.T) {
	collectorBin, _ := binaries(t)
	// The embedded default (no --config), and the agent and gateway examples.
	for _, args := range [][]string{
		{"validate"},
		{"validate", "--config=../../otelcol-dist/config.yaml"},
		{"validate", "--config=../../otelcol-dist/agent.yaml"},
		{"validate", "--config=../../otelcol-dist/gateway.yaml"},
		{"validate", "--config=../../otelcol-dist/agent-loadbalanced.yaml"},
	} {
		cmd := exec.Command(collectorBin, args...)
		cmd.Env = append(os.Environ(), "OTELCOL_GATEWAY_TOKEN=e2e-secret")
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "%v: %s", args, out)
	}
}

// TestShippedConfigsFailClosed: no shipped configuration has a default secret. Without
// OTELCOL_GATEWAY_TOKEN the gateway and agent configurations neither validate nor start, and the
// error names the variable.
func TestShippedConfigsFailClosed(t *testing.T) {
	collectorBin := collectorProgram.path(t)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTELCOL_GATEWAY_TOKEN=") {
			env = append(env, kv)
		}
	}
	for _, config := range []string{"gateway.yaml", "agent.yaml", "agent-lean.yaml"} {
		for _, sub := range [][]string{{"validate"}, {}} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			args := append(slices.Clone(sub), "--config=../../otelcol-dist/"+config)
			cmd := exec.CommandContext(ctx, collectorBin, args...)
			cmd.Env = append(slices.Clone(env), "OTELCOL_HOST_NAME=h", "OTELCOL_STORAGE_DIR="+t.TempDir(),
				fmt.Sprintf("OTELCOL_OTLP_ENDPOINT=127.0.0.1:%d", freePort(t)), fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", freePort(t)),
				fmt.Sprintf("OTELCOL_TELEMETRY_PORT=%d", freePort(t)))
			out, err := cmd.CombinedOutput()
			timedOut := ctx.Err() != nil
			cancel()
			require.Error(t, err, "%s %v started without a token:\n%s", config, sub, out)
			require.False(t, timedOut, "%s %v did not exit", config, sub)
			assert.Contains(t, string(out), "environment variable OTELCOL_GATEWAY_TOKEN is not set", "%s %v", config, sub)
		}
	}
	raw, err := os.ReadFile("../../otelcol-dist/gateway.yaml")
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "change-me")
}

// portFree tells whether nothing listens on a loopback port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TestAgentToGateway runs the shipped agent.yaml and gateway.yaml unchanged (endpoints through their
// environment variables): vLLM → agent → OTLP with a bearer token → gateway (ratio) → Prometheus.
func TestAgentToGateway(t *testing.T) {
	collectorBin, _ := binaries(t)
	t.Run("full build", func(t *testing.T) { agentToGateway(t, collectorBin, "agent.yaml") })
	// The lean build runs both roles: agent-lean.yaml (host.name from the environment) and the gateway.
	t.Run("lean build", func(t *testing.T) { agentToGateway(t, agentProgram.path(t), "agent-lean.yaml") })
}

func agentToGateway(t *testing.T, collectorBin, agentConfig string) {
	_, prometheusBin := binaries(t)
	srv, _ := replayedSequence(t)
	prom := startPrometheus(t, prometheusBin)

	otlpPort := freePort(t)
	common := []string{"OTELCOL_GATEWAY_TOKEN=e2e-secret"}
	gateway := startProcessEnv(t, "gateway", append(common,
		fmt.Sprintf("OTELCOL_OTLP_ENDPOINT=127.0.0.1:%d", otlpPort),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("OTELCOL_TELEMETRY_PORT=%d", freePort(t)),
		"PROMETHEUS_REMOTE_WRITE_URL="+prom+"/api/v1/write",
		"OTELCOL_STORAGE_DIR="+t.TempDir(),
	), collectorBin, "--config=../../otelcol-dist/gateway.yaml")
	host, _ := os.Hostname()
	agent := startProcessEnv(t, "agent", append(common,
		"OTELCOL_HOST_NAME="+host,
		fmt.Sprintf("OTELCOL_GATEWAY_ENDPOINT=http://127.0.0.1:%d", otlpPort),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("OTELCOL_TELEMETRY_PORT=%d", freePort(t)),
		"OTELCOL_STORAGE_DIR="+t.TempDir(),
	), collectorBin, "--config=../../otelcol-dist/"+agentConfig, listedServer(t, "vllm", srv.URL+"/metrics", "vllm"),
		"--set=receivers::inference::collection_interval=1s")

	var ratios []sample
	waitFor(t, 90*time.Second, "the error ratio to reach Prometheus through the gateway", func() bool {
		gateway.requireRunning(t)
		agent.requireRunning(t)
		ratios = queryRange(t, prom, `inference_requests_error_ratio`, 10*time.Minute)
		return len(ratios) >= 3
	})
	for _, r := range ratios {
		assert.Equal(t, model, r.labels["gen_ai_request_model"])
		assert.Equal(t, "vllm", r.labels["inference_server_name"])
		assert.NotEmpty(t, r.labels["host_name"], "the agent's host.name is kept")
		assert.True(t, r.v >= 0 && r.v <= 1, "ratio %v out of 0..1", r.v)
	}
	assert.Equal(t, host, ratios[0].labels["host_name"])
	up := queryRange(t, prom, `inference_server_up{inference_server_name="vllm"}`, 10*time.Minute)
	require.NotEmpty(t, up)
	assert.InDelta(t, 1.0, up[len(up)-1].v, 0)
}

// TestImageBasesPinnedByDigest: every base image of the Dockerfile is pinned by digest.
func TestImageBasesPinnedByDigest(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	pinned := regexp.MustCompile(`^FROM\s+\S+@sha256:[0-9a-f]{64}(\s|$)`)
	froms := 0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "FROM ") {
			froms++
			assert.Regexp(t, pinned, line)
		}
	}
	assert.Equal(t, 2, froms)
}

// TestNoPasswordInLogsOrData runs the built binary with a password (and a token) in every URL it is
// given: a scraped server that answers, one that does not, a probe, and the remote-write endpoint.
// Neither its whole log nor what it exports (the Prometheus pull exporter's page, every label value
// stored in Prometheus) carries any of them.
func TestNoPasswordInLogsOrData(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	prom := startPrometheus(t, prometheusBin)
	srv, _ := replayedSequence(t)
	dead := freePort(t)
	pullPort := freePort(t)
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://user-alice:hunter2-scrape@", 1)
	}
	config := fmt.Sprintf(`receivers:
  inference:
    collection_interval: 1s
    initial_delay: 0s
    gpu: {enabled: true, processes: true}
    servers:
      - {endpoint: %q}
      - {endpoint: "http://user-bob:hunter2-dead@127.0.0.1:%d/metrics?token=hunter2-query"}
  inference_probe:
    collection_interval: 1s
    probes:
      - {name: canary, endpoint: "http://user-carol:hunter2-probe@127.0.0.1:%d/v1", kind: chat, model: m, input: hi, max_tokens: 4, expect: {contains: "4"}}
exporters:
  remote_write:
    endpoint: %q
    resource_to_telemetry_conversion: {enabled: true}
  prometheus:
    endpoint: 127.0.0.1:%d
    resource_to_telemetry_conversion: {enabled: true}
service:
  pipelines:
    metrics:
      receivers: [inference, inference_probe]
      exporters: [remote_write, prometheus]
  telemetry:
    logs: {level: debug}
    metrics: {level: none}
`, withSecrets(srv.URL)+"/metrics?api_key=hunter2-key", dead, dead, strings.Replace(prom, "http://", "http://user-dave:hunter2-write@", 1)+"/api/v1/write", pullPort)
	collector := startCollector(t, collectorBin, config)
	waitFor(t, 60*time.Second, "the scraped server in Prometheus", func() bool {
		collector.requireRunning(t)
		return len(instantQuery(t, prom, `inference_server_up`)) == 2
	})
	time.Sleep(3 * time.Second) // more scrapes, failures and retries logged
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", pullPort))
	require.NoError(t, err)
	pulled, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var stored strings.Builder
	for _, s := range instantQuery(t, prom, `{__name__=~".+"}`) {
		for k, v := range s.labels {
			stored.WriteString(k + "=" + v + "\n")
		}
	}
	for what, text := range map[string]string{"the log": collector.output(), "the pull exporter": string(pulled), "Prometheus's labels": stored.String()} {
		require.NotEmpty(t, text, what)
		for _, secret := range []string{"hunter2", "user-alice", "user-bob", "user-carol", "user-dave"} {
			for _, line := range strings.Split(text, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("%s carries %q: %s", what, secret, testbed.Tail(line, 600))
					break
				}
			}
		}
	}
	assert.Contains(t, collector.output(), "xxxxx@", "the endpoints are named, redacted")
}
