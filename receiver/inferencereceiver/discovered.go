package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/internal/redirect"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// discoveredServers runs the servers discovery finds, each as a target with its own controller
// (the same loop, timeout, detection and error contract as a listed server): started when first
// reported, stopped when a report no longer has it. A server that goes reports
// inference.server.up 0 once and marks the rest of its series stale (as Prometheus marks a
// vanished target's), so that no exporter keeps showing it. A listed server wins over a discovered
// one on the same endpoint, a pod found on Kubernetes over the same endpoint found on the host.
type discoveredServers struct {
	g        *serverGroup
	cfg      *Config
	settings receiver.Settings // the servers' (scraperhelper's per-scrape error dropped)
	next     consumer.Metrics
	logger   *zap.Logger
	// listed are the listed servers' endpoint keys (see endpointKey).
	listed map[string]bool
	local  []string

	mu      sync.Mutex
	host    component.Host
	running map[string]*discoveredServer
	skipped map[string]bool // endpoints left to a listed server, each said once
	closed  bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// discoveredServer is one running discovered server.
type discoveredServer struct {
	ep   discovery.Endpoint
	t    *target
	ctrl receiver.Metrics
}

func newDiscoveredServers(cfg *Config, g *serverGroup, quiet receiver.Settings, next consumer.Metrics, local []string) *discoveredServers {
	d := &discoveredServers{
		g: g, cfg: cfg, settings: quiet, next: next, logger: g.settings.Logger, local: local,
		listed: map[string]bool{}, running: map[string]*discoveredServer{}, skipped: map[string]bool{},
	}
	for i := range cfg.Servers {
		d.listed[endpointKey(cfg.Servers[i].Endpoint, local)] = true
	}
	return d
}

// start makes the probes' client and starts the sources. A source that cannot start (Kubernetes
// discovery outside a cluster) fails the start, naming what to set.
func (d *discoveredServers) start(ctx context.Context, host component.Host) error {
	dc := &d.cfg.Discovery
	client, err := dc.Server.ToClient(ctx, host.GetExtensions(), d.g.settings.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("discovery: cannot make the discovered servers' HTTP client: %w", err)
	}
	client.CheckRedirect = redirect.SameHost
	prober := &discovery.Prober{Client: client, Timeout: dc.probeTimeout()}
	var sources []discovery.Source
	var names []string
	if dc.Host.Enabled {
		h, err := discovery.NewHost(discovery.HostOptions{ProcRoot: dc.Host.ProcRoot, Rules: dc.rules(), Interval: dc.refreshInterval(), Prober: prober, Logger: d.logger})
		if err != nil {
			return err
		}
		sources, names = append(sources, h), append(names, discovery.SourceHost)
	}
	if dc.Kubernetes.Enabled {
		k, err := discovery.NewKube(discovery.KubeOptions{
			AuthType: dc.Kubernetes.AuthType, KubeConfig: dc.Kubernetes.KubeConfig,
			Node: dc.Kubernetes.Node, Rules: dc.rules(), Annotations: dc.Kubernetes.Annotations,
			Interval: dc.refreshInterval(), Prober: prober, Logger: d.logger,
		})
		if err != nil {
			return err
		}
		sources, names = append(sources, k), append(names, discovery.SourceKubernetes)
	}
	d.mu.Lock()
	d.host = host
	d.mu.Unlock()
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for i, s := range sources {
		name := names[i]
		d.wg.Go(func() { s.Run(runCtx, func(eps []discovery.Endpoint) { d.report(name, eps) }) })
	}
	d.logger.Info("Discovering model servers", zap.Strings("sources", names), zap.Duration("refresh_interval", dc.refreshInterval()))
	return nil
}

// close stops the sources and every discovered server (the collector is stopping: nothing is
// marked stale).
func (d *discoveredServers) close(ctx context.Context) {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for key, s := range d.running {
		s.t.cancel()
		_ = s.ctrl.Shutdown(ctx)
		delete(d.running, key)
	}
}

// report takes a source's whole set of endpoints: the new ones start, the gone or changed ones stop.
func (d *discoveredServers) report(source string, eps []discovery.Endpoint) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	want := make(map[string]discovery.Endpoint, len(eps))
	for _, ep := range eps {
		key := endpointKey(ep.URL, d.local)
		if d.listed[key] {
			if !d.skipped[key] {
				d.skipped[key] = true
				d.logger.Debug("A discovered model server is listed in servers: scraped as listed", zap.String("endpoint", redact.URL(ep.URL)))
			}
			continue
		}
		want[key] = ep
	}
	for key, s := range d.running {
		if s.ep.Source != source {
			continue
		}
		if ep, ok := want[key]; !ok || !ep.Equal(&s.ep) {
			d.stop(key, s, ok)
		}
	}
	for key, ep := range want {
		if s, ok := d.running[key]; ok {
			if s.ep.Source == source || s.ep.Source == discovery.SourceKubernetes {
				continue // running, or found with its pod's attributes
			}
			d.stop(key, s, true)
		}
		d.startOne(key, ep)
	}
}

// startOne starts scraping a discovered server.
func (d *discoveredServers) startOne(key string, ep discovery.Endpoint) {
	sc := d.cfg.Discovery.Server
	sc.Endpoint, sc.Name, sc.Flavor = ep.URL, ep.Name, ep.Flavor
	t, err := d.g.newDiscoveredTarget(&sc, &ep)
	if err != nil {
		d.logger.Warn("Cannot scrape a discovered model server", zap.String("server", ep.Name), zap.Error(err))
		return
	}
	sm, err := scraper.NewMetrics(t.scrape, scraper.WithStart(t.start), scraper.WithShutdown(t.shutdown))
	if err == nil {
		cc := d.cfg.ControllerConfig
		cc.Timeout = t.timeout
		var ctrl receiver.Metrics
		ctrl, err = scraperhelper.NewMetricsController(&cc, d.settings, d.next, scraperhelper.AddMetricsScraper(serversScraperType, sm))
		if err == nil {
			err = ctrl.Start(context.Background(), d.host)
			if err == nil {
				d.running[key] = &discoveredServer{ep: ep, t: t, ctrl: ctrl}
				d.g.telemetry.ReceiverInferenceDiscoveredServers.Add(context.Background(), 1, sourceAttr(ep.Source))
				d.logger.Info(fmt.Sprintf("Discovered model server %q; scraping it every %s", ep.Name, d.cfg.CollectionInterval),
					zap.String("endpoint", redact.URL(ep.URL)), zap.String("source", ep.Source), zap.String("rule", ep.Rule), zap.Ints("process.pid", ep.PIDs))
				return
			}
		}
	}
	t.cancel()
	d.logger.Warn("Cannot scrape a discovered model server", zap.String("server", ep.Name), zap.Error(err))
}

// stop stops scraping a discovered server. When it is gone (not replaced by a changed report of
// it) its up is reported 0 once and the rest of its series are marked stale.
func (d *discoveredServers) stop(key string, s *discoveredServer, replaced bool) {
	s.t.cancel() // its scrape in flight, if any, ends now
	_ = s.ctrl.Shutdown(context.Background())
	delete(d.running, key)
	d.g.telemetry.ReceiverInferenceDiscoveredServers.Add(context.Background(), -1, sourceAttr(s.ep.Source))
	if replaced {
		return
	}
	d.logger.Info(fmt.Sprintf("Model server %q is gone; it is no longer scraped and its series are marked stale", s.ep.Name),
		zap.String("endpoint", redact.URL(s.ep.URL)), zap.String("source", s.ep.Source))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.next.ConsumeMetrics(ctx, s.t.final(pcommon.NewTimestampFromTime(time.Now()))); err != nil {
		d.logger.Debug("The last report of a gone model server was refused", zap.String("server", s.ep.Name), zap.Error(err))
	}
}

// joinServers are the running discovered servers, for the GPU join.
func (d *discoveredServers) joinServers() []gpu.Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]gpu.Server, 0, len(d.running))
	for _, s := range d.running {
		out = append(out, gpu.Server{Name: s.ep.Name, PIDs: s.ep.PIDs, PodUID: s.ep.PodUID, ContainerID: s.ep.Resource["container.id"]})
	}
	return out
}

func sourceAttr(source string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("source", source))
}

// endpointKey is what makes two endpoints the same server: scheme, port and path, with every
// address of this host (loopback, the wildcard, its names and local_addresses) read as one.
func endpointKey(raw string, local []string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) || host == "localhost" || slices.Contains(local, host) {
		host = "this-host"
	}
	_, port := hostPort(raw)
	return u.Scheme + "://" + net.JoinHostPort(host, strconv.FormatInt(port, 10)) + u.EscapedPath()
}

// localNames are this host's names for endpointKey and the GPU join: its hostname and the
// configured local_addresses.
func localNames(cfg *Config) []string {
	host, _ := os.Hostname()
	return append([]string{host}, cfg.GPU.LocalAddresses...)
}

// discoveredResource puts what discovery found on the server's resource.
func (t *target) discoveredResource(rb *metadata.ResourceBuilder) {
	rb.SetInferenceDiscoverySource(t.disc.Source)
	for k, v := range t.disc.Resource {
		switch k {
		case "k8s.namespace.name":
			rb.SetK8sNamespaceName(v)
		case "k8s.pod.name":
			rb.SetK8sPodName(v)
		case "k8s.pod.uid":
			rb.SetK8sPodUID(v)
		case "k8s.container.name":
			rb.SetK8sContainerName(v)
		case "k8s.node.name":
			rb.SetK8sNodeName(v)
		case "container.id":
			rb.SetContainerID(v)
		case "process.executable.name":
			rb.SetProcessExecutableName(v)
		case "process.pid":
			if pid, err := strconv.ParseInt(v, 10, 64); err == nil {
				rb.SetProcessPid(pid)
			}
		}
	}
}

// replayer is a source that can give its last successful scrape again without a copy of its
// output kept (the Prometheus source keeps the parsed payload, and converts it again).
type replayer interface {
	again(now time.Time, ms pmetric.MetricSlice)
}

// remember keeps what a discovered server's successful scrape read (ms), for its staleness markers.
func (t *target) remember(ms pmetric.MetricSlice) {
	t.answered = true
	if t.disc == nil {
		return
	}
	if _, ok := t.src.(replayer); ok {
		return
	}
	if t.lastSource == (pmetric.MetricSlice{}) {
		t.lastSource = pmetric.NewMetricSlice()
	}
	ms.CopyTo(t.lastSource)
}

// final is what a gone server reports last: inference.server.up 0, and every other series of its
// last successful scrape (its own metrics too) with no recorded value, Prometheus's staleness
// marker. Called once its controller stopped.
func (t *target) final(now pcommon.Timestamp) pmetric.Metrics {
	out := pmetric.NewMetrics()
	rm := out.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	ms := sm.Metrics()
	if t.answered {
		if r, ok := t.src.(replayer); ok {
			r.again(now.AsTime(), ms)
		} else if t.lastSource != (pmetric.MetricSlice{}) {
			t.lastSource.CopyTo(ms)
		}
		t.mb.RecordInferenceServerScrapeDurationDataPoint(now, 0)
		if j, ok := t.g.energy.Get(t.joinName()); ok {
			t.mb.RecordInferenceServerEnergyDataPoint(now, j)
		}
	}
	if len(t.g.disabled) > 0 {
		ms.RemoveIf(func(m pmetric.Metric) bool { return t.g.disabled[m.Name()] })
	}
	t.mb.RecordInferenceServerUpDataPoint(now, 0)
	for kind, n := range t.errorCounts {
		t.mb.RecordInferenceServerScrapeErrorsDataPoint(now, n, kind)
	}
	own := t.mb.Emit()
	if own.ResourceMetrics().Len() > 0 {
		own.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().MoveAndAppendTo(ms)
	}
	stale := pmetric.DefaultDataPointFlags.WithNoRecordedValue(true)
	for k := 0; k < ms.Len(); k++ {
		markStale(ms.At(k), now, stale)
	}
	onePointEach(ms)
	t.resource().MoveTo(rm.Resource())
	return out
}

// onePointEach moves every point after a metric's first into a copy of the metric of its own:
// contrib's Prometheus exporter drops only the first stale point of each metric it is given.
func onePointEach(ms pmetric.MetricSlice) {
	n := ms.Len()
	for k := 0; k < n; k++ {
		m := ms.At(k)
		like := func() pmetric.Metric {
			c := ms.AppendEmpty()
			c.SetName(m.Name())
			c.SetUnit(m.Unit())
			c.SetDescription(m.Description())
			m.Metadata().CopyTo(c.Metadata())
			return c
		}
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			splitPoints(m.Gauge().DataPoints(), func() pmetric.NumberDataPointSlice { return like().SetEmptyGauge().DataPoints() })
		case pmetric.MetricTypeSum:
			splitPoints(m.Sum().DataPoints(), func() pmetric.NumberDataPointSlice {
				s := like().SetEmptySum()
				s.SetAggregationTemporality(m.Sum().AggregationTemporality())
				s.SetIsMonotonic(m.Sum().IsMonotonic())
				return s.DataPoints()
			})
		case pmetric.MetricTypeHistogram:
			splitPoints(m.Histogram().DataPoints(), func() pmetric.HistogramDataPointSlice {
				h := like().SetEmptyHistogram()
				h.SetAggregationTemporality(m.Histogram().AggregationTemporality())
				return h.DataPoints()
			})
		case pmetric.MetricTypeExponentialHistogram:
			splitPoints(m.ExponentialHistogram().DataPoints(), func() pmetric.ExponentialHistogramDataPointSlice {
				h := like().SetEmptyExponentialHistogram()
				h.SetAggregationTemporality(m.ExponentialHistogram().AggregationTemporality())
				return h.DataPoints()
			})
		case pmetric.MetricTypeSummary:
			splitPoints(m.Summary().DataPoints(), func() pmetric.SummaryDataPointSlice { return like().SetEmptySummary().DataPoints() })
		}
	}
}

// points is a pdata slice of data points.
type points[P interface{ CopyTo(P) }] interface {
	Len() int
	At(int) P
	AppendEmpty() P
	RemoveIf(func(P) bool)
}

// splitPoints copies each point after the first into a new metric's points (fresh makes them) and
// leaves the first alone.
func splitPoints[P interface{ CopyTo(P) }, S points[P]](pts S, fresh func() S) {
	for i := 1; i < pts.Len(); i++ {
		pts.At(i).CopyTo(fresh().AppendEmpty())
	}
	first := true
	pts.RemoveIf(func(P) bool {
		keep := first
		first = false
		return !keep
	})
}

// markStale marks a metric's points stale at now; inference.server.up gets 0 instead.
func markStale(m pmetric.Metric, now pcommon.Timestamp, stale pmetric.DataPointFlags) {
	number := func(pts pmetric.NumberDataPointSlice) {
		for i := 0; i < pts.Len(); i++ {
			p := pts.At(i)
			p.SetTimestamp(now)
			if m.Name() == names.InferenceServerUp.Name {
				p.SetIntValue(0)
				continue
			}
			p.SetFlags(stale)
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		number(m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		number(m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		pts := m.Histogram().DataPoints()
		for i := 0; i < pts.Len(); i++ {
			pts.At(i).SetTimestamp(now)
			pts.At(i).SetFlags(stale)
		}
	case pmetric.MetricTypeExponentialHistogram:
		pts := m.ExponentialHistogram().DataPoints()
		for i := 0; i < pts.Len(); i++ {
			pts.At(i).SetTimestamp(now)
			pts.At(i).SetFlags(stale)
		}
	case pmetric.MetricTypeSummary:
		pts := m.Summary().DataPoints()
		for i := 0; i < pts.Len(); i++ {
			pts.At(i).SetTimestamp(now)
			pts.At(i).SetFlags(stale)
		}
	}
}
