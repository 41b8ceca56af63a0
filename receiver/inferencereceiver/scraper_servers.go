package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/errkind"
	"github.com/otel-inference/collector/internal/redact"
	"github.com/otel-inference/collector/internal/redirect"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// maxParallelScrapes bounds the servers of one receiver scraped at once.
const maxParallelScrapes = 64

// serverGroup is what the servers of one receiver share: their telemetry, the bounds on concurrent
// scrapes and on parsing, and the stop signal that cancels scrapes in flight at Shutdown. Each server
// (a target) is scraped on its own schedule by its own scraperhelper controller (see receiver.go), so
// that a slow or hung server delays nothing but itself.
type serverGroup struct {
	cfg       *Config
	settings  receiver.Settings
	telemetry *metadata.TelemetryBuilder
	targets   []*target

	// scrapeSlots bounds the scrapes in flight; cpuSlots the payloads parsed and converted at once
	// (one per core), so that many payloads fetched together are not all held in memory.
	scrapeSlots chan struct{}
	cpuSlots    chan struct{}
	// disabled are the metrics turned off under `metrics:`.
	disabled map[string]bool
	// energy is the GPU energy attributed to each server (nil without GPUs).
	energy *gpu.ServerLedger

	stop   context.Context
	cancel context.CancelFunc
}

func newServerGroup(cfg *Config, set receiver.Settings) (*serverGroup, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	stop, cancel := context.WithCancel(context.Background())
	g := &serverGroup{
		cfg:         cfg,
		settings:    set,
		telemetry:   tb,
		disabled:    disabledMetrics(cfg.Metrics),
		scrapeSlots: make(chan struct{}, maxParallelScrapes),
		cpuSlots:    make(chan struct{}, runtime.GOMAXPROCS(0)),
		stop:        stop,
		cancel:      cancel,
	}
	for i := range cfg.Servers {
		t, err := g.newTarget(&cfg.Servers[i])
		if err != nil {
			cancel()
			tb.Shutdown()
			return nil, err
		}
		g.targets = append(g.targets, t)
	}
	return g, nil
}

// disabledMetrics are the metrics `metrics: {NAME: {enabled: false}}` turns off: metadata.yaml
// declares them all, so each has a switch in the generated config, whichever source feeds it (a
// server's table, NVML, the dcgm flavor).
func disabledMetrics(mc metadata.MetricsConfig) map[string]bool {
	out := map[string]bool{}
	v := reflect.ValueOf(mc)
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Tag.Get("mapstructure")
		if enabled := v.Field(i).FieldByName("Enabled"); enabled.IsValid() && !enabled.Bool() {
			out[name] = true
		}
	}
	return out
}

// shutdown cancels every scrape in flight; the controllers then stop.
func (g *serverGroup) shutdown() {
	g.cancel()
}

func (g *serverGroup) close() {
	g.telemetry.Shutdown()
}

// source reads one kind of server (a Prometheus exposition, Ollama's API, a JSON document) into the
// scope's metrics.
type source interface {
	scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error
	// learned is what the source knows of the server: its flavor (configured or detected; "" before
	// detection) and its version ("" when the server does not say).
	learned() (flavor, version string)
}

// target is one configured server and everything kept between its scrapes. Its scrapes never run
// at once (its controller calls them one after the other).
type target struct {
	g     *serverGroup
	cfg   *ServerConfig
	label string // how messages name the server: its name, else its endpoint (credentials hidden)
	// endpoint is the endpoint as messages show it, credentials hidden.
	endpoint string
	timeout  time.Duration
	client   *http.Client
	mb       *metadata.MetricsBuilder
	logger   *zap.Logger
	attrs    metric.MeasurementOption // the server, on component telemetry

	address string
	port    int64
	src     source

	// disc is what discovery found of the server (nil for a listed one).
	disc *discovery.Endpoint
	// stop ends the target's scrape in flight: at Shutdown, or when a discovered server goes.
	stop   context.Context
	cancel context.CancelFunc
	// answered is set once a scrape succeeded; lastSource is what a discovered server's last
	// successful scrape read, for a source that cannot give it again (see replayer): both for the
	// staleness markers of a server that goes.
	answered   bool
	lastSource pmetric.MetricSlice

	// failing is the kind of the failure last logged ("" while the server answers), so that a
	// server that stays down is logged once per kind of failure, not every scrape.
	failing string
	// errorCounts are the failed scrapes by error.type since start (inference.server.scrape.errors).
	errorCounts map[string]int64
	// body is reused from scrape to scrape; what is kept of a payload is copied out of it.
	body bytes.Buffer
}

func (g *serverGroup) newTarget(sc *ServerConfig) (*target, error) {
	return g.newDiscoveredTarget(sc, nil)
}

// newDiscoveredTarget is a target for a server discovery found (disc; nil for a listed server).
func (g *serverGroup) newDiscoveredTarget(sc *ServerConfig, disc *discovery.Endpoint) (*target, error) {
	endpoint := redact.URL(sc.Endpoint)
	label := endpoint
	if sc.Name != "" {
		label = sc.Name
	}
	address, port := hostPort(sc.Endpoint)
	t := &target{
		g:           g,
		cfg:         sc,
		label:       label,
		endpoint:    endpoint,
		timeout:     g.cfg.serverTimeout(sc),
		mb:          metadata.NewMetricsBuilder(g.cfg.MetricsBuilderConfig, g.settings),
		logger:      g.settings.Logger.With(zap.String("server", label)),
		attrs:       metric.WithAttributes(attribute.String("server", label)),
		address:     address,
		port:        port,
		errorCounts: map[string]int64{},
		disc:        disc,
	}
	t.stop, t.cancel = context.WithCancel(g.stop)
	switch sc.Flavor {
	case schema.FlavorOllama:
		t.src = &ollamaSource{t: t}
	case schema.FlavorJSON:
		t.src = newJSONSource(t)
	default:
		src, err := newPromSource(t)
		if err != nil {
			t.cancel()
			return nil, fmt.Errorf("server %q: %w", label, err)
		}
		t.src = src
	}
	return t, nil
}

// joinName is how the GPU join names this server (see localServers): its name, else its endpoint
// with its credentials hidden (it becomes inference.server.name on GPU process points).
func (t *target) joinName() string {
	if t.cfg.Name != "" {
		return t.cfg.Name
	}
	return t.endpoint
}

// start makes the server's HTTP client: auth extensions, TLS, headers and compression come from
// confighttp.
func (t *target) start(ctx context.Context, host component.Host) error {
	client, err := t.cfg.ToClient(ctx, host.GetExtensions(), t.g.settings.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("server %q: cannot make its HTTP client: %w", t.label, err)
	}
	// Redirects are followed within the server's host only: its auth and headers would follow.
	client.CheckRedirect = redirect.SameHost
	t.client = client
	return nil
}

func (t *target) shutdown(context.Context) error {
	if t.client != nil {
		t.client.CloseIdleConnections()
	}
	return nil
}

func hostPort(endpoint string) (string, int64) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint, 0
	}
	port := u.Port()
	if port == "" {
		if u.Scheme == "https" {
			return u.Hostname(), 443
		}
		return u.Hostname(), 80
	}
	p, _ := strconv.ParseInt(port, 10, 64)
	return u.Hostname(), p
}

// scrape scrapes the server once, within its timeout, and returns its resource: its metrics and
// inference.server.up 1, or only up 0 and its error counts when it failed. A failure is returned
// every time, as a partial scrape error (the data still flows and scraperhelper counts it); it is
// logged once per kind of failure, at warn, until the server answers again.
func (t *target) scrape(ctx context.Context) (pmetric.Metrics, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.stop, cancel)()

	began := time.Now()
	now := pcommon.NewTimestampFromTime(began)
	out := pmetric.NewMetrics()
	rm := out.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)

	var err error
	select {
	case t.g.scrapeSlots <- struct{}{}:
		err = t.src.scrape(ctx, began, sm.Metrics())
		<-t.g.scrapeSlots
		if err == nil {
			t.remember(sm.Metrics())
		}
	case <-ctx.Done():
		err = kindErr(errkind.Timeout, fmt.Errorf("server %q: no scrape slot free within %s (more than %d servers are being scraped at once)", t.label, t.timeout, maxParallelScrapes))
	}
	if err != nil && t.stop.Err() != nil {
		// Canceled by Shutdown (or the server is gone): not the server's failure, and nothing to
		// report.
		return pmetric.NewMetrics(), nil
	}
	if err == nil {
		t.mb.RecordInferenceServerUpDataPoint(now, 1)
		if j, ok := t.g.energy.Get(t.joinName()); ok {
			t.mb.RecordInferenceServerEnergyDataPoint(now, j)
		}
		if t.failing != "" {
			t.logger.Info(fmt.Sprintf("Model server %q is answering again", t.label))
			t.failing = ""
		}
	} else {
		sm.Metrics().RemoveIf(func(pmetric.Metric) bool { return true }) // nothing of a failed scrape
		kind := errorKind(err)
		t.errorCounts[kind]++
		t.mb.RecordInferenceServerUpDataPoint(now, 0)
		t.g.telemetry.ReceiverInferenceScrapeErrors.Add(context.WithoutCancel(ctx), 1, t.attrs)
		if kind != t.failing {
			// The server's name is in the message: the collector's log sampling keys on messages,
			// and must not merge the failures of different servers.
			t.logger.Warn(fmt.Sprintf("Cannot scrape model server %q; it reports inference.server.up=0 until it answers", t.label),
				zap.String("error.type", kind), zap.String("error", redact.Error(err)))
			t.failing = kind
		}
		// A failed server holds no large buffer.
		t.body = bytes.Buffer{}
	}
	if t.body.Cap() > 4*max(t.body.Len(), 64<<10) {
		// A huge payload once must not keep its buffer for good.
		t.body = bytes.Buffer{}
	}
	for kind, n := range t.errorCounts {
		t.mb.RecordInferenceServerScrapeErrorsDataPoint(now, n, kind)
	}
	if len(t.g.disabled) > 0 {
		sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return t.g.disabled[m.Name()] })
	}
	t.mb.RecordInferenceServerScrapeDurationDataPoint(now, time.Since(began).Seconds())
	own := t.mb.Emit()
	if own.ResourceMetrics().Len() > 0 {
		own.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().MoveAndAppendTo(sm.Metrics())
	}
	t.resource().MoveTo(rm.Resource())
	if err != nil {
		return out, scrapererror.NewPartialScrapeError(err, 1)
	}
	return out, nil
}

// flavor is the configured flavor, or the detected one once known ("" before).
func (t *target) flavor() string {
	if t.src == nil {
		return t.cfg.Flavor
	}
	f, _ := t.src.learned()
	return f
}

// resource is the server's resource, built each scrape: the flavor and version may be learnt late.
func (t *target) resource() pcommon.Resource {
	flavor, version := t.src.learned()
	rb := t.mb.NewResourceBuilder()
	rb.SetServerAddress(t.address)
	rb.SetServerPort(t.port)
	if flavor != "" {
		rb.SetInferenceServerFlavor(flavor)
	}
	if t.cfg.Name != "" {
		rb.SetInferenceServerName(t.cfg.Name)
	}
	// job and instance for Prometheus users, as a scrape of this server would label it.
	switch {
	case t.cfg.Name != "":
		rb.SetServiceName(t.cfg.Name)
	case flavor != "":
		rb.SetServiceName(flavor)
	}
	rb.SetServiceInstanceID(net.JoinHostPort(t.address, strconv.FormatInt(t.port, 10)))
	if version != "" {
		rb.SetInferenceServerVersion(version)
	}
	if t.disc != nil {
		t.discoveredResource(rb)
	}
	if p, ok := t.g.energy.Pod(t.joinName()); ok {
		// The server's process was found in a pod (GPU join, on Kubernetes).
		if p.Named {
			rb.SetK8sNamespaceName(p.Namespace)
			rb.SetK8sPodName(p.Pod)
			if p.Container != "" {
				rb.SetK8sContainerName(p.Container)
			}
		}
		rb.SetK8sPodUID(p.PodUID)
		if p.ContainerID != "" {
			rb.SetContainerID(p.ContainerID)
		}
	}
	return rb.Emit()
}

// fetch GETs a URL of the server and hands its body (at most max_body_size bytes: a longer one
// fails the read) and headers to consume. Errors name the server, the URL (credentials hidden) and
// what to check.
func (t *target) fetch(ctx context.Context, rawURL, accept string, consume func(body io.Reader, header http.Header) error) error {
	shown := redact.URL(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		return kindErr(kindConfig, fmt.Errorf("server %q: bad URL %q: %w", t.label, shown, err))
	}
	req.Header.Set("Accept", accept)
	resp, err := t.client.Do(req)
	if err != nil {
		// url.Error repeats the URL with the user name in it: keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, redirect.ErrRefused) {
			return kindErr(kindRedirect, fmt.Errorf("server %q: GET %s: %w", t.label, shown, err))
		}
		return fmt.Errorf("server %q: GET %s: %w%s", t.label, shown, redact.Wrap(err), hintFor(err, t.timeout))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return kindErr(strconv.Itoa(resp.StatusCode), fmt.Errorf("server %q: GET %s: %s%s", t.label, shown, resp.Status, statusHint(resp.StatusCode, t.flavor())))
	}
	limit := t.cfg.maxBodySize()
	body := &limitedBody{r: resp.Body, left: limit}
	err = consume(body, resp.Header)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errBodyTooLarge):
		return kindErr(kindBodyTooLarge, fmt.Errorf("server %q: GET %s: the body is larger than max_body_size (%d bytes): raise max_body_size, or check this is a metrics endpoint", t.label, shown, limit))
	case body.failed:
		return fmt.Errorf("server %q: GET %s: reading the body: %w%s", t.label, shown, err, hintFor(err, t.timeout))
	}
	err = fmt.Errorf("server %q: GET %s: %w%s", t.label, shown, err, hintFor(err, t.timeout))
	if errorKind(err) == errkind.Connection {
		// Not the network's: what was read is not what was expected.
		err = kindErr(kindInvalidResponse, err)
	}
	return err
}

// get fetches a JSON document of the server whole, within max_body_size. The body returned is valid
// until the next get.
func (t *target) get(ctx context.Context, rawURL string) ([]byte, error) {
	err := t.fetch(ctx, rawURL, "application/json", func(r io.Reader, _ http.Header) error {
		t.body.Reset()
		_, err := t.body.ReadFrom(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t.body.Bytes(), nil
}

var errBodyTooLarge = errors.New("body larger than max_body_size")

// limitedBody reads at most left bytes of a body; one more is errBodyTooLarge. failed records a
// read error, to tell it from what the consumer makes of the bytes.
type limitedBody struct {
	r      io.Reader
	left   int64
	failed bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		l.failed = true
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.failed = true
		return n, errBodyTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		l.failed = true
	}
	return n, err
}

// sibling is the URL of another path on the server's host (e.g. TGI's /info beside /metrics).
func (t *target) sibling(path string) string {
	u, err := url.Parse(t.cfg.Endpoint)
	if err != nil {
		return t.cfg.Endpoint
	}
	u.Path, u.RawQuery = path, ""
	return u.String()
}

func hintFor(err error, timeout time.Duration) string {
	if errors.Is(err, context.Canceled) {
		return " (the collector is shutting down)"
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Sprintf(" (no answer within the scrape timeout, %s: check the server is not hung or overloaded, or raise \"timeout\", at most the collection interval)", timeout)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return " (nothing answers there: check the server is running and the endpoint's host and port)"
	}
	return ""
}

// metricsPaths are where each flavor serves its metrics, for the hint on a 404.
var metricsPaths = map[string]string{"nim": "/v1/metrics", "ollama": "the base URL (the receiver adds /api/ps)"}

func statusHint(code int, flavor string) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (check auth: headers, bearertokenauth or basicauth)"
	case http.StatusNotFound:
		path := metricsPaths[flavor]
		if path == "" {
			path = "/metrics"
		}
		if flavor == "" {
			flavor = "the server"
		}
		return fmt.Sprintf(" (check the endpoint's path: %s serves %s)", strings.TrimSpace(flavor), path)
	}
	return ""
}
