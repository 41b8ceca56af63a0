package e2e

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// TestLoadBalancedGatewaysExactRatios runs the shipped otelcol-dist/agent-loadbalanced.yaml (its
// servers replaced by twelve replayed vLLMs) in front of two gateways (OTLP gRPC → ratio →
// remote_write into one Prometheus). Each server's error ratio is known exactly; every stored ratio
// sample of every server must be that value (min and max over the whole run), which holds only when
// all the series of a server reach the same gateway (routing_key: resource). Routing by streamID, the
// shipped file's earlier value, split a server's error and success series across the gateways.
// Both gateways must have received data: the routing spreads the servers.
func TestLoadBalancedGatewaysExactRatios(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	prom := startPrometheus(t, prometheusBin)

	// Per scrape, server i finishes ok[i] requests well and err[i] with an error: its error ratio over
	// any window is err/(ok+err) exactly.
	// Twelve servers, so that both gateways get some (the ring places each resource by a hash that
	// includes its random port: all twelve on one gateway has odds of 1 in 2,048).
	ok := []float64{25, 25, 3, 7, 9, 11, 40, 13, 5, 17, 30, 2}
	bad := []float64{3, 1, 1, 2, 1, 4, 7, 2, 5, 3, 1, 1}
	var servers string
	want := map[string]float64{}
	for i := range ok {
		srv := replayedVLLM(t, 200, func(k int) replay.Counts {
			return replay.Counts{Length: 10 + ok[i]*float64(k), Stop: 5, Abort: 2, Error: 1 + bad[i]*float64(k)}
		})
		name := "vllm-" + strconv.Itoa(i)
		servers += fmt.Sprintf("      - {name: %s, endpoint: %s/metrics, flavor: vllm}\n", name, srv.URL)
		want[name] = bad[i] / (ok[i] + bad[i])
	}

	gatewayConfig := func(otlpPort, telemetryPort int) string {
		return fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:%d"}
processors:
  ratio:
    window: 10m
exporters:
  remote_write:
    endpoint: %s/api/v1/write
    resource_to_telemetry_conversion: {enabled: true}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors: [ratio]
      exporters: [remote_write]
  telemetry:
    metrics:
      level: basic
      readers:
        - pull:
            exporter:
              prometheus: {host: 127.0.0.1, port: %d}
`, otlpPort, prom, telemetryPort)
	}
	gwPorts := [2]int{freePort(t), freePort(t)}
	telemetryPorts := [2]int{freePort(t), freePort(t)}
	var gateways [2]*process
	var gatewayConfigs [2]string
	for i := range gateways {
		gatewayConfigs[i] = filepath.Join(t.TempDir(), "gateway.yaml")
		require.NoError(t, os.WriteFile(gatewayConfigs[i], []byte(gatewayConfig(gwPorts[i], telemetryPorts[i])), 0o600))
		gateways[i] = startProcessEnv(t, fmt.Sprintf("gateway-%d", i), nil, collectorBin, "--config="+gatewayConfigs[i])
	}

	override := filepath.Join(t.TempDir(), "servers.yaml")
	require.NoError(t, os.WriteFile(override, []byte("receivers:\n  inference:\n    collection_interval: 1s\n    initial_delay: 0s\n    gpu: {enabled: false}\n    servers:\n"+servers), 0o600))
	agent := startProcessEnv(t, "agent", []string{
		fmt.Sprintf("OTELCOL_GATEWAY_A=127.0.0.1:%d", gwPorts[0]),
		fmt.Sprintf("OTELCOL_GATEWAY_B=127.0.0.1:%d", gwPorts[1]),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", freePort(t)),
		"OTELCOL_STORAGE_DIR=" + t.TempDir(),
	}, collectorBin, "--config=../../otelcol-dist/agent-loadbalanced.yaml", "--config="+override)

	// Enough ratio points per server to see a split: 15 s of scrapes after the first ratio.
	waitFor(t, 60*time.Second, "error ratios of every server in Prometheus", func() bool {
		agent.requireRunning(t)
		return len(instantQuery(t, prom, `inference_requests_error_ratio`)) == len(want)
	})
	time.Sleep(15 * time.Second)
	for _, g := range gateways {
		g.requireRunning(t)
	}
	agent.requireRunning(t)

	exact := func(when string) {
		t.Helper()
		for _, fn := range []string{"min_over_time", "max_over_time"} {
			got := map[string]float64{}
			for _, s := range instantQuery(t, prom, fn+`(inference_requests_error_ratio[10m])`) {
				got[s.labels["inference_server_name"]] = s.v
			}
			require.Len(t, got, len(want), "%s: a ratio per server", fn)
			for name, w := range want {
				assert.InDelta(t, w, got[name], 1e-12, "%s: %s of %s's error ratio: every stored sample is exact", when, fn, name)
			}
		}
	}
	exact("both gateways up")
	points := regexp.MustCompile(`(?m)^otelcol_receiver_accepted_metric_points\{[^}]*\} ([0-9.e+]+)$`)
	for i, port := range telemetryPorts {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		total := 0.0
		for _, m := range points.FindAllStringSubmatch(string(body), -1) {
			v, err := strconv.ParseFloat(m[1], 64)
			require.NoError(t, err)
			total += v
		}
		assert.False(t, math.IsNaN(total))
		assert.Positive(t, total, "gateway %d received points: the servers are spread over both", i)
	}

	// A gateway dies (kill -9) and comes back: the agent keeps running and holds what it cannot
	// deliver in its queue on disk (the static resolver keeps the dead gateway in the ring; a dns or
	// k8s resolver would move its servers to the survivor); afterwards every server's ratios flow
	// again and still no stored value is wrong (the restarted gateway starts its windows afresh, and
	// batches retried whole reach the survivor twice).
	gateways[1].kill9()
	time.Sleep(6 * time.Second)
	agent.requireRunning(t)
	gateways[0].requireRunning(t)
	restartedAt := time.Now()
	gateways[1] = startProcessEnv(t, "gateway-1", nil, collectorBin, "--config="+gatewayConfigs[1])
	waitFor(t, 90*time.Second, "a ratio of every server newer than the gateway's restart", func() bool {
		agent.requireRunning(t)
		n := 0
		for _, s := range instantQuery(t, prom, `timestamp(inference_requests_error_ratio)`) {
			if s.v > float64(restartedAt.Unix()) {
				n++
			}
		}
		return n == len(want)
	})
	exact("after a gateway's kill and restart")
}
