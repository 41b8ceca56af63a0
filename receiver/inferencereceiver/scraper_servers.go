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
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// maxParallelScrapes bounds the servers scraped at once.
const maxParallelScrapes = 64

type serversScraper struct {
	cfg       *Config
	settings  receiver.Settings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	targets   []*target
}

// source reads one kind of server (a Prometheus exposition, Ollama's API, a JSON document) into the
// scope's metrics.
type source interface {
	scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error
}

// target is one configured server and everything kept between its scrapes.
type target struct {
	cfg    *ServerConfig
	label  string // how messages name the server
	client *http.Client
	mb     *metadata.MetricsBuilder
	logger *zap.Logger
	tb     *metadata.TelemetryBuilder
	attrs  metric.MeasurementOption // the server, on component telemetry

	address string
	port    int64
	// flavor is the configured flavor, or the detected one once known ("" before).
	flavor string
	// version is what the server says of itself, when a source reads it.
	version string
	src     source

	// lastErr is the last failure logged, so that a server that stays down is logged once.
	lastErr string
	// body is reused from scrape to scrape; what is kept of a payload is copied out of it.
	body bytes.Buffer
}

func newServersScraper(cfg *Config, set receiver.Settings) *serversScraper {
	return &serversScraper{cfg: cfg, settings: set, logger: set.Logger}
}

func (s *serversScraper) start(ctx context.Context, host component.Host) error {
	tb, err := metadata.NewTelemetryBuilder(s.settings.TelemetrySettings)
	if err != nil {
		return err
	}
	s.telemetry = tb
	s.targets = make([]*target, 0, len(s.cfg.Servers))
	for i := range s.cfg.Servers {
		t, err := s.newTarget(ctx, host, &s.cfg.Servers[i])
		if err != nil {
			return err
		}
		s.targets = append(s.targets, t)
	}
	return nil
}

func (s *serversScraper) newTarget(ctx context.Context, host component.Host, sc *ServerConfig) (*target, error) {
	label := sc.Endpoint
	if sc.Name != "" {
		label = sc.Name
	}
	client, err := sc.ToClient(ctx, host.GetExtensions(), s.settings.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("server %q: cannot make its HTTP client: %w", label, err)
	}
	address, port := hostPort(sc.Endpoint)
	t := &target{
		cfg:     sc,
		label:   label,
		client:  client,
		mb:      metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.settings),
		logger:  s.logger.With(zap.String("server", label)),
		tb:      s.telemetry,
		attrs:   metric.WithAttributes(attribute.String("server", label)),
		address: address,
		port:    port,
		flavor:  sc.Flavor,
	}
	switch sc.Flavor {
	case schema.FlavorOllama:
		t.src = &ollamaSource{t: t}
	case schema.FlavorJSON:
		t.src = newJSONSource(t)
	default:
		src, err := newPromSource(t)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", label, err)
		}
		t.src = src
	}
	return t, nil
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

func (s *serversScraper) shutdown(context.Context) error {
	for _, t := range s.targets {
		if t.client != nil {
			t.client.CloseIdleConnections()
		}
	}
	if s.telemetry != nil {
		s.telemetry.Shutdown()
	}
	return nil
}

// scrape scrapes every server at once (bounded), and emits one resource per server in configuration
// order. A server that fails is a partial error, the first time it fails that way (so that the
// scraper logs it once, not every interval; later failures are counted in
// receiver_inference_scrape_errors and show as inference.server.up 0): the others' data still flows.
func (s *serversScraper) scrape(ctx context.Context) (pmetric.Metrics, error) {
	results := make([]pmetric.Metrics, len(s.targets))
	errs := make([]error, len(s.targets))
	sem := make(chan struct{}, maxParallelScrapes)
	var wg sync.WaitGroup
	for i, t := range s.targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = t.scrape(ctx)
		}()
	}
	wg.Wait()

	out := pmetric.NewMetrics()
	failed := 0
	var joined []error
	for i := range results {
		results[i].ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
		if errs[i] != nil {
			failed++
			joined = append(joined, errs[i])
		}
	}
	if failed > 0 {
		return out, scrapererror.NewPartialScrapeError(errors.Join(joined...), failed)
	}
	return out, nil
}

// scrape scrapes the server. It returns the error only when it differs from the last one (see
// serversScraper.scrape).
func (t *target) scrape(ctx context.Context) (pmetric.Metrics, error) {
	began := time.Now()
	now := pcommon.NewTimestampFromTime(began)
	out := pmetric.NewMetrics()
	rm := out.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)

	err := t.src.scrape(ctx, began, sm.Metrics())
	if err == nil {
		t.mb.RecordInferenceServerUpDataPoint(now, 1)
		if t.lastErr != "" {
			t.logger.Info("Model server is answering again")
			t.lastErr = ""
		}
	} else {
		t.mb.RecordInferenceServerUpDataPoint(now, 0)
		t.tb.ReceiverInferenceScrapeErrors.Add(ctx, 1, t.attrs)
		if msg := err.Error(); msg != t.lastErr {
			t.logger.Warn("Cannot scrape model server; reporting inference.server.up=0 until it answers", zap.Error(err))
			t.lastErr = msg
		} else {
			err = nil // already said; counted above
		}
	}
	t.mb.RecordInferenceServerScrapeDurationDataPoint(now, time.Since(began).Seconds())
	own := t.mb.Emit()
	if own.ResourceMetrics().Len() > 0 {
		own.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().MoveAndAppendTo(sm.Metrics())
	}
	t.resource().MoveTo(rm.Resource())
	return out, err
}

// resource is the server's resource, built each scrape: the flavor and version may be learnt late.
func (t *target) resource() pcommon.Resource {
	rb := t.mb.NewResourceBuilder()
	rb.SetServerAddress(t.address)
	rb.SetServerPort(t.port)
	if t.flavor != "" {
		rb.SetInferenceServerFlavor(t.flavor)
	}
	if t.cfg.Name != "" {
		rb.SetInferenceServerName(t.cfg.Name)
	}
	if t.version != "" {
		rb.SetInferenceServerVersion(t.version)
	}
	return rb.Emit()
}

// get fetches a URL of the server, within max_body_size. The body returned is valid until the next
// get. Errors name the server, the URL and what to check.
func (t *target) get(ctx context.Context, rawURL, accept string) (body []byte, contentType string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		return nil, "", fmt.Errorf("server %q: bad URL %q: %w", t.label, rawURL, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("server %q: GET %s: %w%s", t.label, rawURL, err, hintFor(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, "", fmt.Errorf("server %q: GET %s: %s%s", t.label, rawURL, resp.Status, statusHint(resp.StatusCode, t.flavor))
	}
	limit := t.cfg.maxBodySize()
	t.body.Reset()
	if _, err := t.body.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return nil, "", fmt.Errorf("server %q: GET %s: reading the body: %w", t.label, rawURL, err)
	}
	body = t.body.Bytes()
	if int64(len(body)) > limit {
		return nil, "", fmt.Errorf("server %q: GET %s: the body is larger than max_body_size (%d bytes): raise max_body_size, or check this is a metrics endpoint", t.label, rawURL, limit)
	}
	return body, resp.Header.Get("Content-Type"), nil
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

func hintFor(err error) string {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return " (the server did not answer in time: check it is up, or raise \"timeout\")"
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
