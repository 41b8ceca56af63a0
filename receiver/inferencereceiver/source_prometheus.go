package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/convert"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// acceptHeader prefers the classic text format, whose family names (counters with _total) are the
// ones the flavor tables use; OpenMetrics is read too and normalised to the same names.
const acceptHeader = "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

// cpuSlots bounds the parsing and converting done at once, process-wide.
var cpuSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

// promSource reads a Prometheus text or OpenMetrics endpoint and maps it with the flavor's table.
type promSource struct {
	t           *target
	passthrough convert.Passthrough
	// conv is nil until the flavor is known (detected from the first payload when not configured).
	conv   *convert.Converter
	parser *exposition.Parser

	// modelKnown is set once the model was read from the flavor's info endpoint; it is read again
	// after a failed scrape (the server may have restarted with another model).
	modelKnown    bool
	droppedLogged bool
}

func newPromSource(t *target) (*promSource, error) {
	pt, err := convert.ParsePassthrough(t.cfg.Passthrough)
	if err != nil {
		return nil, err
	}
	p := &promSource{t: t, passthrough: pt, parser: exposition.NewParser()}
	if t.flavor != "" {
		f := schema.Lookup(t.flavor)
		if f == nil {
			return nil, fmt.Errorf("unknown flavor %q", t.flavor)
		}
		p.useFlavor(f)
	}
	return p, nil
}

func (p *promSource) useFlavor(f *schema.Flavor) {
	p.conv = convert.New(withMappings(f, p.t.cfg.Mappings), p.passthrough)
	p.conv.SetMaxSeries(p.t.cfg.maxSeries())
}

func (p *promSource) scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error {
	t := p.t
	body, contentType, err := t.get(ctx, t.cfg.Endpoint, acceptHeader)
	if err != nil {
		p.modelKnown = false
		return err
	}
	// Parsing and converting are CPU work: bounded to one per core, so that the payloads of many
	// servers fetched at once are not all held in memory at the same time.
	cpuSlots <- struct{}{}
	payload, err := p.parser.Parse(body, contentType)
	<-cpuSlots
	if err != nil {
		p.modelKnown = false
		return fmt.Errorf("server %q: GET %s: %w (is the endpoint a Prometheus metrics path, e.g. /metrics?)", t.label, t.cfg.Endpoint, err)
	}
	if p.conv == nil {
		f := schema.Detect(func(name string) bool { return payload.Family(name) != nil })
		t.logger.Info("Detected the model server's flavor from its metrics; set \"flavor\" to skip detection",
			zap.String("flavor", f.Name), zap.String("endpoint", t.cfg.Endpoint))
		t.flavor = f.Name
		p.useFlavor(f)
	}
	if f := p.conv.Flavor(); f.ModelInfoPath != "" && !p.modelKnown {
		p.readModel(ctx, f)
	}
	cpuSlots <- struct{}{}
	dropped := p.conv.Append(payload, now.UnixMilli(), ms)
	<-cpuSlots
	if dropped > 0 {
		t.tb.ReceiverInferenceSeriesDropped.Add(ctx, int64(dropped), t.attrs)
		if !p.droppedLogged {
			p.droppedLogged = true
			t.logger.Warn("Model server exposes more series than max_series; the rest are dropped (raise max_series, or use passthrough: none)",
				zap.Int("max_series", t.cfg.maxSeries()), zap.Int("dropped", dropped))
		}
	}
	return nil
}

// readModel reads the served model from the flavor's info endpoint (TGI and TEI: GET /info →
// model_id). A failure is not a failed scrape: the metrics still flow, without the model.
func (p *promSource) readModel(ctx context.Context, f *schema.Flavor) {
	t := p.t
	url := t.sibling(f.ModelInfoPath)
	body, _, err := t.get(ctx, url, "application/json")
	var info map[string]any
	if err == nil {
		err = json.Unmarshal(body, &info)
	}
	model, _ := info[f.ModelInfoField].(string)
	if err != nil || model == "" {
		if err == nil {
			err = fmt.Errorf("no %q field", f.ModelInfoField)
		}
		t.logger.Debug("Cannot read the served model; gen_ai.request.model stays unset until it can be read", zap.String("url", url), zap.Error(err))
		return
	}
	p.modelKnown = true
	p.conv.SetModel(model)
}

// withMappings returns f with the user's mappings first (they win over the flavor's table).
func withMappings(f *schema.Flavor, mappings []MappingConfig) *schema.Flavor {
	if len(mappings) == 0 {
		return f
	}
	out := *f
	out.Rules = make([]schema.Rule, 0, len(mappings)+len(f.Rules))
	for _, m := range mappings {
		r := schema.Rule{
			Sources: []string{m.From},
			Metric:  m.To,
			Kind:    schema.KindOf(m.To),
			Unit:    m.Unit,
			Scale:   m.Scale,
		}
		if r.Unit == "" {
			r.Unit = schema.UnitOf(m.To)
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
