package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"context"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatautil"
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
	name    string
	window  int64 // nanoseconds
	num     selector
	den     selector
	groupBy []string
	// misconfigured is set once the numerator was seen growing faster than the denominator.
	misconfigured bool
}

type hashKey = [16]byte

type tracked struct {
	window.Series
}

// group is one output stream of one rule: a resource and the values of the rule's group_by attributes.
type group struct {
	rule  *rule
	attrs pcommon.Map
	num   map[hashKey]*tracked
	den   map[hashKey]*tracked
}

type ratioProcessor struct {
	logger  *zap.Logger
	rules   []*rule
	byName  map[string][]*rule
	keep    int64 // the longest window: how much history a series keeps
	maxSer  int
	staleNs int64

	mu     sync.Mutex
	series map[hashKey]*tracked
	groups map[hashKey]*group
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
		series:  map[hashKey]*tracked{},
		groups:  map[hashKey]*group{},
	}
	for i := range rules {
		rc := &rules[i]
		w := cfg.Window
		if rc.Window > 0 {
			w = rc.Window
		}
		r := &rule{
			name:    rc.Name,
			window:  w.Nanoseconds(),
			num:     toSelector(rc.Numerator),
			den:     toSelector(rc.Denominator),
			groupBy: rc.GroupBy,
		}
		p.rules = append(p.rules, r)
		p.byName[r.num.metric] = appendOnce(p.byName[r.num.metric], r)
		p.byName[r.den.metric] = appendOnce(p.byName[r.den.metric], r)
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

func toSelector(s *Selector) selector {
	out := selector{metric: s.Metric}
	for k, v := range s.Match {
		out.match = append(out.match, kv{k, v})
	}
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
			delete(p.series, k)
		}
	}
	for gk, g := range p.groups {
		for k := range g.num {
			if _, ok := p.series[k]; !ok {
				delete(g.num, k)
			}
		}
		for k := range g.den {
			if _, ok := p.series[k]; !ok {
				delete(g.den, k)
			}
		}
		if len(g.num) == 0 && len(g.den) == 0 {
			delete(p.groups, gk)
		}
	}
}

// touch is a group that received points in the current resource, and the newest time among them.
type touch struct {
	g *group
	t int64
}

func (p *ratioProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	nowNs := time.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		touched := p.update(rm, nowNs)
		if len(touched) > 0 {
			p.emit(rm, touched)
		}
	}
	return md, nil
}

// update records every point of the rules' metrics in one resource and returns the groups touched.
func (p *ratioProcessor) update(rm pmetric.ResourceMetrics, nowNs int64) []touch {
	var touched []touch
	index := map[*group]int{}
	var resHash hashKey
	resHashed := false
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			rules := p.byName[m.Name()]
			if len(rules) == 0 || m.Type() != pmetric.MetricTypeSum {
				continue
			}
			if !resHashed {
				resHash = pdatautil.MapHash(rm.Resource().Attributes())
				resHashed = true
			}
			delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
			dps := m.Sum().DataPoints()
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				var s *tracked
				for _, r := range rules {
					inNum := r.num.matches(m.Name(), dp.Attributes())
					inDen := r.den.matches(m.Name(), dp.Attributes())
					if !inNum && !inDen {
						continue
					}
					if s == nil {
						s = p.record(resHash, m.Name(), dp, delta, nowNs)
						if s == nil {
							break
						}
					}
					g := p.group(r, resHash, dp.Attributes())
					key := seriesKey(resHash, m.Name(), dp.Attributes())
					if inNum {
						g.num[key] = s
					}
					if inDen {
						g.den[key] = s
					}
					t := int64(dp.Timestamp())
					if idx, ok := index[g]; ok {
						touched[idx].t = max(touched[idx].t, t)
					} else {
						index[g] = len(touched)
						touched = append(touched, touch{g: g, t: t})
					}
				}
			}
		}
	}
	return touched
}

func seriesKey(res hashKey, metric string, attrs pcommon.Map) hashKey {
	return pdatautil.Hash(pdatautil.WithString(string(res[:])), pdatautil.WithString(metric), pdatautil.WithMap(attrs))
}

// record adds one point to its series' window, tracking the series if new and the cap allows.
func (p *ratioProcessor) record(res hashKey, metric string, dp pmetric.NumberDataPoint, delta bool, nowNs int64) *tracked {
	key := seriesKey(res, metric, dp.Attributes())
	s, ok := p.series[key]
	if !ok {
		if len(p.series) >= p.maxSer {
			p.untracked++
			if !p.capLogged {
				p.capLogged = true
				p.logger.Warn("Ratio processor reached max_series; new series are not tracked until old ones go stale (raise max_series, or narrow the rules)",
					zap.Int("max_series", p.maxSer), zap.String("metric", metric))
			}
			return nil
		}
		s = &tracked{}
		p.series[key] = s
	}
	v := dp.DoubleValue()
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		v = float64(dp.IntValue())
	}
	if delta {
		s.AddDelta(int64(dp.Timestamp()), int64(dp.StartTimestamp()), v, p.keep)
	} else {
		s.AddCumulative(int64(dp.Timestamp()), int64(dp.StartTimestamp()), v, p.keep)
	}
	s.LastSeen = nowNs
	return s
}

func (p *ratioProcessor) group(r *rule, res hashKey, attrs pcommon.Map) *group {
	opts := make([]pdatautil.HashOption, 0, 2+2*len(r.groupBy))
	opts = append(opts, pdatautil.WithString(string(res[:])), pdatautil.WithString(r.name))
	for _, k := range r.groupBy {
		if v, ok := attrs.Get(k); ok {
			opts = append(opts, pdatautil.WithString(k), pdatautil.WithString(v.AsString()))
		}
	}
	key := pdatautil.Hash(opts...)
	g, ok := p.groups[key]
	if !ok {
		g = &group{rule: r, attrs: pcommon.NewMap(), num: map[hashKey]*tracked{}, den: map[hashKey]*tracked{}}
		for _, k := range r.groupBy {
			if v, ok := attrs.Get(k); ok {
				v.CopyTo(g.attrs.PutEmpty(k))
			}
		}
		p.groups[key] = g
	}
	return g
}

// emit appends one ratio point per touched group to the resource, in the processor's own scope.
func (p *ratioProcessor) emit(rm pmetric.ResourceMetrics, touched []touch) {
	var out pmetric.MetricSlice
	metrics := map[string]pmetric.Metric{}
	for _, tc := range touched {
		r := tc.g.rule
		num, _ := sumIncrease(tc.g.num, tc.t, r.window)
		den, ok := sumIncrease(tc.g.den, tc.t, r.window)
		if !ok || den <= 0 {
			continue // the denominator did not grow: no ratio to report
		}
		if num > den {
			if !r.misconfigured {
				r.misconfigured = true
				p.logger.Warn("Ratio rule's numerator grew faster than its denominator; no point emitted. The numerator must select a subset of the denominator's points",
					zap.String("rule", r.name), zap.Float64("numerator_increase", num), zap.Float64("denominator_increase", den))
			}
			continue
		}
		if out == (pmetric.MetricSlice{}) {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(metadata.ScopeName)
			out = sm.Metrics()
		}
		m, ok := metrics[r.name]
		if !ok {
			m = out.AppendEmpty()
			m.SetName(r.name)
			m.SetUnit("1")
			m.SetDescription("Windowed ratio " + r.num.metric + " / " + r.den.metric + " over " + time.Duration(r.window).String())
			m.SetEmptyGauge()
			metrics[r.name] = m
		}
		dp := m.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(tc.t))
		dp.SetStartTimestamp(pcommon.Timestamp(tc.t - r.window))
		dp.SetDoubleValue(num / den)
		tc.g.attrs.CopyTo(dp.Attributes())
	}
}

func sumIncrease(series map[hashKey]*tracked, t, w int64) (float64, bool) {
	total, any := 0.0, false
	for _, s := range series {
		if inc, ok := s.Increase(t, w); ok {
			total += inc
			any = true
		}
	}
	return total, any
}
