package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/convert"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

const (
	// maxBodyBytes bounds what one server may send in one scrape.
	maxBodyBytes = 16 << 20
	// maxParallelScrapes bounds the servers scraped at once.
	maxParallelScrapes = 64
	// acceptHeader prefers the classic text format, whose family names (counters with _total) are the
	// ones the flavor tables use; OpenMetrics is read too and normalised to the same names.
	acceptHeader = "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"
)

type serversScraper struct {
	cfg      *Config
	settings receiver.Settings
	logger   *zap.Logger
	targets  []*target
}

// target is one configured server and everything kept between its scrapes.
type target struct {
	cfg      *ServerConfig
	label    string // how messages name the server
	client   *http.Client
	conv     *convert.Converter
	mb       *metadata.MetricsBuilder
	resource pcommon.Resource

	// lastErr is the last failure logged, so that a server that stays down is logged once.
	lastErr string
}

func newServersScraper(cfg *Config, set receiver.Settings) *serversScraper {
	return &serversScraper{cfg: cfg, settings: set, logger: set.Logger}
}

func (s *serversScraper) start(ctx context.Context, host component.Host) error {
	s.targets = make([]*target, 0, len(s.cfg.Servers))
	for i := range s.cfg.Servers {
		sc := &s.cfg.Servers[i]
		t, err := s.newTarget(ctx, host, sc)
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
	flavor := schema.Lookup(sc.Flavor)
	if flavor == nil {
		return nil, fmt.Errorf("server %q: unknown flavor %q", label, sc.Flavor)
	}
	pt, err := convert.ParsePassthrough(sc.Passthrough)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", label, err)
	}
	client, err := sc.ToClient(ctx, host.GetExtensions(), s.settings.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("server %q: cannot make its HTTP client: %w", label, err)
	}
	mb := metadata.NewMetricsBuilder(s.cfg.MetricsBuilderConfig, s.settings)
	rb := mb.NewResourceBuilder()
	host2, port := hostPort(sc.Endpoint)
	rb.SetServerAddress(host2)
	rb.SetServerPort(port)
	rb.SetInferenceServerFlavor(sc.Flavor)
	if sc.Name != "" {
		rb.SetInferenceServerName(sc.Name)
	}
	return &target{
		cfg:      sc,
		label:    label,
		client:   client,
		conv:     convert.New(flavor, pt),
		mb:       mb,
		resource: rb.Emit(),
	}, nil
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
	return nil
}

// scrape scrapes every server at once (bounded), and emits one resource per server in configuration
// order. A server that fails is a partial error: the others' data still flows.
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
			results[i], errs[i] = s.scrapeTarget(ctx, t)
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

func (s *serversScraper) scrapeTarget(ctx context.Context, t *target) (pmetric.Metrics, error) {
	began := time.Now()
	now := pcommon.NewTimestampFromTime(began)
	out := pmetric.NewMetrics()
	rm := out.ResourceMetrics().AppendEmpty()
	t.resource.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)

	payload, err := t.fetch(ctx)
	if err == nil {
		t.conv.Append(payload, began.UnixMilli(), sm.Metrics())
		t.mb.RecordInferenceServerUpDataPoint(now, 1)
		if t.lastErr != "" {
			s.logger.Info("Model server is answering again", zap.String("server", t.label))
			t.lastErr = ""
		}
	} else {
		t.mb.RecordInferenceServerUpDataPoint(now, 0)
		if msg := err.Error(); msg != t.lastErr {
			s.logger.Warn("Cannot scrape model server; reporting inference.server.up=0 until it answers", zap.String("server", t.label), zap.Error(err))
			t.lastErr = msg
		}
	}
	t.mb.RecordInferenceServerScrapeDurationDataPoint(now, time.Since(began).Seconds())
	own := t.mb.Emit()
	if own.ResourceMetrics().Len() > 0 {
		ownMetrics := own.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		ownMetrics.MoveAndAppendTo(sm.Metrics())
	}
	return out, err
}

// fetch GETs the server's metrics and parses them. Errors name the server, the URL and what to check.
func (t *target) fetch(ctx context.Context) (*exposition.Payload, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.cfg.Endpoint, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("server %q: bad endpoint %q: %w", t.label, t.cfg.Endpoint, err)
	}
	req.Header.Set("Accept", acceptHeader)
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server %q: GET %s: %w%s", t.label, t.cfg.Endpoint, err, hintFor(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("server %q: GET %s: %s%s", t.label, t.cfg.Endpoint, resp.Status, statusHint(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("server %q: GET %s: reading the body: %w", t.label, t.cfg.Endpoint, err)
	}
	if len(body) > maxBodyBytes {
		return nil, fmt.Errorf("server %q: GET %s: the body is larger than %d bytes; is this a metrics endpoint?", t.label, t.cfg.Endpoint, maxBodyBytes)
	}
	payload, err := exposition.Parse(body, resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("server %q: GET %s: %w (is the endpoint a Prometheus metrics path, e.g. /metrics?)", t.label, t.cfg.Endpoint, err)
	}
	return payload, nil
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

func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (check auth: headers, bearertokenauth or basicauth)"
	case http.StatusNotFound:
		return " (check the endpoint's path: vLLM serves /metrics)"
	}
	return ""
}
