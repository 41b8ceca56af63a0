package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stepServer is a replayed server whose gauge replay_step counts its requests, so every scraped value
// is known: step k was served at servedAt[k].
type stepServer struct {
	mu       sync.Mutex
	servedAt []time.Time
}

func (s *stepServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	k := len(s.servedAt)
	s.servedAt = append(s.servedAt, time.Now())
	s.mu.Unlock()
	fmt.Fprintf(w, "# TYPE replay_step gauge\nreplay_step %d\n", k)
}

// expected lists the steps that must reach the backend: all served, except those served in the gaps
// (a scrape in flight when its collector was killed is in no queue yet).
func (s *stepServer) expected(gaps ...[2]time.Time) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
steps:
	for k, at := range s.servedAt {
		for _, g := range gaps {
			if at.After(g[0]) && at.Before(g[1]) {
				continue steps
			}
		}
		out = append(out, k)
	}
	return out
}

// promServer is a real Prometheus that can be stopped and started again on the same port and data.
type promServer struct {
	bin, dir string
	port     int
	proc     *process
}

func newPromServer(t *testing.T, bin string) *promServer {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte("global:\n  scrape_interval: 1m\n"), 0o600))
	return &promServer{bin: bin, dir: dir, port: freePort(t)}
}

func (p *promServer) url() string { return fmt.Sprintf("http://127.0.0.1:%d", p.port) }

func (p *promServer) start(t *testing.T) {
	t.Helper()
	p.proc = startProcess(t, "prometheus", p.bin,
		"--config.file="+filepath.Join(p.dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(p.dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(p.port),
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	)
	waitFor(t, 30*time.Second, "Prometheus to be ready", func() bool {
		resp, err := http.Get(p.url() + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (p *promServer) stop(t *testing.T) {
	t.Helper()
	p.proc.signal(syscall.SIGTERM)
}

// stepsStored returns the replay_step values Prometheus holds, in timestamp order.
func stepsStored(t *testing.T, base string) []int {
	t.Helper()
	samples := queryRange(t, base, "replay_step", time.Hour)
	sort.Slice(samples, func(i, j int) bool { return samples[i].t < samples[j].t })
	out := make([]int, len(samples))
	for i, s := range samples {
		out[i] = int(s.v)
	}
	return out
}

func containsAll(stored, expected []int) bool {
	have := map[int]bool{}
	for _, k := range stored {
		have[k] = true
	}
	for _, k := range expected {
		if !have[k] {
			return false
		}
	}
	return true
}

// checkLossless: every expected step is stored exactly once, and in timestamp order the stored steps
// only go up (nothing arrived out of order, nothing twice).
func checkLossless(t *testing.T, stored, expected []int) {
	t.Helper()
	count := map[int]int{}
	for _, k := range stored {
		count[k]++
	}
	var missing []int
	for _, k := range expected {
		if count[k] == 0 {
			missing = append(missing, k)
		}
	}
	assert.Empty(t, missing, "steps scraped but not in Prometheus (of %d expected)", len(expected))
	for k, n := range count {
		assert.Equal(t, 1, n, "step %d stored %d times", k, n)
	}
	assert.True(t, sort.IntsAreSorted(stored), "stored out of order: %v", stored)
}

// TestDurabilityBackendOutageAndCrash: backend down 60 s, the collector killed with -9 in the middle
// and restarted at once, backend back: every scraped sample is in Prometheus exactly once, in order.
func TestDurabilityBackendOutageAndCrash(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	steps := &stepServer{}
	srv := httptest.NewServer(steps)
	defer srv.Close()
	prom := newPromServer(t, prometheusBin)
	prom.start(t)
	config := fmt.Sprintf(`
extensions:
  file_storage/queue:
    directory: %s
receivers:
  inference:
    collection_interval: 1s
    initial_delay: 0s
    servers:
      - {name: steps, endpoint: %s/metrics, flavor: prometheus}
exporters:
  remote_write:
    endpoint: %s/api/v1/write
    sending_queue:
      storage: file_storage/queue
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 1s
service:
  extensions: [file_storage/queue]
  pipelines:
    metrics:
      receivers: [inference]
      exporters: [remote_write]
  telemetry:
    metrics:
      level: none
`, t.TempDir(), srv.URL, prom.url())
	collector := startCollector(t, collectorBin, config)
	time.Sleep(8 * time.Second)

	prom.stop(t)
	time.Sleep(25 * time.Second)
	killedAt := time.Now()
	collector.kill9()
	collector = startCollector(t, collectorBin, config)
	time.Sleep(35 * time.Second)
	prom.start(t)

	expected := steps.expected([2]time.Time{killedAt.Add(-1500 * time.Millisecond), killedAt.Add(time.Second)})
	waitFor(t, 60*time.Second, "every scraped step to reach Prometheus", func() bool {
		collector.requireRunning(t)
		return containsAll(stepsStored(t, prom.url()), expected)
	})
	checkLossless(t, stepsStored(t, prom.url()), expected)
	t.Logf("%d steps scraped across a 60 s outage and a kill -9; all %d expected ones stored once, in order", len(steps.servedAt), len(expected))
}

// TestDurabilityAgentGateway: the shipped agent and gateway configurations, the backend down, the
// gateway and then the agent killed with -9 and restarted; nothing scraped is lost.
func TestDurabilityAgentGateway(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	steps := &stepServer{}
	srv := httptest.NewServer(steps)
	defer srv.Close()
	prom := newPromServer(t, prometheusBin)
	prom.start(t)

	otlpPort := freePort(t)
	gatewayEnv := []string{
		"OTELCOL_GATEWAY_TOKEN=e2e-secret",
		fmt.Sprintf("OTELCOL_OTLP_ENDPOINT=127.0.0.1:%d", otlpPort),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("OTELCOL_TELEMETRY_PORT=%d", freePort(t)),
		"PROMETHEUS_REMOTE_WRITE_URL=" + prom.url() + "/api/v1/write",
		"OTELCOL_STORAGE_DIR=" + t.TempDir(),
	}
	agentEnv := []string{
		"OTELCOL_GATEWAY_TOKEN=e2e-secret",
		fmt.Sprintf("OTELCOL_GATEWAY_ENDPOINT=http://127.0.0.1:%d", otlpPort),
		fmt.Sprintf("OTELCOL_HEALTH_ENDPOINT=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("OTELCOL_TELEMETRY_PORT=%d", freePort(t)),
		"VLLM_ENDPOINT=" + srv.URL + "/metrics",
		"OTELCOL_STORAGE_DIR=" + t.TempDir(),
	}
	gatewayArgs := []string{"--config=../../otelcol-dist/gateway.yaml", "--set=exporters::remote_write::retry_on_failure::max_interval=1s"}
	agentArgs := []string{"--config=../../otelcol-dist/agent.yaml", "--set=receivers::inference::collection_interval=1s",
		"--set=exporters::otlp_http/gateway::retry_on_failure::initial_interval=200ms", "--set=exporters::otlp_http/gateway::retry_on_failure::max_interval=1s"}
	gateway := startProcessEnv(t, "gateway", gatewayEnv, collectorBin, gatewayArgs...)
	agent := startProcessEnv(t, "agent", agentEnv, collectorBin, agentArgs...)

	time.Sleep(5 * time.Second)
	prom.stop(t)
	time.Sleep(7 * time.Second)
	gateway.kill9()
	time.Sleep(2 * time.Second)
	gateway = startProcessEnv(t, "gateway", gatewayEnv, collectorBin, gatewayArgs...)
	time.Sleep(6 * time.Second)
	agentKilledAt := time.Now()
	agent.kill9()
	time.Sleep(2 * time.Second)
	agent = startProcessEnv(t, "agent", agentEnv, collectorBin, agentArgs...)
	time.Sleep(13 * time.Second)
	prom.start(t)

	expected := steps.expected([2]time.Time{agentKilledAt.Add(-1500 * time.Millisecond), agentKilledAt.Add(time.Second)})
	waitFor(t, 90*time.Second, "every scraped step to reach Prometheus through the gateway", func() bool {
		gateway.requireRunning(t)
		agent.requireRunning(t)
		return containsAll(stepsStored(t, prom.url()), expected)
	})
	checkLossless(t, stepsStored(t, prom.url()), expected)
	t.Logf("%d steps scraped; gateway and agent each killed once during a backend outage; all %d expected stored once, in order", len(steps.servedAt), len(expected))
}
