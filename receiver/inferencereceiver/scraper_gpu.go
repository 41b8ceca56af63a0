package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// gpuScraper reads the host's NVIDIA GPUs: one resource (the host), one point per GPU and metric.
type gpuScraper struct {
	reader gpu.Reader
	host   string
	// disabled are the GPU metrics turned off under `metrics:` (documentation.md lists them).
	disabled map[string]bool
}

func newGPUScraper(cfg *Config, set receiver.Settings, energy *gpu.ServerLedger, servers func() []gpu.Server) *gpuScraper {
	devices, _ := cfg.GPU.deviceList() // validated
	host, _ := os.Hostname()
	return &gpuScraper{
		host:     host,
		disabled: disabledMetrics(cfg.Metrics),
		reader: gpu.New(gpu.Options{
			Devices:      devices,
			Processes:    cfg.GPU.Processes,
			PCIe:         cfg.GPU.PCIeThroughput,
			LibraryPath:  cfg.GPU.LibraryPath,
			SysfsRoot:    cfg.GPU.SysfsRoot,
			Energy:       energy,
			PodResources: podLister(cfg.GPU.PodResourcesSocket),
			Servers:      servers,
		}, set.Logger),
	}
}

// fixedServers is a list of servers that does not change, for the GPU join.
func fixedServers(s []gpu.Server) func() []gpu.Server { return func() []gpu.Server { return s } }

// localServers are the configured servers on this host (loopback, or one of its names and
// addresses), by port: the GPU processes listening on them are joined to their names.
func localServers(servers []ServerConfig, local []string) []gpu.Server {
	var out []gpu.Server
	for i := range servers {
		s := &servers[i]
		u, err := url.Parse(s.Endpoint)
		if err != nil {
			continue
		}
		switch h := u.Hostname(); h {
		case "127.0.0.1", "localhost", "::1", "0.0.0.0":
		default:
			if h == "" || !slices.Contains(local, h) {
				continue
			}
		}
		_, port := hostPort(s.Endpoint)
		name := s.Name
		if name == "" {
			name = redact.URL(s.Endpoint) // as the server's target names it (joinName)
		}
		out = append(out, gpu.Server{Name: name, Port: int(port)})
	}
	return out
}

func (g *gpuScraper) start(ctx context.Context, _ component.Host) error { return g.reader.Start(ctx) }

func (g *gpuScraper) shutdown(ctx context.Context) error { return g.reader.Shutdown(ctx) }

func (g *gpuScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	if g.host != "" {
		rm.Resource().Attributes().PutStr("host.name", g.host)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	err := g.reader.Scrape(ctx, time.Now(), sm.Metrics())
	if len(g.disabled) > 0 {
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return g.disabled[m.Name()] })
	}
	if sm.Metrics().Len() == 0 {
		return pmetric.NewMetrics(), err
	}
	return md, err
}

// podLister is the kubelet pod-resources client (nil when turned off).
func podLister(socket string) *kubepod.Lister {
	if socket == "" {
		return nil
	}
	return kubepod.NewLister(socket)
}
