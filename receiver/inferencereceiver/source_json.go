package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// jsonSource reads a JSON stats document and emits the configured fields as metrics.
type jsonSource struct {
	t      *target
	fields []jsonField
	// missingLogged remembers fields already reported missing, so each is logged once.
	missingLogged map[int]bool
}

type jsonField struct {
	cfg  FieldConfig
	path []string
	sum  bool
	// conv applies the field's scale (a division where the scale is 1/n: exact).
	conv schema.Rule
	// start, last and lastMs track a sum's start time across scrapes (a drop is a restart).
	startMs, lastMs int64
	last            float64
	seen            bool
}

func (j *jsonSource) learned() (flavor, version string) { return j.t.cfg.Flavor, "" }

func newJSONSource(t *target) *jsonSource {
	j := &jsonSource{t: t, missingLogged: map[int]bool{}}
	for _, f := range t.cfg.Fields {
		mul, div := schema.ScaleOf(f.Scale)
		j.fields = append(j.fields, jsonField{cfg: f, path: strings.Split(f.Field, "."), sum: f.Type == "sum", conv: schema.Rule{Scale: mul, Div: div}})
	}
	return j
}

func (j *jsonSource) scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error {
	t := j.t
	body, err := t.get(ctx, t.cfg.Endpoint)
	if err != nil {
		return err
	}
	doc, err := decodeJSON(body)
	if err != nil {
		return kindErr(kindInvalidResponse, fmt.Errorf("server %q: GET %s: not a JSON document: %w", t.label, t.endpoint, err))
	}
	nowMs := now.UnixMilli()
	metrics := map[string]pmetric.Metric{}
	for i := range j.fields {
		f := &j.fields[i]
		v, ok := lookup(doc, f.path)
		if !ok {
			if !j.missingLogged[i] {
				j.missingLogged[i] = true
				t.logger.Warn("JSON field not found, or not a number; its metric is skipped until it appears",
					zap.String("field", f.cfg.Field), zap.String("metric", f.cfg.Metric))
			}
			continue
		}
		delete(j.missingLogged, i)
		v = f.conv.Convert(v)
		m, ok := metrics[f.cfg.Metric]
		if !ok {
			m = ms.AppendEmpty()
			d := schema.MetricFor(f.cfg.Metric, f.cfg.Unit)
			m.SetName(d.Name)
			m.SetUnit(d.Unit)
			m.SetDescription(d.Description)
			if f.sum {
				s := m.SetEmptySum()
				s.SetIsMonotonic(true)
				s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			} else {
				m.SetEmptyGauge()
			}
			metrics[f.cfg.Metric] = m
		}
		var dp pmetric.NumberDataPoint
		if m.Type() == pmetric.MetricTypeSum {
			dp = m.Sum().DataPoints().AppendEmpty()
			dp.SetStartTimestamp(pcommon.Timestamp(f.start(v, nowMs) * 1e6))
		} else {
			dp = m.Gauge().DataPoints().AppendEmpty()
		}
		dp.SetTimestamp(pcommon.Timestamp(nowMs * 1e6))
		dp.SetDoubleValue(v)
		for _, k := range sortedKeys(f.cfg.Attributes) {
			dp.Attributes().PutStr(k, f.cfg.Attributes[k])
		}
	}
	return nil
}

// start returns the start time of a sum field, restarting it when the value went down.
func (f *jsonField) start(v float64, nowMs int64) int64 {
	switch {
	case !f.seen:
		f.startMs, f.seen = nowMs, true
	case v < f.last:
		f.startMs = f.lastMs + 1
	}
	f.last, f.lastMs = v, nowMs
	return f.startMs
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// walk follows a dotted path (object keys, array indexes) into a decoded document.
func walk(doc any, path []string) (any, bool) {
	cur := doc
	for _, p := range path {
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[p]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// lookup follows a dotted path to a number. Booleans read as 1 and 0, numeric strings as their
// number.
func lookup(doc any, path []string) (float64, bool) {
	cur, ok := walk(doc, path)
	if !ok {
		return 0, false
	}
	switch v := cur.(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	return 0, false
}
