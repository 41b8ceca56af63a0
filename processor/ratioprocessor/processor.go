package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/processor/ratioprocessor/internal/metadata"
	"github.com/otel-inference/collector/processor/ratioprocessor/internal/window"
)

type kv struct{ key, value string }

type selector struct {
	metric string
	match  []kv
}

func (s *selector) matches(name string, attrs pcommon.Map) bool {
	if s.metric != name {
		return false
	}
	for _, m := range s.match {
		v, ok := attrs.Get(m.key)
		if !ok || v.AsString() != m.value {
			return false
		}
	}
	return true
}

type rule struct {
	index   int
	name    string
	unit    string
	window  int64 // nanoseconds
	groupBy []string

	// A counter ratio has num and den; a histogram fraction has hist and a threshold.
	num, den  selector
	hist      *selector
	threshold float64
	above     bool

	description string

	// misconfigured is set once the numerator was seen growing faster than the denominator.
	misconfigured bool
}

// tracked is one input series: its window of points and, per rule, the output group it feeds.
type tracked struct {
	window.Series
	groups []*group // by rule index; nil where the rule does not use the series
	layout uint64   // histogram bucket layout, to reset the window when it changes
	dead   bool     // set when the sweep forgets the series, so groups drop it too
}

// group is one output stream of one rule: a resource and the values of the rule's group_by attributes.
type group struct {
	rule  *rule
	attrs pcommon.Map
	num   []*tracked // counter ratio: numerator series; histogram fraction: unused
	den   []*tracked // counter ratio: denominator series; histogram fraction: its series

	// touchedGen and touchedT: the batch generation that last touched the group and the newest
	// point time seen in it then.
	touchedGen uint64
	touchedT   int64
}

type ratioProcessor struct {
	logger  *zap.Logger
	rules   []*rule
	byName  map[string][]*rule
	keep    int64 // the longest window: how much history a series keeps
	maxSer  int
	staleNs int64

	mu     sync.Mutex
	series map[uint64]*tracked
	groups map[uint64]*group
	gen    uint64
	// touched is the scratch list of groups touched in the resource being processed; outMetric and
	// outGen are the output metric of each rule in that resource (valid when outGen is gen).
	touched   []*group
	outMetric []pmetric.Metric
	outGen    []uint64
	// capLogged is set once the max_series cap was hit and logged.
	capLogged bool
	// untracked counts series not tracked because of max_series.
	untracked int64

	stop chan struct{}
	done chan struct{}
}

func newRatioProcessor(cfg *Config, logger *zap.Logger) *ratioProcessor {
	rules := cfg.Rules
	if len(rules) == 0 {
		rules = DefaultRules()
	}
	p := &ratioProcessor{
		logger:  logger,
		byName:  map[string][]*rule{},
		maxSer:  cfg.MaxSeries,
		staleNs: cfg.MaxStaleness.Nanoseconds(),
		series:  map[uint64]*tracked{},
		groups:  map[uint64]*group{},
	}
	for i := range rules {
		rc := &rules[i]
		w := cfg.Window
		if rc.Window > 0 {
			w = rc.Window
		}
		r := &rule{index: i, name: rc.Name, unit: rc.Unit, window: w.Nanoseconds(), groupBy: rc.GroupBy}
		if r.unit == "" {
			r.unit = "1"
		}
		if h := rc.Histogram; h != nil {
			sel := toSelector(h.Metric, h.Match)
			r.hist = &sel
			if h.Above != nil {
				r.threshold, r.above = *h.Above, true
			} else if h.AtMost != nil {
				r.threshold = *h.AtMost
			}
			p.byName[sel.metric] = appendOnce(p.byName[sel.metric], r)
		} else {
			r.num = toSelector(rc.Numerator.Metric, rc.Numerator.Match)
			r.den = toSelector(rc.Denominator.Metric, rc.Denominator.Match)
			p.byName[r.num.metric] = appendOnce(p.byName[r.num.metric], r)
			p.byName[r.den.metric] = appendOnce(p.byName[r.den.metric], r)
		}
		r.description = r.describe()
		p.rules = append(p.rules, r)
		p.outMetric = append(p.outMetric, pmetric.Metric{})
		p.outGen = append(p.outGen, 0)
		p.keep = max(p.keep, r.window)
	}
	return p
}

func appendOnce(rs []*rule, r *rule) []*rule {
	for _, x := range rs {
		if x == r {
			return rs
		}
	}
	return append(rs, r)
}

func toSelector(metric string, match map[string]string) selector {
	out := selector{metric: metric}
	for k, v := range match {
		out.match = append(out.match, kv{k, v})
	}
	sort.Slice(out.match, func(i, j int) bool { return out.match[i].key < out.match[j].key })
	return out
}

func (p *ratioProcessor) start(context.Context, component.Host) error {
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	interval := time.Duration(p.staleNs / 2)
	interval = min(max(interval, time.Second), time.Minute)
	go func() {
		defer close(p.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case now := <-t.C:
				p.sweep(now.UnixNano())
			}
		}
	}()
	return nil
}

func (p *ratioProcessor) shutdown(context.Context) error {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
	return nil
}

// sweep forgets series not updated for max_staleness, and groups left with none.
func (p *ratioProcessor) sweep(nowNs int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range p.series {
		if nowNs-s.LastSeen > p.staleNs {
			s.dead = true
			delete(p.series, k)
		}
	}
	for gk, g := range p.groups {
		g.num = live(g.num)
		g.den = live(g.den)
		if len(g.num) == 0 && len(g.den) == 0 {
			delete(p.groups, gk)
		}
	}
}

func live(ss []*tracked) []*tracked {
	out := ss[:0]
	for _, s := range ss {
		if !s.dead {
			out = append(out, s)
		}
	}
	clear(ss[len(out):])
	return out
}

func (p *ratioProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	nowNs := time.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		p.gen++
		p.touched = p.touched[:0]
		p.update(rm, nowNs)
		if len(p.touched) > 0 {
			p.emit(rm)
		}
	}
	return md, nil
}

// update records every point of the rules' metrics in one resource, and lists the groups touched.
func (p *ratioProcessor) update(rm pmetric.ResourceMetrics, nowNs int64) {
	var resHash uint64
	resHashed := false
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			rules := p.byName[m.Name()]
			if len(rules) == 0 {
				continue
			}
			if !resHashed {
				resHash = mapHash(rm.Resource().Attributes(), 0)
				resHashed = true
			}
			switch m.Type() {
			case pmetric.MetricTypeSum:
				p.updateSum(m, rules, resHash, nowNs)
			case pmetric.MetricTypeHistogram:
				p.updateHistogram(m, rules, resHash, nowNs)
			case pmetric.MetricTypeExponentialHistogram:
				p.updateExponential(m, rules, resHash, nowNs)
			}
		}
	}
}

func (p *ratioProcessor) updateSum(m pmetric.Metric, rules []*rule, resHash uint64, nowNs int64) {
	name := m.Name()
	nameHash := xxhash.Sum64String(name)
	delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	dps := m.Sum().DataPoints()
points:
	for k := 0; k < dps.Len(); k++ {
		dp := dps.At(k)
		attrs := dp.Attributes()
		var s *tracked
		for _, r := range rules {
			if r.hist != nil {
				continue
			}
			inNum := r.num.matches(name, attrs)
			inDen := r.den.matches(name, attrs)
			if !inNum && !inDen {
				continue
			}
			if s == nil {
				key := mapHash(attrs, resHash^nameHash)
				if s = p.lookup(key, name); s == nil {
					continue points
				}
				v := numberValue(dp)
				if delta {
					s.AddDelta(int64(dp.Timestamp()), int64(dp.StartTimestamp()), v, 0, p.keep)
				} else {
					s.AddCumulative(int64(dp.Timestamp()), int64(dp.StartTimestamp()), v, 0, p.keep)
				}
				s.LastSeen = nowNs
			}
			g := s.groups[r.index]
			if g == nil {
				g = p.group(r, resHash, attrs)
				s.groups[r.index] = g
				if inNum {
					g.num = append(g.num, s)
				}
				if inDen {
					g.den = append(g.den, s)
				}
			}
			p.touch(g, int64(dp.Timestamp()))
		}
	}
}

func (p *ratioProcessor) updateHistogram(m pmetric.Metric, rules []*rule, resHash uint64, nowNs int64) {
	delta := m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	dps := m.Histogram().DataPoints()
	for k := 0; k < dps.Len(); k++ {
		dp := dps.At(k)
		for _, r := range rules {
			p.fractionPoint(m.Name(), r, resHash, dp.Attributes(), layoutOf(dp.ExplicitBounds()), delta, nowNs,
				int64(dp.Timestamp()), int64(dp.StartTimestamp()), float64(dp.Count()),
				func() float64 { return countAtMost(dp.ExplicitBounds(), dp.BucketCounts(), r.threshold) })
		}
	}
}

func (p *ratioProcessor) updateExponential(m pmetric.Metric, rules []*rule, resHash uint64, nowNs int64) {
	delta := m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
	dps := m.ExponentialHistogram().DataPoints()
	for k := 0; k < dps.Len(); k++ {
		dp := dps.At(k)
		for _, r := range rules {
			p.fractionPoint(m.Name(), r, resHash, dp.Attributes(), uint64(int64(dp.Scale()))+1, delta, nowNs,
				int64(dp.Timestamp()), int64(dp.StartTimestamp()), float64(dp.Count()),
				func() float64 { return exponentialCountAtMost(dp, r.threshold) })
		}
	}
}

// fractionPoint records one histogram point for one histogram rule as two paired counters: its count
// (V) and its observations at most the threshold (W). A series is tracked per rule (each rule has its
// own threshold); a change of bucket layout restarts its window.
func (p *ratioProcessor) fractionPoint(name string, r *rule, resHash uint64, attrs pcommon.Map, layout uint64, delta bool, nowNs int64,
	t, start int64, count float64, atMost func() float64,
) {
	if r.hist == nil || !r.hist.matches(name, attrs) {
		return
	}
	s := p.lookup(mapHash(attrs, resHash^xxhash.Sum64String(name)^uint64(r.index+1)*0x9e3779b97f4a7c15), name)
	if s == nil {
		return
	}
	if layout != s.layout {
		s.Clear()
		s.layout = layout
	}
	if delta {
		s.AddDelta(t, start, count, atMost(), p.keep)
	} else {
		s.AddCumulative(t, start, count, atMost(), p.keep)
	}
	s.LastSeen = nowNs
	p.link(s, r, resHash, attrs, t)
}

func (p *ratioProcessor) link(s *tracked, r *rule, resHash uint64, attrs pcommon.Map, t int64) {
	g := s.groups[r.index]
	if g == nil {
		g = p.group(r, resHash, attrs)
		s.groups[r.index] = g
		g.den = append(g.den, s)
	}
	p.touch(g, t)
}

func (p *ratioProcessor) touch(g *group, t int64) {
	if g.touchedGen != p.gen {
		g.touchedGen, g.touchedT = p.gen, t
		p.touched = append(p.touched, g)
		return
	}
	g.touchedT = max(g.touchedT, t)
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// lookup returns the tracked series of a key, tracking it if new and the max_series cap allows.
func (p *ratioProcessor) lookup(key uint64, metric string) *tracked {
	if s, ok := p.series[key]; ok {
		return s
	}
	if len(p.series) >= p.maxSer {
		p.untracked++
		if !p.capLogged {
			p.capLogged = true
			p.logger.Warn("Ratio processor reached max_series; new series are not tracked until old ones go stale (raise max_series, or narrow the rules)",
				zap.Int("max_series", p.maxSer), zap.String("metric", metric))
		}
		return nil
	}
	s := &tracked{groups: make([]*group, len(p.rules))}
	p.series[key] = s
	return s
}

// mapHash hashes a map's entries independently of their order (a sum of per-entry hashes), mixed with
// seed. It does not allocate for string values.
func mapHash(m pcommon.Map, seed uint64) uint64 {
	h := seed*0x9e3779b97f4a7c15 + uint64(m.Len())
	for k, v := range m.All() {
		var vh uint64
		if v.Type() == pcommon.ValueTypeStr {
			vh = xxhash.Sum64String(v.Str())
		} else {
			vh = xxhash.Sum64String(v.AsString()) ^ uint64(v.Type())
		}
		h += mix(xxhash.Sum64String(k) ^ (vh<<1 | vh>>63))
	}
	return mix(h)
}

// mix is a 64-bit finaliser, so that sums of entry hashes spread well.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func (p *ratioProcessor) group(r *rule, resHash uint64, attrs pcommon.Map) *group {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(strconv.FormatUint(resHash, 16))
	_, _ = d.WriteString(r.name)
	for _, k := range r.groupBy {
		_, _ = d.Write([]byte{0})
		if v, ok := attrs.Get(k); ok {
			_, _ = d.WriteString(k)
			_, _ = d.Write([]byte{1})
			_, _ = d.WriteString(v.AsString())
		}
	}
	key := d.Sum64()
	g, ok := p.groups[key]
	if !ok {
		g = &group{rule: r, attrs: pcommon.NewMap()}
		for _, k := range r.groupBy {
			if v, ok := attrs.Get(k); ok {
				v.CopyTo(g.attrs.PutEmpty(k))
			}
		}
		p.groups[key] = g
	}
	return g
}

// emit appends one point per touched group to the resource, in the processor's own scope.
func (p *ratioProcessor) emit(rm pmetric.ResourceMetrics) {
	var out pmetric.MetricSlice
	scoped := false
	for _, g := range p.touched {
		value, ok := p.value(g)
		if !ok {
			continue
		}
		r := g.rule
		if !scoped {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(metadata.ScopeName)
			out = sm.Metrics()
			scoped = true
		}
		if p.outGen[r.index] != p.gen {
			m := out.AppendEmpty()
			m.SetName(r.name)
			m.SetUnit(r.unit)
			m.SetDescription(r.description)
			m.SetEmptyGauge()
			p.outMetric[r.index], p.outGen[r.index] = m, p.gen
		}
		m := p.outMetric[r.index]
		dp := m.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(g.touchedT))
		dp.SetStartTimestamp(pcommon.Timestamp(g.touchedT - r.window))
		dp.SetDoubleValue(value)
		g.attrs.CopyTo(dp.Attributes())
	}
}

// value is the rule's output for a group at its touched time; ok is false when there is none (the
// denominator did not grow, or a counter rule's numerator outgrew its denominator).
func (p *ratioProcessor) value(g *group) (float64, bool) {
	r, t := g.rule, g.touchedT
	if r.hist != nil {
		var count, atMost float64
		any := false
		for _, s := range g.den {
			if inc, incW, ok := s.Increase(t, r.window); ok {
				count += inc
				atMost += incW
				any = true
			}
		}
		if !any || count <= 0 {
			return 0, false
		}
		fraction := min(max(atMost/count, 0), 1) // interpolation rounding only
		if r.above {
			return 1 - fraction, true
		}
		return fraction, true
	}
	num, _ := sumIncrease(g.num, t, r.window)
	den, ok := sumIncrease(g.den, t, r.window)
	if !ok || den <= 0 {
		return 0, false
	}
	if r.unit == "1" && num > den {
		if !r.misconfigured {
			r.misconfigured = true
			p.logger.Warn("Ratio rule's numerator grew faster than its denominator; no point emitted. The numerator must select a subset of the denominator's points (or give the rule a unit other than 1 for a plain quotient)",
				zap.String("rule", r.name), zap.Float64("numerator_increase", num), zap.Float64("denominator_increase", den))
		}
		return 0, false
	}
	return num / den, true
}

func (r *rule) describe() string {
	w := time.Duration(r.window).String()
	if r.hist != nil {
		op := "at most"
		if r.above {
			op = "above"
		}
		return "Fraction of " + r.hist.metric + " observations " + op + " " + strconv.FormatFloat(r.threshold, 'g', -1, 64) + " over " + w
	}
	return "Windowed ratio " + r.num.metric + " / " + r.den.metric + " over " + w
}

func sumIncrease(series []*tracked, t, w int64) (float64, bool) {
	total, any := 0.0, false
	for _, s := range series {
		if inc, _, ok := s.Increase(t, w); ok {
			total += inc
			any = true
		}
	}
	return total, any
}
