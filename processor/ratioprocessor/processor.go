package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/processor/ratioprocessor/internal/metadata"
	"github.com/otel-inference/collector/processor/ratioprocessor/internal/tracking"
)

// ratioProcessor walks the batches: it feeds the points of the rules' metrics to the tracker and
// appends, to each resource, one point per output group its points touched.
type ratioProcessor struct {
	logger *zap.Logger
	compiledRules
	maxSeries int
	staleNs   int64

	mu    sync.Mutex
	state *tracking.Tracker
	// outMetric and outGen: the output metric of each rule in the resource being processed (valid
	// when outGen is that resource's batch number, gen).
	gen       uint64
	outMetric []pmetric.Metric
	outGen    []uint64
	// ended are the groups of the resource being processed whose last series a staleness marker
	// ended: their output is marked stale too.
	ended []*tracking.Group

	stop chan struct{}
	done chan struct{}
}

func newRatioProcessor(cfg *Config, logger *zap.Logger) *ratioProcessor {
	cr := compileRules(cfg)
	return &ratioProcessor{
		logger:        logger,
		compiledRules: cr,
		maxSeries:     cfg.MaxSeries,
		staleNs:       cfg.MaxStaleness.Nanoseconds(),
		state:         tracking.New(len(cr.rules), cfg.MaxSeries),
		outMetric:     make([]pmetric.Metric, len(cr.rules)),
		outGen:        make([]uint64, len(cr.rules)),
	}
}

func (p *ratioProcessor) start(context.Context, component.Host) error {
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	interval := min(max(time.Duration(p.staleNs/2), time.Second), time.Minute)
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
	p.state.Sweep(nowNs, p.staleNs)
}

func (p *ratioProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	nowNs := time.Now().UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		p.gen++
		p.state.Begin()
		p.ended = p.ended[:0]
		p.update(rm, nowNs)
		if len(p.state.Touched()) > 0 || len(p.ended) > 0 {
			p.emit(rm)
		}
	}
	return md, nil
}

// update records every point of the rules' metrics in one resource.
func (p *ratioProcessor) update(rm pmetric.ResourceMetrics, nowNs int64) {
	st := tracking.Stream{}
	resHashed := false
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		sm := sms.At(i)
		scopeHashed := false
		ms := sm.Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			rules := p.byName[m.Name()]
			if len(rules) == 0 {
				continue
			}
			if !resHashed {
				st.Resource, resHashed = tracking.ResourceHash(rm.Resource()), true
			}
			if !scopeHashed {
				st.Scope, scopeHashed = tracking.ScopeHash(sm.Scope()), true
			}
			st.Name, st.Unit, st.Type = m.Name(), m.Unit(), m.Type()
			seed := st.Seed()
			switch m.Type() {
			case pmetric.MetricTypeSum:
				p.updateSum(st.Name, st.Resource, seed, m.Sum(), rules, nowNs)
			case pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram:
				p.updateHistogram(st.Name, st.Resource, seed, m, rules, nowNs)
			}
		}
	}
}

func (p *ratioProcessor) updateSum(name string, resHash, seed uint64, sum pmetric.Sum, rules []*rule, nowNs int64) {
	delta := sum.AggregationTemporality() == pmetric.AggregationTemporalityDelta
	dps := sum.DataPoints()
points:
	for k := 0; k < dps.Len(); k++ {
		dp := dps.At(k)
		attrs := dp.Attributes()
		if dp.Flags().NoRecordedValue() {
			// A staleness marker (its server is gone): no value and no reset, the end of the series.
			p.end(tracking.Key(seed, attrs, 0), int64(dp.Timestamp()))
			continue
		}
		var s *tracking.Series
		for _, r := range rules {
			if r.hist != nil {
				continue
			}
			inNum, inDen := r.num.matches(name, attrs), r.den.matches(name, attrs)
			if !inNum && !inDen {
				continue
			}
			if s == nil {
				if s = p.series(tracking.Key(seed, attrs, 0), name); s == nil {
					continue points
				}
				add(s, delta, int64(dp.Timestamp()), int64(dp.StartTimestamp()), numberValue(dp), 0, p.keep)
				s.LastSeen = nowNs
			}
			p.link(s, r, resHash, attrs, inNum, inDen, int64(dp.Timestamp()))
		}
	}
}

// updateHistogram records each histogram point for each histogram rule as two paired counters: its
// count (V) and its observations at most the rule's threshold (W). A series is tracked per rule (each
// rule has its own threshold); a change of bucket layout restarts its window.
func (p *ratioProcessor) updateHistogram(name string, resHash, seed uint64, m pmetric.Metric, rules []*rule, nowNs int64) {
	var n int
	var temporality pmetric.AggregationTemporality
	if m.Type() == pmetric.MetricTypeHistogram {
		n, temporality = m.Histogram().DataPoints().Len(), m.Histogram().AggregationTemporality()
	} else {
		n, temporality = m.ExponentialHistogram().DataPoints().Len(), m.ExponentialHistogram().AggregationTemporality()
	}
	delta := temporality == pmetric.AggregationTemporalityDelta
	for k := 0; k < n; k++ {
		var pt histogramPoint
		if m.Type() == pmetric.MetricTypeHistogram {
			pt = histogramPoint{explicit: m.Histogram().DataPoints().At(k), isExplicit: true}
		} else {
			pt = histogramPoint{exponential: m.ExponentialHistogram().DataPoints().At(k)}
		}
		attrs := pt.attrs()
		t, start := pt.times()
		for _, r := range rules {
			if r.hist == nil || !r.hist.matches(name, attrs) {
				continue
			}
			if pt.stale() {
				p.end(tracking.Key(seed, attrs, uint64(r.index)+1), t)
				continue
			}
			s := p.series(tracking.Key(seed, attrs, uint64(r.index)+1), name)
			if s == nil {
				continue
			}
			if layout := pt.layout(); layout != s.Layout {
				s.Clear()
				s.Layout = layout
			}
			add(s, delta, t, start, pt.count(), pt.countAtMost(r.threshold), p.keep)
			s.LastSeen = nowNs
			p.link(s, r, resHash, attrs, false, true, t)
		}
	}
}

// end forgets the series of key, which a staleness marker at t ended; the groups it leaves empty
// end too (their output is marked stale in this resource).
func (p *ratioProcessor) end(key uint64, t int64) {
	for _, g := range p.state.Forget(key) {
		g.TouchedT = t
		p.ended = append(p.ended, g)
	}
}

func add(s *tracking.Series, delta bool, t, start int64, v, w float64, keep int64) {
	if delta {
		s.AddDelta(t, start, v, w, keep)
	} else {
		s.AddCumulative(t, start, v, w, keep)
	}
}

// link makes s feed the group of rule r it belongs to (found or created once) and touches the group.
func (p *ratioProcessor) link(s *tracking.Series, r *rule, resHash uint64, attrs pcommon.Map, num, den bool, t int64) {
	g := s.Groups[r.index]
	if g == nil {
		g = p.state.Group(tracking.GroupKey(resHash, r.name, r.groupBy, attrs), r.index, func() pcommon.Map {
			m := pcommon.NewMap()
			for _, k := range r.groupBy {
				if v, ok := attrs.Get(k); ok {
					v.CopyTo(m.PutEmpty(k))
				}
			}
			return m
		})
		p.state.Link(s, g, num, den)
	}
	p.state.Touch(g, t)
}

// series is the tracker's series of key; the first refusal by max_series is logged.
func (p *ratioProcessor) series(key uint64, metric string) *tracking.Series {
	s, first := p.state.Series(key)
	if first {
		p.logger.Warn("Ratio processor reached max_series; new series are not tracked until old ones go stale (raise max_series, or narrow the rules)",
			zap.Int("max_series", p.maxSeries), zap.String("metric", metric))
	}
	return s
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// emit appends one point per touched group to the resource, in the processor's own scope, and a
// staleness marker per ended group.
func (p *ratioProcessor) emit(rm pmetric.ResourceMetrics) {
	var out pmetric.MetricSlice
	scoped := false
	point := func(r *rule, g *tracking.Group, alone bool) pmetric.NumberDataPoint {
		if !scoped {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(metadata.ScopeName)
			out = sm.Metrics()
			scoped = true
		}
		if p.outGen[r.index] != p.gen || alone {
			m := out.AppendEmpty()
			m.SetName(r.name)
			m.SetUnit(r.unit)
			m.SetDescription(r.description)
			m.SetEmptyGauge()
			p.outMetric[r.index], p.outGen[r.index] = m, p.gen
		}
		dp := p.outMetric[r.index].Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(g.TouchedT))
		dp.SetStartTimestamp(pcommon.Timestamp(g.TouchedT - r.window))
		g.Attrs.CopyTo(dp.Attributes())
		return dp
	}
	for _, g := range p.state.Touched() {
		r := p.rules[g.Rule]
		if value, ok := r.value(g, p.logger); ok {
			point(r, g, false).SetDoubleValue(value)
		}
	}
	// Each marker in a metric of its own: contrib's Prometheus exporter drops only the first stale
	// point of a metric.
	for _, g := range p.ended {
		point(p.rules[g.Rule], g, true).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
}
