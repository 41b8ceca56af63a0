package inferencereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

func loadConfig(t *testing.T, id component.ID) (*Config, error) {
	t.Helper()
	cfg, err := testbed.ComponentConfig("testdata/config.yaml", id, NewFactory())
	require.NoError(t, err)
	return cfg.(*Config), confmap.Validate(cfg)
}

func TestLoadConfigDefault(t *testing.T) {
	cfg, err := loadConfig(t, component.NewID(metadata.Type))
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, cfg.CollectionInterval)
	require.Len(t, cfg.Servers, 1)
	assert.Equal(t, "vllm", cfg.Servers[0].Flavor)
}

func TestLoadConfigCustom(t *testing.T) {
	cfg, err := loadConfig(t, component.NewIDWithName(metadata.Type, "custom"))
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, cfg.CollectionInterval)
	require.Len(t, cfg.Servers, 2)
	a := cfg.Servers[0]
	assert.Equal(t, "vllm-a", a.Name)
	assert.Equal(t, "https://vllm.internal:8443/metrics", a.Endpoint)
	assert.Equal(t, "none", a.Passthrough)
	assert.Equal(t, 3*time.Second, a.Timeout)
	team, ok := a.Headers.Get("X-Team")
	assert.True(t, ok)
	assert.Equal(t, "search", string(team))
	assert.Equal(t, "all", cfg.Servers[1].Passthrough)
}

func TestLoadConfigErrorsNameTheKey(t *testing.T) {
	_, err := loadConfig(t, component.NewIDWithName(metadata.Type, "no_servers"))
	require.ErrorContains(t, err, `"servers" must list at least one server (or enable "discovery" or "gpu")`)

	_, err = loadConfig(t, component.NewIDWithName(metadata.Type, "gpu_bad_devices"))
	require.ErrorContains(t, err, `"gpu.devices" must be "all" or a list of GPU indexes and UUIDs`)

	_, err = loadConfig(t, component.NewIDWithName(metadata.Type, "bad_server"))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`server "a": "endpoint" "ftp://x/metrics" must start with http:// or https://`,
		`server "a": "name" is used by servers[0] too`,
		`server "a": unknown "flavor" "sglang-typo" (use one of dcgm, json, llamacpp, nim, ollama, prometheus, sglang, tei, tgi, triton, vllm, or omit it to detect it)`,
		`server "a": "passthrough": unknown passthrough "some": use unmapped, all or none`,
		`servers[2]: flavor json needs "fields"`,
		`servers[2]: "max_series" must not be negative`,
	} {
		assert.Contains(t, msg, want)
	}
}

func TestLoadConfigGPU(t *testing.T) {
	cfg, err := loadConfig(t, component.NewIDWithName(metadata.Type, "gpu_only"))
	require.NoError(t, err)
	assert.True(t, cfg.GPU.Enabled, "on by default")
	assert.False(t, cfg.GPU.Processes)
	assert.True(t, cfg.GPU.PCIeThroughput)
	devices, err := cfg.GPU.deviceList()
	require.NoError(t, err)
	assert.Equal(t, []string{"0", "GPU-1c2f0000-0000-0000-0000-000000000000"}, devices)

	def := createDefaultConfig().(*Config)
	all, err := def.GPU.deviceList()
	require.NoError(t, err)
	assert.Nil(t, all, "all GPUs by default")
	assert.True(t, def.GPU.Processes)
}

func TestLocalServersForTheGPUJoin(t *testing.T) {
	got := localServers([]ServerConfig{
		serverConfig("a", "http://127.0.0.1:8000/metrics", "vllm"),
		serverConfig("b", "http://10.0.0.5:8000/metrics", "vllm"),
		serverConfig("", "http://localhost:30000/metrics", "sglang"),
		serverConfig("c", "http://myhost:9000/metrics", "tgi"),
		serverConfig("d", "http://10.0.0.1:8001/metrics", "vllm"), // the node's IP on Kubernetes
	}, []string{"myhost", "10.0.0.1"})
	require.Len(t, got, 4)
	assert.Equal(t, "a", got[0].Name)
	assert.Equal(t, 8000, got[0].Port)
	assert.Equal(t, "http://localhost:30000/metrics", got[1].Name)
	assert.Equal(t, "c", got[2].Name)
	assert.Equal(t, gpu.Server{Name: "d", Port: 8001}, got[3])
	// Without local addresses, only loopback and the hostname.
	assert.Empty(t, localServers([]ServerConfig{serverConfig("d", "http://10.0.0.1:8001/metrics", "vllm")}, []string{"myhost"}))
}

func TestHostPort(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		host     string
		port     int64
	}{
		{"http://127.0.0.1:8000/metrics", "127.0.0.1", 8000},
		{"https://vllm.internal/metrics", "vllm.internal", 443},
		{"http://[::1]:9400/metrics", "::1", 9400},
		{"http://vllm/metrics", "vllm", 80},
	} {
		h, p := hostPort(tt.endpoint)
		assert.Equal(t, tt.host, h, tt.endpoint)
		assert.Equal(t, tt.port, p, tt.endpoint)
	}
}

func TestLoadConfigTimeouts(t *testing.T) {
	_, err := loadConfig(t, component.NewIDWithName(metadata.Type, "bad_timeouts"))
	require.Error(t, err)
	for _, want := range []string{
		`"timeout" (-1s) must be positive; leave it out for min(collection_interval, 10s)`,
		`server "slow": "timeout" (20s) must not be longer than "collection_interval" (10s)`,
		`server "negative": "timeout" (-2s) must be positive`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = loadConfig(t, component.NewIDWithName(metadata.Type, "timeout_over_interval"))
	require.ErrorContains(t, err, `"timeout" (6s) must not be longer than "collection_interval" (5s)`)

	// Unset, the timeout is min(collection_interval, 10s); a server's own timeout wins.
	cfg, err := loadConfig(t, component.NewIDWithName(metadata.Type, "short_interval"))
	require.NoError(t, err)
	assert.Equal(t, time.Second, cfg.serverTimeout(&cfg.Servers[0]))
	assert.Equal(t, 2*time.Second, cfg.serverTimeout(&cfg.Servers[1]))
	def, err := loadConfig(t, component.NewID(metadata.Type))
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, def.serverTimeout(&def.Servers[0]))
	def.CollectionInterval = time.Minute
	assert.Equal(t, 10*time.Second, def.serverTimeout(&def.Servers[0]), "never more than 10s unless set")
}
