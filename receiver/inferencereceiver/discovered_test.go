package inferencereceiver

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery/discoverytest"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// portOf is the port of a test server's URL.
func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)
	return port
}

// byServer groups what a sink got by inference.server.name: each resource's metrics, in order.
func byServer(sink *consumertest.MetricsSink) map[string][]pmetric.ResourceMetrics {
	out := map[string][]pmetric.ResourceMetrics{}
	for _, md := range sink.AllMetrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			name, ok := rm.Resource().Attributes().Get("inference.server.name")
			if ok {
				out[name.Str()] = append(out[name.Str()], rm)
			}
		}
	}
	return out
}

// fakeVLLM is a /proc with one process started as `vllm serve MODEL --port N`, listening on port
// (on all addresses when wildcard).
func fakeVLLM(t *testing.T, port int, wildcard bool) *discoverytest.Proc {
	t.Helper()
	f := discoverytest.NewProc(t)
	f.Add(discoverytest.Process{
		PID: 4242, PPID: 1, Comm: "vllm",
		Argv: []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "Qwen/Qwen3-0.6B", "--port", strconv.Itoa(port)}, Sockets: []uint64{f.Listen(port, wildcard)},
	})
	return f
}

// startReceiver starts the receiver of cfg into sink; the test's end shuts it down (if the test did
// not).
func startReceiver(t *testing.T, cfg *Config, set receiver.Settings, sink *consumertest.MetricsSink) receiver.Metrics {
	t.Helper()
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r
}

func discoveryConfig(t *testing.T, procRoot string) *Config {
	t.Helper()
	cfg := testConfig()
	cfg.GPU.Enabled = false
	cfg.CollectionInterval = 100 * time.Millisecond
	cfg.InitialDelay = 0
	cfg.Discovery.Host = HostDiscoveryConfig{Enabled: true, ProcRoot: procRoot}
	cfg.Discovery.RefreshInterval = 100 * time.Millisecond
	require.NoError(t, cfg.Validate())
	return cfg
}

// A vLLM process found on the host is scraped as a listed server would be (its flavor detected,
// its resource naming it and how it was found); when its process exits, it reports up 0 once and
// every other series of its last scrape as stale (no recorded value), then nothing more.
func TestDiscoveredServerIsScrapedThenMarkedStale(t *testing.T) {
	srv, _ := serveFile(t, payloadDir+"/vllm/datadog-vllm_metrics.txt")
	port := portOf(t, srv.URL)
	f := fakeVLLM(t, port, false)
	sink := new(consumertest.MetricsSink)
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	startReceiver(t, discoveryConfig(t, f.Root), set, sink)

	name := "vllm-" + strconv.Itoa(port)
	require.Eventually(t, func() bool { return len(byServer(sink)[name]) >= 2 }, 10*time.Second, 20*time.Millisecond)
	first := byServer(sink)[name][1]
	attrs := first.Resource().Attributes().AsRaw()
	assert.Equal(t, "vllm", attrs["inference.server.flavor"], "the flavor is detected from the payload")
	assert.Equal(t, "host", attrs["inference.discovery.source"])
	assert.Equal(t, name, attrs["service.name"])
	assert.Equal(t, "127.0.0.1:"+strconv.Itoa(port), attrs["service.instance.id"])
	assert.NotContains(t, attrs, "process.pid", "off by default: it changes with every restart")
	assert.Greater(t, first.ScopeMetrics().At(0).Metrics().Len(), 10)
	assert.Len(t, logs.FilterMessageSnippet(`Discovered model server "`+name+`"`).All(), 1)

	f.Remove(4242)
	require.Eventually(t, func() bool {
		return len(logs.FilterMessageSnippet(`Model server "`+name+`" is gone`).All()) == 1
	}, 10*time.Second, 20*time.Millisecond)
	reports := byServer(sink)[name]
	last := reports[len(reports)-1]
	ups, stale, live := 0, 0, 0
	ms := last.ScopeMetrics().At(0).Metrics()
	seen := map[string]pmetric.MetricType{}
	for _, m := range byServer(sink)[name][1].ScopeMetrics().At(0).Metrics().All() {
		seen[m.Name()] = m.Type()
	}
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		points := 0
		eachPointFlags(m, func(pmetric.DataPointFlags, float64) { points++ })
		assert.Equal(t, 1, points, "%s: one point per metric (contrib's Prometheus exporter drops only a metric's first stale point)", m.Name())
		assert.Equal(t, seen[m.Name()], m.Type(), m.Name())
		eachPointFlags(m, func(flags pmetric.DataPointFlags, v float64) {
			switch {
			case m.Name() == "inference.server.up":
				ups++
				assert.Zero(t, v, "up is 0 once")
				assert.False(t, flags.NoRecordedValue())
			case flags.NoRecordedValue():
				stale++
			default:
				live++
			}
		})
	}
	assert.Equal(t, 1, ups)
	assert.Zero(t, live, "every other series is marked stale")
	assert.Equal(t, identities(reports[len(reports)-2]), identities(last), "the markers end exactly the series of the last scrape")
	assert.Greater(t, stale, 10)
	n := len(byServer(sink)[name])
	time.Sleep(500 * time.Millisecond)
	assert.Len(t, byServer(sink)[name], n, "nothing more after it went")
}

// identities are the series of a resource's report: metric name and point attributes.
func identities(rm pmetric.ResourceMetrics) []string {
	var out []string
	for _, m := range rm.ScopeMetrics().At(0).Metrics().All() {
		add := func(attrs pcommon.Map) { out = append(out, fmt.Sprint(m.Name(), attrs.AsRaw())) }
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			for _, p := range m.Gauge().DataPoints().All() {
				add(p.Attributes())
			}
		case pmetric.MetricTypeSum:
			for _, p := range m.Sum().DataPoints().All() {
				add(p.Attributes())
			}
		case pmetric.MetricTypeHistogram:
			for _, p := range m.Histogram().DataPoints().All() {
				add(p.Attributes())
			}
		case pmetric.MetricTypeSummary:
			for _, p := range m.Summary().DataPoints().All() {
				add(p.Attributes())
			}
		}
	}
	slices.Sort(out)
	return out
}

// eachPointFlags calls f with each point's flags (and its value, for numbers).
func eachPointFlags(m pmetric.Metric, f func(pmetric.DataPointFlags, float64)) {
	number := func(pts pmetric.NumberDataPointSlice) {
		for i := 0; i < pts.Len(); i++ {
			p := pts.At(i)
			v := p.DoubleValue()
			if p.ValueType() == pmetric.NumberDataPointValueTypeInt {
				v = float64(p.IntValue())
			}
			f(p.Flags(), v)
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		number(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		number(m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			f(m.Histogram().DataPoints().At(i).Flags(), 0)
		}
	case pmetric.MetricTypeSummary:
		for i := 0; i < m.Summary().DataPoints().Len(); i++ {
			f(m.Summary().DataPoints().At(i).Flags(), 0)
		}
	}
}

// A server listed in servers is scraped as listed, never a second time as discovered (localhost,
// 127.0.0.1 and the wildcard are one host).
func TestListedServerWinsOverDiscovered(t *testing.T) {
	srv, hits := serveFile(t, payloadDir+"/vllm/datadog-vllm_metrics.txt")
	port := portOf(t, srv.URL)
	f := fakeVLLM(t, port, true)
	cfg := discoveryConfig(t, f.Root)
	cfg.Servers = []ServerConfig{serverConfig("listed", "http://localhost:"+strconv.Itoa(port)+"/metrics", "")}
	sink := new(consumertest.MetricsSink)
	r := startReceiver(t, cfg, receivertest.NewNopSettings(metadata.Type), sink)
	require.Eventually(t, func() bool { return len(byServer(sink)["listed"]) >= 5 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
	got := byServer(sink)
	assert.NotContains(t, got, "vllm-"+strconv.Itoa(port))
	// The probe is the one extra request.
	assert.LessOrEqual(t, hits.Load(), int64(len(got["listed"])+1))
}

func TestEndpointKey(t *testing.T) {
	local := []string{"gpu-node-7", "10.0.0.7"}
	same := []string{
		"http://127.0.0.1:8000/metrics", "http://localhost:8000/metrics", "http://0.0.0.0:8000/metrics",
		"http://[::1]:8000/metrics", "http://gpu-node-7:8000/metrics", "http://10.0.0.7:8000/metrics",
	}
	for _, u := range same {
		assert.Equal(t, endpointKey(same[0], local), endpointKey(u, local), u)
	}
	for _, u := range []string{"http://10.0.0.8:8000/metrics", "http://127.0.0.1:8001/metrics", "http://127.0.0.1:8000/v1/metrics", "https://127.0.0.1:8000/metrics"} {
		assert.NotEqual(t, endpointKey(same[0], local), endpointKey(u, local), u)
	}
}

// The GPU join is told the discovered servers: by their processes on a host.
func TestDiscoveredServersJoinTheGPUs(t *testing.T) {
	srv, _ := serveFile(t, payloadDir+"/vllm/datadog-vllm_metrics.txt")
	port := portOf(t, srv.URL)
	cfg := discoveryConfig(t, fakeVLLM(t, port, false).Root)
	rcv, err := newInferenceReceiver(cfg, receivertest.NewNopSettings(metadata.Type), new(consumertest.MetricsSink))
	require.NoError(t, err)
	require.NoError(t, rcv.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, rcv.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return len(rcv.discovered.joinServers()) == 1 }, 10*time.Second, 20*time.Millisecond)
	s := rcv.discovered.joinServers()[0]
	assert.Equal(t, "vllm-"+strconv.Itoa(port), s.Name)
	assert.Equal(t, []int{4242}, s.PIDs)
}

func TestDiscoveryConfigErrorsNameTheKey(t *testing.T) {
	off := false
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Discovery.Server.Endpoint = "http://x/metrics" }, `discovery: "server" is how discovered servers are scraped`},
		{func(c *Config) { c.Discovery.Server.Passthrough = "some" }, `discovery: server: "passthrough"`},
		{func(c *Config) { c.Discovery.Kubernetes.Enabled = true }, `discovery.kubernetes: "node" must be this node's name`},
		{func(c *Config) {
			c.Discovery.Kubernetes = KubernetesDiscoveryConfig{Enabled: true, Node: "n", AuthType: "token"}
		}, `unknown "auth_type" "token"`},
		{func(c *Config) { c.Discovery.Rules = []RuleConfig{{Name: "mine"}} }, `discovery: rule "mine": rule "mine" matches nothing`},
		{func(c *Config) { c.Discovery.Rules = []RuleConfig{{Name: "nope", Enabled: &off}} }, `turns off a built-in rule, and there is none of that name`},
		{func(c *Config) {
			c.Discovery.Rules = []RuleConfig{{Name: "a", Executables: []string{"a"}}, {Name: "a", Executables: []string{"b"}}}
		}, `"name" is used by another rule too`},
		{func(c *Config) {
			c.Discovery.Rules = []RuleConfig{{Name: "a", Executables: []string{"a"}, Flavor: "vlm"}}
		}, `unknown "flavor" "vlm"`},
		{func(c *Config) { c.Discovery.RefreshInterval = -time.Second }, `"refresh_interval" must be positive`},
	} {
		cfg := testConfig()
		cfg.Discovery.Host.Enabled = true
		c.edit(cfg)
		require.ErrorContains(t, cfg.Validate(), c.want)
	}
	cfg := testConfig()
	cfg.GPU.Enabled = false
	cfg.Discovery.Host.Enabled = true
	assert.NoError(t, cfg.Validate(), "discovery alone is enough")
}

// Configured rules come first; one named like a built-in replaces it; enabled: false turns a
// built-in off.
func TestDiscoveryRulesInForce(t *testing.T) {
	off := false
	d := DiscoveryConfig{Rules: []RuleConfig{
		{Name: "my-engine", Executables: []string{"my-engine"}, PortFlags: []string{"--listen-port"}, Ports: []int{9100, 9200}},
		{Name: "vllm", Executables: []string{"vllm"}, Args: []string{"serve"}, Ports: []int{9000}},
		{Name: "ollama", Enabled: &off},
	}}
	rules := d.rules()
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	assert.Equal(t, "my-engine", names[0])
	assert.Equal(t, "vllm", names[1])
	assert.NotContains(t, names, "ollama")
	assert.Equal(t, 1, strings.Count(strings.Join(names, ","), "vllm,"))
	assert.Equal(t, []int{9100, 9200}, []int{rules[0].Ports[0].Default, rules[0].Ports[1].Default})
	assert.Equal(t, []string{"--listen-port"}, rules[0].Ports[0].Flags)
}
