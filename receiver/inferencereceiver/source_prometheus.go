package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/convert"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// acceptHeader asks for what Prometheus 3 asks for by default: OpenMetrics first (it carries
// exemplars and _created start times), the classic text format next. Both are read into the same
// family names (OpenMetrics counters get their _total back).
const acceptHeader = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"

// detectScrapes bounds how many successful scrapes a server without a configured flavor is looked
// at again while it still reads as a generic exporter (a model server that has served nothing yet
// may expose too little to be recognized): one hour at the default interval.
const detectScrapes = 360

// processStartHeader is llama.cpp's header on /metrics: a number that changes when the server
// restarts (a Unix time in some versions, a process-relative clock in others).
const processStartHeader = "Process-Start-Time-Unix"

// promSource reads a Prometheus text or OpenMetrics endpoint and maps it with the flavor's table.
type promSource struct {
	t           *target
	flavor      string // the configured flavor, or the detected one once known ("" before)
	passthrough convert.Passthrough
	// conv is nil until the flavor is known (detected from the first payload when not configured).
	conv   *convert.Converter
	parser *exposition.Parser
	// detectLeft counts the scrapes left in which a generic result is looked at again.
	detectLeft int

	// modelKnown is set once the model was read from the flavor's info endpoint; it is read again
	// after a failed scrape (the server may have restarted with another model).
	modelKnown bool
	// startToken is the last Process-Start-Time-Unix seen ("" when the server sends none).
	startToken string
	// invalidLogged are the invalid families already reported, each once.
	invalidLogged map[string]bool

	// lastPayload and lastStartMs are a discovered server's last payload read, for again.
	lastPayload *exposition.Payload
	lastStartMs int64
}

func newPromSource(t *target) (*promSource, error) {
	pt, err := convert.ParsePassthrough(t.cfg.Passthrough)
	if err != nil {
		return nil, err
	}
	p := &promSource{t: t, passthrough: pt, parser: exposition.NewParser(), detectLeft: detectScrapes, invalidLogged: map[string]bool{}}
	p.parser.MaxSeries = t.cfg.maxSeries()
	if t.cfg.Flavor != "" {
		f := schema.Lookup(t.cfg.Flavor)
		if f == nil {
			return nil, fmt.Errorf("unknown flavor %q", t.cfg.Flavor)
		}
		p.flavor = f.Name
		p.conv = convert.New(withMappings(f, t.cfg.Mappings), p.passthrough)
	}
	return p, nil
}

func (p *promSource) scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error {
	t := p.t
	var (
		payload *exposition.Payload
		header  http.Header
	)
	err := t.fetch(ctx, t.cfg.Endpoint, acceptHeader, func(body io.Reader, h http.Header) error {
		header = h
		// Parsing (a chunk at a time while the body arrives) is CPU work: one payload per core.
		select {
		case t.g.cpuSlots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-t.g.cpuSlots }()
		var err error
		payload, err = p.parser.ParseFrom(body, h.Get("Content-Type"))
		var tooMany *exposition.TooManySeriesError
		var syntax *exposition.SyntaxError
		switch {
		case errors.As(err, &tooMany):
			t.dropped(ctx, tooMany.Limit+1, "max_series")
			return fmt.Errorf("%w: the whole scrape is dropped, as Prometheus drops a scrape over its sample_limit (raise max_series, or have the server expose fewer series)", err)
		case errors.Is(err, exposition.ErrOpenMetricsRule):
			return err // a metrics payload, breaking a rule of the standard: the error says which
		case errors.As(err, &syntax):
			return fmt.Errorf("%w (is the endpoint a Prometheus metrics path, e.g. /metrics?)", err)
		}
		return err
	})
	if err != nil {
		p.modelKnown = false
		return err
	}
	p.detect(payload)
	if f := p.conv.Flavor(); f.ModelInfoPath != "" && !p.modelKnown {
		p.readModel(ctx, f)
	}
	startMs := p.processStart(header, now)
	select {
	case t.g.cpuSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("server %q: GET %s: %w%s", t.label, t.endpoint, ctx.Err(), hintFor(ctx.Err(), t.timeout))
	}
	invalid := p.conv.AppendWithStart(payload, now.UnixMilli(), startMs, ms)
	<-t.g.cpuSlots
	if t.disc != nil {
		payload.Compact()
		p.lastPayload, p.lastStartMs = payload, startMs
	}
	if payload.Duplicates > 0 {
		t.dropped(ctx, payload.Duplicates, "duplicate")
		if !p.invalidLogged[""] {
			p.invalidLogged[""] = true
			t.logger.Warn(fmt.Sprintf("Model server %q repeats sample lines; the first of each is kept", t.label), zap.Int("repeated", payload.Duplicates))
		}
	}
	for _, f := range invalid {
		t.dropped(ctx, len(f.Series), "invalid")
		if !p.invalidLogged[f.Name] {
			p.invalidLogged[f.Name] = true
			t.logger.Warn(fmt.Sprintf("Model server %q exposes a metric family that cannot be read; it is left out", t.label), zap.String("family", f.Name), zap.String("reason", f.Invalid))
		}
	}
	return nil
}

// again converts the last payload read once more (a discovered server that went: the series its
// staleness markers end).
func (p *promSource) again(now time.Time, ms pmetric.MetricSlice) {
	if p.lastPayload != nil && p.conv != nil {
		p.conv.AppendWithStart(p.lastPayload, now.UnixMilli(), p.lastStartMs, ms)
	}
}

// detect chooses the flavor from the first payload when none is configured, and looks again while
// the payload reads as a generic exporter (a TGI that has served nothing exposes one gauge).
func (p *promSource) detect(payload *exposition.Payload) {
	t := p.t
	if p.conv != nil && (t.cfg.Flavor != "" || p.flavor != schema.Prometheus.Name || p.detectLeft <= 0) {
		return
	}
	names := make([]string, len(payload.Families))
	for i, f := range payload.Families {
		names[i] = f.Name
	}
	f := schema.Detect(func(name string) bool { return payload.Family(name) != nil }, names)
	switch {
	case p.conv == nil:
		t.logger.Info(fmt.Sprintf("Detected the flavor of model server %q from its metrics; set \"flavor\" to skip detection", t.label),
			zap.String("flavor", f.Name), zap.String("endpoint", t.endpoint))
		p.conv = convert.New(withMappings(f, t.cfg.Mappings), p.passthrough)
	case f.Name != schema.Prometheus.Name:
		t.logger.Info(fmt.Sprintf("Model server %q now exposes the metrics of a known flavor; mapping them from now on", t.label),
			zap.String("flavor", f.Name), zap.Int("scrapes_before", detectScrapes-p.detectLeft))
		p.conv.SetFlavor(withMappings(f, t.cfg.Mappings))
	default:
		p.detectLeft--
	}
	p.flavor = f.Name
}

func (p *promSource) learned() (flavor, version string) { return p.flavor, "" }

// processStart reads llama.cpp's Process-Start-Time-Unix header: a change is a restart; a value that
// is a plausible Unix time (seconds) is the start time of its counters. 0 when unknown.
func (p *promSource) processStart(header http.Header, now time.Time) int64 {
	v := header.Get(processStartHeader)
	if v == "" {
		return 0
	}
	if p.startToken != "" && v != p.startToken {
		p.conv.Restarted()
	}
	p.startToken = v
	if sec, err := strconv.ParseInt(v, 10, 64); err == nil && sec > 1_000_000_000 && sec <= now.Unix() {
		return sec * 1000
	}
	return 0
}

// readModel reads the served model from the flavor's info endpoint (TGI and TEI: GET /info →
// model_id; llama.cpp: GET /v1/models → data.0.id). A failure is not a failed scrape: the metrics
// still flow, without the model.
func (p *promSource) readModel(ctx context.Context, f *schema.Flavor) {
	t := p.t
	url := t.sibling(f.ModelInfoPath)
	body, err := t.get(ctx, url)
	var model string
	if err == nil {
		var doc any
		if doc, err = decodeJSON(body); err == nil {
			v, _ := walk(doc, strings.Split(f.ModelInfoField, "."))
			model, _ = v.(string)
		}
	}
	if err != nil || model == "" {
		if err == nil {
			err = fmt.Errorf("no %q field", f.ModelInfoField)
		}
		t.logger.Debug("Cannot read the served model; gen_ai.request.model stays unset until it can be read", zap.String("url", redact.URL(url)), zap.Error(err))
		return
	}
	p.modelKnown = true
	p.conv.SetModel(model)
}

// dropped counts series left out of a scrape, by reason.
func (t *target) dropped(ctx context.Context, n int, reason string) {
	t.g.telemetry.ReceiverInferenceSeriesDropped.Add(context.WithoutCancel(ctx), int64(n),
		metric.WithAttributes(attribute.String("server", t.label), attribute.String("reason", reason)))
}

// withMappings returns f with the user's mappings first (they win over the flavor's table).
func withMappings(f *schema.Flavor, mappings []MappingConfig) *schema.Flavor {
	if len(mappings) == 0 {
		return f
	}
	out := *f
	out.Rules = make([]schema.Rule, 0, len(mappings)+len(f.Rules))
	for _, m := range mappings {
		mul, div := schema.ScaleOf(m.Scale)
		r := schema.Rule{
			Sources: []string{m.From},
			Metric:  schema.MetricFor(m.To, m.Unit),
			Scale:   mul,
			Div:     div,
		}
		for _, label := range sortedKeys(m.Labels) {
			r.Renames = append(r.Renames, schema.Rename{Label: label, Attribute: m.Labels[label]})
		}
		for _, k := range sortedKeys(m.Attributes) {
			r.Static = append(r.Static, [2]string{k, m.Attributes[k]})
		}
		out.Rules = append(out.Rules, r)
	}
	out.Rules = append(out.Rules, f.Rules...)
	return &out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
