// Package convert owns the step from parsed metric families to pdata for one server: it applies the
// server's flavor table (schema.Flavor), passes through what the table does not map, and keeps the
// per-series start times of cumulative metrics across scrapes (resets detected as Prometheus does:
// a value that goes down restarted from zero).
package convert // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/convert"

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// Passthrough says which exposed families are also emitted under their own names.
type Passthrough uint8

const (
	// PassthroughUnmapped emits every family the flavor table does not map (the default).
	PassthroughUnmapped Passthrough = iota
	// PassthroughAll emits every family, mapped or not.
	PassthroughAll
	// PassthroughNone emits only the unified metrics.
	PassthroughNone
)

// ParsePassthrough reads the configuration value.
func ParsePassthrough(s string) (Passthrough, error) {
	switch s {
	case "", "unmapped":
		return PassthroughUnmapped, nil
	case "all":
		return PassthroughAll, nil
	case "none":
		return PassthroughNone, nil
	}
	return 0, fmt.Errorf("unknown passthrough %q: use unmapped, all or none", s)
}

// processStartFamily is exposed by every prometheus_client process (vLLM among them); when present it
// is the truthful start time of the server's counters.
const processStartFamily = "process_start_time_seconds"

type seriesKey struct {
	family string
	hash   uint64
}

type startEntry struct {
	startMs int64
	lastMs  int64
	last    float64
	gen     uint32
}

// Converter turns one server's payloads into pdata. It is not safe for concurrent use: each server has
// its own.
type Converter struct {
	flavor      *schema.Flavor
	passthrough Passthrough
	// bySource maps an exposed family name to the rules that may read it.
	bySource map[string][]int

	starts map[seriesKey]startEntry
	gen    uint32

	// model is added as gen_ai.request.model to mapped points that carry none (servers whose metrics
	// have no model label; read elsewhere, e.g. TGI's /info).
	model  string
	gauges map[string]bool
	// restarted makes the next Append treat every series as restarted from zero (the server said it
	// restarted, e.g. llama.cpp's Process-Start-Time-Unix header changed).
	restarted bool

	// ruleOf and targets are per-scrape scratch, kept to avoid two maps a scrape.
	ruleOf  map[*exposition.Family]int
	targets map[string]pmetric.Metric
}

// New returns a converter for one server.
func New(flavor *schema.Flavor, passthrough Passthrough) *Converter {
	c := &Converter{
		flavor:      flavor,
		passthrough: passthrough,
		bySource:    make(map[string][]int),
		starts:      make(map[seriesKey]startEntry),
	}
	for i, r := range flavor.Rules {
		for _, s := range r.Sources {
			c.bySource[s] = append(c.bySource[s], i)
		}
	}
	c.gauges = make(map[string]bool, len(flavor.GaugeFamilies))
	for _, g := range flavor.GaugeFamilies {
		c.gauges[g] = true
	}
	return c
}

// SetModel sets the model attached to mapped points that name none ("" for none).
func (c *Converter) SetModel(model string) { c.model = model }

// Restarted tells the converter that the server restarted since the last payload: every counter
// of the next one starts again from zero, even one whose value did not go down.
func (c *Converter) Restarted() { c.restarted = true }

// SetFlavor changes the table applied from the next payload on (a flavor detected late), keeping
// the start times of the series already seen.
func (c *Converter) SetFlavor(flavor *schema.Flavor) {
	n := New(flavor, c.passthrough)
	n.starts, n.gen, n.model = c.starts, c.gen, c.model
	*c = *n
}

// Flavor is the table this converter applies.
func (c *Converter) Flavor() *schema.Flavor { return c.flavor }

// TrackedSeries is the number of cumulative series whose start time is remembered.
func (c *Converter) TrackedSeries() int { return len(c.starts) }

// Append converts p, scraped at nowMs (Unix milliseconds), into metrics appended to ms. Families
// the payload marked invalid are left out: it returns them, for the caller to count and report.
func (c *Converter) Append(p *exposition.Payload, nowMs int64, ms pmetric.MetricSlice) (invalid []*exposition.Family) {
	return c.AppendWithStart(p, nowMs, 0, ms)
}

// AppendWithStart is Append with the server's process start time given (Unix ms, 0 when unknown),
// for servers that say it elsewhere than in process_start_time_seconds.
func (c *Converter) AppendWithStart(p *exposition.Payload, nowMs, processStartMs int64, ms pmetric.MetricSlice) (invalid []*exposition.Family) {
	c.gen++
	if f := p.Family(processStartFamily); f != nil && len(f.Series) == 1 {
		processStartMs = int64(f.Series[0].Value * 1000)
	}
	// Which rule maps which family: for each rule, the first source present with a compatible type.
	if c.ruleOf == nil {
		c.ruleOf = make(map[*exposition.Family]int, len(c.flavor.Rules))
		c.targets = make(map[string]pmetric.Metric, len(c.flavor.Rules))
	}
	ruleOf, targets := c.ruleOf, c.targets
	clear(ruleOf)
	clear(targets)
	defer func() { clear(ruleOf); clear(targets); c.restarted = false }() // hold no payload or pdata between scrapes
	for i, r := range c.flavor.Rules {
		for _, src := range r.Sources {
			if f := p.Family(src); f != nil && f.Invalid == "" && effectiveKind(&r, f.Kind) != schema.AsExposed {
				ruleOf[f] = i
				break
			}
		}
	}

	for _, f := range p.Families {
		if f.Invalid != "" {
			invalid = append(invalid, f)
			continue
		}
		series := f.Series
		ri, mapped := ruleOf[f]
		var read []exposition.Series
		if mapped {
			read = totals(series, c.flavor.Rules[ri].TotalOver)
		}
		// A rule that reads only a part of a family (a histogram's sum, the totals beside a per-label
		// breakdown) leaves the family to pass through whole.
		consumed := mapped && c.flavor.Rules[ri].Part == schema.PartValue && len(read) == len(series)
		if mapped {
			r := &c.flavor.Rules[ri]
			kind := effectiveKind(r, f.Kind)
			m, ok := targets[r.Metric.Name]
			if !ok {
				m = ms.AppendEmpty()
				m.SetName(r.Metric.Name)
				m.SetUnit(r.Metric.Unit)
				m.SetDescription(r.Metric.Description)
				initKind(m, kind)
				targets[r.Metric.Name] = m
			}
			c.appendMapped(f.Name, read, r, kind, m, nowMs, processStartMs)
		}
		if c.passthrough == PassthroughAll || (!consumed && c.passthrough == PassthroughUnmapped) {
			c.appendPassthrough(f, series, ms, nowMs, processStartMs)
		}
	}

	for k, e := range c.starts {
		if e.gen != c.gen {
			delete(c.starts, k)
		}
	}
	return invalid
}

// totals keeps, of a family broken down by label, the series without that label (the totals the
// server exposes beside the breakdown, e.g. SGLang's priority=""), or every series when there is
// none: then the breakdown is all there is, and summing it is the total.
func totals(series []exposition.Series, label string) []exposition.Series {
	if label == "" {
		return series
	}
	var out []exposition.Series
	for i := range series {
		if !series[i].Labels.Has(label) {
			out = append(out, series[i])
		}
	}
	if len(out) == 0 {
		return series
	}
	return out
}

// effectiveKind is the shape rule r gives a family of the exposed kind, or AsExposed when the rule
// cannot read it (a server exposing the family with another type than the table expects).
func effectiveKind(r *schema.Rule, exposed exposition.Kind) schema.Kind {
	if r.Part == schema.PartHistogramSum {
		if exposed == exposition.Histogram {
			return schema.Sum
		}
		return schema.AsExposed
	}
	switch r.Kind() {
	case schema.Sum:
		if exposed == exposition.Counter {
			return schema.Sum
		}
	case schema.UpDownSum:
		if exposed == exposition.Gauge || exposed == exposition.Counter || exposed == exposition.Unknown {
			return schema.UpDownSum
		}
	case schema.Gauge:
		if exposed == exposition.Gauge || exposed == exposition.Counter || exposed == exposition.Unknown {
			return schema.Gauge
		}
	case schema.Histogram:
		if exposed == exposition.Histogram {
			return schema.Histogram
		}
	case schema.AsExposed:
		switch exposed {
		case exposition.Counter:
			return schema.Sum
		case exposition.Gauge, exposition.Unknown:
			return schema.Gauge
		case exposition.Histogram:
			return schema.Histogram
		}
	}
	return schema.AsExposed
}

func initKind(m pmetric.Metric, k schema.Kind) {
	switch k {
	case schema.Sum:
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case schema.UpDownSum:
		s := m.SetEmptySum()
		s.SetIsMonotonic(false)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case schema.Gauge:
		m.SetEmptyGauge()
	case schema.Histogram:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
}

func (c *Converter) appendMapped(family string, series []exposition.Series, r *schema.Rule, kind schema.Kind, m pmetric.Metric, nowMs, processStartMs int64) {
	for i := range series {
		s := &series[i]
		ts := timestampOf(s, nowMs)
		var attrs pcommon.Map
		switch kind {
		case schema.Sum:
			v, key := s.Value, family
			if r.Part == schema.PartHistogramSum {
				v, key = s.Sum, family+"_sum"
			}
			dp := m.Sum().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetStartTimestamp(c.start(key, s, v, processStartMs, nowMs))
			dp.SetDoubleValue(r.Convert(v))
			putExemplars(dp.Exemplars(), s.Exemplars, r.Convert)
			attrs = dp.Attributes()
		case schema.UpDownSum:
			dp := m.Sum().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			// An up-down value is no counter: it never restarts, its start is when it was first seen.
			dp.SetStartTimestamp(c.start(family, s, 0, processStartMs, nowMs))
			dp.SetDoubleValue(r.Convert(s.Value))
			attrs = dp.Attributes()
		case schema.Gauge:
			dp := m.Gauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(r.Convert(s.Value))
			attrs = dp.Attributes()
		case schema.Histogram:
			dp := m.Histogram().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetStartTimestamp(c.start(family, s, histogramCount(s), processStartMs, nowMs))
			fillHistogram(dp, s, r.Convert)
			putExemplars(dp.Exemplars(), s.Exemplars, r.Convert)
			attrs = dp.Attributes()
		}
		mappedAttributes(s.Labels, r, attrs)
		if strings.HasPrefix(r.Metric.Name, genAIServerPrefix) {
			if p := c.flavor.Provider; p != "" {
				attrs.PutStr(names.AttrGenAIProviderName, p)
			}
			if op := c.flavor.Operation; op != "" {
				attrs.PutStr(names.AttrGenAIOperationName, op)
			}
		}
		if c.model != "" {
			if _, ok := attrs.Get(schema.AttrModel); !ok {
				attrs.PutStr(schema.AttrModel, c.model)
			}
		}
	}
}

// genAIServerPrefix marks the semconv GenAI server metrics, which carry gen_ai.provider.name.
const genAIServerPrefix = "gen_ai.server."

func mappedAttributes(ls labels.Labels, r *schema.Rule, attrs pcommon.Map) {
	attrs.EnsureCapacity(ls.Len() + len(r.Static) + 1)
	ls.Range(func(l labels.Label) {
		if o := r.Outcome; o != nil && l.Name == o.Label {
			outcome, ok := o.Values[l.Value]
			if !ok {
				outcome = o.Default
			}
			attrs.PutStr(schema.AttrOutcome, outcome)
			if o.KeepAs != "" {
				attrs.PutStr(o.KeepAs, l.Value)
			}
			return
		}
		name := l.Name
		for _, rn := range r.Renames {
			if rn.Label == l.Name {
				name = rn.Attribute
				break
			}
		}
		attrs.PutStr(name, l.Value)
	})
	if o := r.Outcome; o != nil {
		if _, ok := attrs.Get(schema.AttrOutcome); !ok {
			attrs.PutStr(schema.AttrOutcome, o.Default)
		}
	}
	for _, kv := range r.Static {
		attrs.PutStr(kv[0], kv[1])
	}
}

func (c *Converter) appendPassthrough(f *exposition.Family, series []exposition.Series, ms pmetric.MetricSlice, nowMs, processStartMs int64) {
	m := ms.AppendEmpty()
	m.SetName(f.Name)
	m.SetDescription(f.Help)
	m.SetUnit(f.Unit)
	kind := f.Kind
	if c.gauges[f.Name] {
		kind = exposition.Gauge
	}
	switch kind {
	case exposition.Counter:
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i := range series {
			s := &series[i]
			dp := sum.DataPoints().AppendEmpty()
			dp.SetTimestamp(timestampOf(s, nowMs))
			dp.SetStartTimestamp(c.start(f.Name, s, s.Value, processStartMs, nowMs))
			dp.SetDoubleValue(s.Value)
			putExemplars(dp.Exemplars(), s.Exemplars, identity)
			putLabels(s.Labels, dp.Attributes())
		}
	case exposition.Histogram:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i := range series {
			s := &series[i]
			dp := h.DataPoints().AppendEmpty()
			dp.SetTimestamp(timestampOf(s, nowMs))
			dp.SetStartTimestamp(c.start(f.Name, s, histogramCount(s), processStartMs, nowMs))
			fillHistogram(dp, s, identity)
			putExemplars(dp.Exemplars(), s.Exemplars, identity)
			putLabels(s.Labels, dp.Attributes())
		}
	case exposition.Summary:
		sm := m.SetEmptySummary()
		for i := range series {
			s := &series[i]
			dp := sm.DataPoints().AppendEmpty()
			dp.SetTimestamp(timestampOf(s, nowMs))
			dp.SetStartTimestamp(c.start(f.Name, s, s.Count, processStartMs, nowMs))
			dp.SetCount(uint64(s.Count))
			dp.SetSum(s.Sum)
			qs := dp.QuantileValues()
			qs.EnsureCapacity(len(s.Quantiles))
			for _, q := range s.Quantiles {
				qv := qs.AppendEmpty()
				qv.SetQuantile(q.Quantile)
				qv.SetValue(q.Value)
			}
			putLabels(s.Labels, dp.Attributes())
		}
	default:
		g := m.SetEmptyGauge()
		for i := range series {
			s := &series[i]
			dp := g.DataPoints().AppendEmpty()
			dp.SetTimestamp(timestampOf(s, nowMs))
			dp.SetDoubleValue(s.Value)
			putLabels(s.Labels, dp.Attributes())
		}
	}
}

func putLabels(ls labels.Labels, attrs pcommon.Map) {
	attrs.EnsureCapacity(ls.Len())
	ls.Range(func(l labels.Label) { attrs.PutStr(l.Name, l.Value) })
}

func timestampOf(s *exposition.Series, nowMs int64) pcommon.Timestamp {
	if s.TimestampMs != 0 {
		return msToTimestamp(s.TimestampMs)
	}
	return msToTimestamp(nowMs)
}

func msToTimestamp(ms int64) pcommon.Timestamp { return pcommon.Timestamp(ms * 1e6) }

// start returns the start time of a cumulative series and remembers its value for reset detection.
func (c *Converter) start(family string, s *exposition.Series, value float64, processStartMs, nowMs int64) pcommon.Timestamp {
	ts := nowMs
	if s.TimestampMs != 0 {
		ts = s.TimestampMs
	}
	key := seriesKey{family: family, hash: s.Hash}
	e, ok := c.starts[key]
	switch {
	case !ok:
		e = startEntry{startMs: firstStart(s, processStartMs, ts)}
	case value < e.last || c.restarted:
		// A counter that went down restarted from zero after the previous observation.
		e.startMs = e.lastMs + 1
		if s.CreatedMs > e.lastMs && s.CreatedMs <= ts {
			e.startMs = s.CreatedMs
		} else if processStartMs > e.lastMs && processStartMs <= ts {
			e.startMs = processStartMs
		}
	}
	e.last, e.lastMs, e.gen = value, ts, c.gen
	c.starts[key] = e
	return msToTimestamp(e.startMs)
}

func firstStart(s *exposition.Series, processStartMs, ts int64) int64 {
	switch {
	case s.CreatedMs > 0 && s.CreatedMs <= ts:
		return s.CreatedMs
	case processStartMs > 0 && processStartMs <= ts:
		return processStartMs
	default:
		return ts
	}
}

// histogramCount is the count of a valid histogram series: its +Inf bucket (the exposition formats
// require _count to equal it).
func histogramCount(s *exposition.Series) float64 {
	if n := len(s.Buckets); n > 0 {
		return s.Buckets[n-1].Count
	}
	return s.Count
}

func identity(v float64) float64 { return v }

// fillHistogram turns the cumulative "≤ le" buckets of a valid series (increasing bounds and
// counts, +Inf last: the parser checked) into OTLP's per-bucket counts.
func fillHistogram(dp pmetric.HistogramDataPoint, s *exposition.Series, conv func(float64) float64) {
	dp.SetCount(nonNegative(histogramCount(s)))
	if s.HasSum {
		dp.SetSum(conv(s.Sum))
	}
	if len(s.Buckets) == 0 {
		return
	}
	bounds := dp.ExplicitBounds()
	counts := dp.BucketCounts()
	bounds.EnsureCapacity(len(s.Buckets) - 1)
	counts.EnsureCapacity(len(s.Buckets))
	// Differences of the cumulative counts taken in integers, so that they add up to the count exactly.
	var prev uint64
	for _, b := range s.Buckets {
		if !math.IsInf(b.UpperBound, 1) {
			bounds.Append(conv(b.UpperBound))
		}
		cum := nonNegative(b.Count)
		counts.Append(cum - prev)
		prev = cum
	}
}

// putExemplars carries OpenMetrics exemplars into OTLP: trace_id and span_id become the exemplar's
// trace and span, the other labels its filtered attributes.
func putExemplars(dst pmetric.ExemplarSlice, src []exposition.Exemplar, conv func(float64) float64) {
	for _, e := range src {
		x := dst.AppendEmpty()
		x.SetDoubleValue(conv(e.Value))
		if e.TimestampMs != 0 {
			x.SetTimestamp(msToTimestamp(e.TimestampMs))
		}
		e.Labels.Range(func(l labels.Label) {
			switch l.Name {
			case "trace_id":
				var id pcommon.TraceID
				if hexID(id[:], l.Value) {
					x.SetTraceID(id)
					return
				}
			case "span_id":
				var id pcommon.SpanID
				if hexID(id[:], l.Value) {
					x.SetSpanID(id)
					return
				}
			}
			x.FilteredAttributes().PutStr(l.Name, l.Value)
		})
	}
}

// hexID decodes a trace or span ID written in hex with exactly its length into dst.
func hexID(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

// nonNegative is a count as an integer: 0 for negatives and NaN, saturated above 2^64.
func nonNegative(v float64) uint64 {
	switch {
	case v <= 0 || math.IsNaN(v):
		return 0
	case v >= math.MaxUint64:
		return math.MaxUint64
	}
	return uint64(v)
}
