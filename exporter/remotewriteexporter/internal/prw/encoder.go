// Package prw turns pdata metrics into Prometheus remote-write 1.0 requests, naming series as
// contrib's prometheus remote-write translator does, at a fraction of its cost: the label set of
// each stream is built, sorted and encoded once, kept while the stream lives, and each push only
// appends timestamps and values to it.
package prw // import "github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Settings are the translator's naming options.
type Settings struct {
	Namespace         string
	ExternalLabels    map[string]string
	DisableTargetInfo bool
	DisableScopeInfo  bool
	AddMetricSuffixes bool
	// ResourceToTelemetry makes every resource attribute a label of each of its points (over a point
	// attribute of the same key), as contrib's resource_to_telemetry_conversion does, without copying
	// them into the points; ExcludeServiceAttributes leaves service.name, service.namespace and
	// service.instance.id out (they are job and instance already).
	ResourceToTelemetry      bool
	ExcludeServiceAttributes bool
	// StaleAfter: a stream not seen for this long is forgotten (default 5 minutes, Prometheus's
	// look-back); if it comes back its labels are built again.
	StaleAfter time.Duration
}

// staleNaN is Prometheus's staleness marker.
const staleNaN uint64 = 0x7ff0000000000002

type sample struct {
	t int64
	v float64
}

// series is one output time series: its labels, as references to encoded label pairs that all
// series share (a resource's job and instance, the scope, the metric name are stored once), its
// metadata, and what the current requests hold for it.
type series struct {
	labels  []uint32 // pair IDs, in label order
	next    *series  // the next series whose labels hash the same
	meta    *meta
	samples []sample
	more    *seriesMore
	pending bool
}

// seriesMore is what few series have: exemplars and native histograms.
type seriesMore struct {
	exemplars []exemplar
	hists     [][]byte // encoded Histogram messages (the same in 1.0 and 2.0)
}

func (s *series) extra() *seriesMore {
	if s.more == nil {
		s.more = &seriesMore{}
	}
	return s.more
}

// pairs interns encoded label pairs (1.0 Label fields); a pair's 2.0 symbols are found once.
type pairs struct {
	enc  []string
	ids  map[string]uint32
	syms [][2]uint32 // 2.0 global symbols of the name and value, plus one (0: not found yet)
}

func (p *pairs) intern(b []byte) uint32 {
	if p.ids == nil {
		p.ids = map[string]uint32{}
	}
	if id, ok := p.ids[string(b)]; ok {
		return id
	}
	id := uint32(len(p.enc)) //nolint:gosec // G115: fewer than 2^32 distinct label pairs
	s := string(b)
	p.ids[s] = id
	p.enc = append(p.enc, s)
	p.syms = append(p.syms, [2]uint32{})
	return id
}

// appendLabels writes the series' encoded labels (the 1.0 TimeSeries' label fields).
func (e *Encoder) appendLabels(b []byte, s *series) []byte {
	for _, id := range s.labels {
		b = append(b, e.pairs.enc[id]...)
	}
	return b
}

// meta is a series' 2.0 metadata: its type, help and unit.
type meta struct {
	typ        byte
	help, unit string
	syms       [2]uint32 // 2.0 global symbols of help and unit, plus one (0: not found yet)
}

type exemplar struct {
	ls []label
	v  float64
	t  int64
}

// entry is what one point stream (resource identity, scope, metric, point attributes) maps to.
type entry struct {
	seen   int64
	one    *series // gauge, counter, exponential histogram, target_info
	err    error
	*group // histogram and summary
}

// group is a histogram's or summary's series.
type group struct {
	base    []label // labels before __name__, le and quantile
	sum     *series
	count   *series
	bounds  []float64 // histogram bounds or summary quantiles that buckets was built for
	buckets []*series // histogram: one per bound, then +Inf; summary: one per quantile
}

// scopeID is the short ID that stands for a resource identity and scope in stream keys.
type scopeID struct {
	id   uint32
	seen int64
}

type nameKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

type nameResult struct {
	name, unit string
	err        error
	meta       *meta // the metadata its series were last given
}

// Encoder is not safe for concurrent use: the exporter's one sender owns it.
type Encoder struct {
	set        Settings
	metricName otlptranslator.MetricNamer
	lb         labelBuilder
	infoLB     labelBuilder

	unitName  otlptranslator.UnitNamer
	names     map[nameKey]nameResult
	sym       symbols
	entries   map[string]*entry
	scopes    map[string]*scopeID
	nextScope uint32
	byLabels  map[uint64]*series // by the hash of their encoded labels; chained through next
	nseries   int
	pairs     pairs
	infoMeta  meta
	pending   []*series

	meta           *meta // of the metric being added
	key, lbuf, out []byte
	refs           []uint32
	cbuf           []byte
	body, sbuf     []byte
	now            func() time.Time
	clock          int64
	lastSweep      int64
	errs           errList
}

// New returns an encoder with the given naming.
func New(set Settings) *Encoder {
	if set.StaleAfter <= 0 {
		set.StaleAfter = 5 * time.Minute
	}
	dropSanitization := gateEnabled(permissiveSanitizationGate)
	e := &Encoder{
		set:        set,
		metricName: otlptranslator.MetricNamer{WithMetricSuffixes: set.AddMetricSuffixes, Namespace: set.Namespace},
		names:      map[nameKey]nameResult{},
		entries:    map[string]*entry{},
		scopes:     map[string]*scopeID{},
		byLabels:   map[uint64]*series{},
		now:        time.Now,
		infoMeta:   meta{typ: typeGauge, help: "Target metadata"},
	}
	e.lb = labelBuilder{
		namer:    otlptranslator.LabelNamer{UnderscoreLabelSanitization: !dropSanitization}, //nolint:staticcheck // SA1019: contrib's translator still sets it, and the names must match its
		external: set.ExternalLabels, scopeOff: set.DisableScopeInfo, m: map[string]string{},
		resToPoints: set.ResourceToTelemetry, keepService: !set.ExcludeServiceAttributes,
	}
	// target_info's labels are named with the translator's other namer.
	e.infoLB = labelBuilder{
		namer:    otlptranslator.LabelNamer{PreserveMultipleUnderscores: !dropSanitization},
		external: set.ExternalLabels, scopeOff: true, m: map[string]string{},
	}
	return e
}

// Series is how many series the encoder keeps encoded labels for.
func (e *Encoder) Series() int { return e.nseries }

// Add translates md into the pending requests. What cannot be translated (delta temporality, a
// metric without points, a name that cannot be made valid) is left out and named in the error; the
// rest is added.
func (e *Encoder) Add(md pmetric.Metrics) error {
	e.clock = e.now().UnixNano()
	e.errs.reset()
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		e.key = appendResourceKey(e.key[:0], res)
		if e.set.ResourceToTelemetry {
			e.key = appendAttrs(e.key, res) // every resource attribute is a label of the stream
			e.lb.toPoints = res
		}
		resLen := len(e.key)
		var idBuf [binary.MaxVarintLen32]byte
		var newest pcommon.Timestamp
		sms := rm.ScopeMetrics()
		for j := range sms.Len() {
			sm := sms.At(j)
			scope := sm.Scope()
			e.key = appendScopeKey(e.key[:resLen], scope, e.set.DisableScopeInfo)
			// Stream keys start with a short ID for the resource identity and scope, not their text.
			sc := e.scopes[string(e.key)]
			if sc == nil {
				sc = &scopeID{id: e.nextScope}
				e.nextScope++
				e.scopes[string(e.key)] = sc
			}
			sc.seen = e.clock
			idLen := binary.PutUvarint(idBuf[:], uint64(sc.id))
			e.key = append(e.key[:0], idBuf[:idLen]...)
			scopeLen := len(e.key)
			ms := sm.Metrics()
			for k := range ms.Len() {
				m := ms.At(k)
				t, n := newestIn(m)
				newest = max(newest, t)
				e.addMetric(m, n, res, &scope, scopeLen)
			}
		}
		if !e.set.DisableTargetInfo && newest != 0 {
			e.addTargetInfo(res, newest)
		}
	}
	return e.errs.err()
}

func (e *Encoder) addMetric(m pmetric.Metric, points int, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) {
	if !cumulative(m) {
		e.errs.add(fmt.Errorf("invalid temporality and type combination for metric %q", m.Name()))
		return
	}
	name, err := e.promName(m)
	if err != nil {
		e.errs.add(err)
		return
	}
	if points == 0 && m.Type() != pmetric.MetricTypeEmpty {
		e.errs.add(fmt.Errorf("empty data points. %s is dropped", m.Name()))
		return
	}
	//exhaustive:enforce
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		e.addNumbers(m.Gauge().DataPoints(), false, name, res, scope, scopeLen)
	case pmetric.MetricTypeSum:
		e.addNumbers(m.Sum().DataPoints(), m.Sum().IsMonotonic(), name, res, scope, scopeLen)
	case pmetric.MetricTypeHistogram:
		e.addHistograms(m.Histogram().DataPoints(), name, res, scope, scopeLen)
	case pmetric.MetricTypeExponentialHistogram:
		e.addExponential(m.ExponentialHistogram().DataPoints(), name, res, scope, scopeLen)
	case pmetric.MetricTypeSummary:
		e.addSummaries(m.Summary().DataPoints(), name, res, scope, scopeLen)
	case pmetric.MetricTypeEmpty:
		e.errs.add(errors.New("unsupported metric type"))
	}
}

func cumulative(m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSummary:
		return true
	case pmetric.MetricTypeSum:
		return m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeHistogram:
		return m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	}
	return false
}

// promName is the metric's Prometheus name, built once per name, unit and type.
func (e *Encoder) promName(m pmetric.Metric) (string, error) {
	k := nameKey{name: m.Name(), unit: m.Unit(), typ: otlptranslator.MetricTypeUnknown}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		k.typ = otlptranslator.MetricTypeGauge
	case pmetric.MetricTypeSum:
		k.typ = otlptranslator.MetricTypeNonMonotonicCounter
		if m.Sum().IsMonotonic() {
			k.typ = otlptranslator.MetricTypeMonotonicCounter
		}
	case pmetric.MetricTypeHistogram:
		k.typ = otlptranslator.MetricTypeHistogram
	case pmetric.MetricTypeExponentialHistogram:
		k.typ = otlptranslator.MetricTypeExponentialHistogram
	case pmetric.MetricTypeSummary:
		k.typ = otlptranslator.MetricTypeSummary
	}
	r, ok := e.names[k]
	if !ok {
		r.name, r.err = e.metricName.Build(otlptranslator.Metric{Name: k.name, Unit: k.unit, Type: k.typ})
		r.unit = e.unitName.Build(k.unit)
		e.names[k] = r
	}
	if typ, help := metricType(m), m.Description(); r.meta == nil || r.meta.typ != typ || r.meta.help != help {
		r.meta = &meta{typ: typ, help: help, unit: r.unit}
		e.names[k] = r
	}
	e.meta = r.meta
	return r.name, r.err
}

// Remote write 2.0's metric types (io.prometheus.write.v2.Metadata.MetricType).
const (
	typeUnspecified byte = iota
	typeCounter
	typeGauge
	typeHistogram
	typeGaugeHistogram
	typeSummary
	typeInfo
	typeStateset
)

// metricType is the 2.0 type of m; a gauge or sum whose "prometheus.type" metadata (set by
// Prometheus receivers) says unknown, info or stateset keeps that.
func metricType(m pmetric.Metric) byte {
	promType := ""
	if v, ok := m.Metadata().Get("prometheus.type"); ok {
		promType = v.Str()
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		if promType == "unknown" {
			return typeUnspecified
		}
		return typeGauge
	case pmetric.MetricTypeSum:
		switch {
		case m.Sum().IsMonotonic():
			return typeCounter
		case promType == "info":
			return typeInfo
		case promType == "stateset":
			return typeStateset
		}
		return typeGauge
	case pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram:
		return typeHistogram
	case pmetric.MetricTypeSummary:
		return typeSummary
	case pmetric.MetricTypeEmpty:
	}
	return typeUnspecified
}

// Kinds of stream, part of the stream key.
const (
	kindNumber byte = iota + 1
	kindHistogram
	kindExponential
	kindSummary
	kindTargetInfo
)

// lookup finds the entry of the point stream whose key is e.key[:scopeLen] + kind + name + attrs;
// fresh is true when it was just made (its series are still to be built).
func (e *Encoder) lookup(kind byte, name string, attrs pcommon.Map, scopeLen int) (*entry, bool) {
	e.key = append(e.key[:scopeLen], kind)
	e.key = appendStr(e.key, name)
	e.key = appendAttrs(e.key, attrs)
	k := e.key
	if ent, ok := e.entries[string(k)]; ok {
		ent.seen = e.clock
		return ent, false
	}
	ent := &entry{seen: e.clock}
	e.entries[string(k)] = ent
	return ent, true
}

// seriesFor returns the one series with these labels (points of different streams can map to the
// same labels: they share it, as they do in the translator).
func (e *Encoder) seriesFor(ls []label) *series {
	b := e.lbuf[:0]
	for _, l := range ls {
		b = appendLabel(b, l.name, l.value)
	}
	e.lbuf = b
	h := xxhash.Sum64(b)
	if s := e.find(h, b); s != nil {
		return s
	}
	s := &series{labels: make([]uint32, 0, len(ls)), meta: e.meta}
	var one []byte
	for _, l := range ls {
		one = appendLabel(one[:0], l.name, l.value)
		s.labels = append(s.labels, e.pairs.intern(one))
	}
	return e.insert(h, s)
}

// seriesWith is seriesFor of ent's base labels with the given pairs added.
func (e *Encoder) seriesWith(ent *entry, pairs ...string) *series {
	return e.seriesFor(withExtra(ent.base, pairs...))
}

func (e *Encoder) find(h uint64, full []byte) *series {
	for c := e.byLabels[h]; c != nil; c = c.next {
		e.cbuf = e.appendLabels(e.cbuf[:0], c)
		if bytes.Equal(e.cbuf, full) {
			return c
		}
	}
	return nil
}

func (e *Encoder) insert(h uint64, s *series) *series {
	s.next = e.byLabels[h]
	e.byLabels[h] = s
	e.nseries++
	return s
}

func (e *Encoder) add(s *series, t pcommon.Timestamp, v float64, stale bool) {
	if stale {
		v = math.Float64frombits(staleNaN)
	}
	e.markPending(s)
	s.samples = append(s.samples, sample{t: ms(t), v: v})
}

// markPending puts s in the next requests (once).
func (e *Encoder) markPending(s *series) {
	if !s.pending {
		s.pending = true
		e.pending = append(e.pending, s)
	}
}

// ms converts a point's time to Prometheus milliseconds.
func ms(t pcommon.Timestamp) int64 { return int64(t) / int64(time.Millisecond) } //nolint:gosec // G115: nanoseconds since 1970 fit int64 until 2262

// single returns the one series of a gauge's, counter's or exponential histogram's point stream (nil,
// with its error said, when its labels cannot be made).
func (e *Encoder) single(kind byte, name string, attrs, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) *series {
	ent, fresh := e.lookup(kind, name, attrs, scopeLen)
	if fresh {
		ls, err := e.lb.build(res, attrs, scope, nil, nameLabel, name)
		if ent.err = err; err == nil {
			ent.one = e.seriesFor(ls)
		}
	}
	if ent.err != nil {
		e.errs.add(ent.err)
		return nil
	}
	return ent.one
}

func (e *Encoder) addNumbers(pts pmetric.NumberDataPointSlice, counter bool, name string, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) {
	for i := range pts.Len() {
		pt := pts.At(i)
		s := e.single(kindNumber, name, pt.Attributes(), res, scope, scopeLen)
		if s == nil {
			continue
		}
		v := pt.DoubleValue()
		if pt.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(pt.IntValue())
		}
		e.add(s, pt.Timestamp(), v, pt.Flags().NoRecordedValue())
		if counter && pt.Exemplars().Len() > 0 {
			x := s.extra()
			x.exemplars = appendExemplars(x.exemplars, pt.Exemplars(), -1)
		}
	}
}

// grouped returns the entry of a histogram's or summary's point stream, with its labels before their
// suffixes (nil, with its error said, when they cannot be made).
func (e *Encoder) grouped(kind byte, name string, attrs, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) *entry {
	ent, fresh := e.lookup(kind, name, attrs, scopeLen)
	if fresh {
		ent.group = &group{}
		ent.base, ent.err = e.lb.build(res, attrs, scope, nil)
	}
	if ent.err != nil {
		e.errs.add(ent.err)
		return nil
	}
	return ent
}

// sumCountPoint is a histogram's or a summary's point.
type sumCountPoint interface {
	Attributes() pcommon.Map
	Flags() pmetric.DataPointFlags
	Timestamp() pcommon.Timestamp
	Sum() float64
	Count() uint64
}

// groupedPoint finds the stream of a histogram's or a summary's point (nil where it cannot be sent)
// and adds its _sum (where hasSum) and _count samples; stale is whether the point is a stale marker.
func groupedPoint[P sumCountPoint](e *Encoder, kind byte, pt P, hasSum bool, name string, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) (ent *entry, stale bool) {
	ent = e.grouped(kind, name, pt.Attributes(), res, scope, scopeLen)
	if ent == nil {
		return nil, false
	}
	stale = pt.Flags().NoRecordedValue()
	if hasSum {
		if ent.sum == nil {
			ent.sum = e.seriesWith(ent, nameLabel, name+"_sum")
		}
		e.add(ent.sum, pt.Timestamp(), pt.Sum(), stale)
	}
	if ent.count == nil {
		ent.count = e.seriesWith(ent, nameLabel, name+"_count")
	}
	e.add(ent.count, pt.Timestamp(), float64(pt.Count()), stale)
	return ent, stale
}

func (e *Encoder) addHistograms(pts pmetric.HistogramDataPointSlice, name string, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) {
	for i := range pts.Len() {
		pt := pts.At(i)
		ent, stale := groupedPoint(e, kindHistogram, pt, pt.HasSum(), name, res, scope, scopeLen)
		if ent == nil {
			continue
		}
		bounds, counts := pt.ExplicitBounds(), pt.BucketCounts()
		n := min(bounds.Len(), counts.Len())
		if !sameBounds(ent.bounds, bounds, n) || ent.buckets == nil {
			ent.bounds = ent.bounds[:0]
			for j := range n {
				ent.bounds = append(ent.bounds, bounds.At(j))
			}
			ent.buckets = ent.buckets[:0]
			for _, b := range ent.bounds {
				ent.buckets = append(ent.buckets, e.seriesWith(ent, "le", strconv.FormatFloat(b, 'f', -1, 64), nameLabel, name+"_bucket"))
			}
			ent.buckets = append(ent.buckets, e.seriesWith(ent, "le", "+Inf", nameLabel, name+"_bucket"))
		}
		var cum uint64
		for j := range n {
			cum += counts.At(j)
			e.add(ent.buckets[j], pt.Timestamp(), float64(cum), stale)
		}
		e.add(ent.buckets[n], pt.Timestamp(), float64(pt.Count()), stale)
		if pt.Exemplars().Len() > 0 {
			e.histogramExemplars(ent, pt.Exemplars())
		}
	}
}

func sameBounds(have []float64, bounds pcommon.Float64Slice, n int) bool {
	if len(have) != n {
		return false
	}
	for j, b := range have {
		if math.Float64bits(b) != math.Float64bits(bounds.At(j)) {
			return false
		}
	}
	return true
}

// histogramExemplars puts each exemplar on the lowest bucket whose bound is at or above its value.
func (e *Encoder) histogramExemplars(ent *entry, exs pmetric.ExemplarSlice) {
	for i := range exs.Len() {
		v := exemplarValue(exs.At(i))
		best := len(ent.buckets) - 1 // +Inf
		for j, b := range ent.bounds {
			if v <= b && (best == len(ent.buckets)-1 || b < ent.bounds[best]) {
				best = j
			}
		}
		if math.IsNaN(v) {
			continue // above no bound, not even +Inf
		}
		s := ent.buckets[best]
		x := s.extra()
		x.exemplars = appendExemplars(x.exemplars, exs, i)
	}
}

func (e *Encoder) addSummaries(pts pmetric.SummaryDataPointSlice, name string, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) {
	for i := range pts.Len() {
		pt := pts.At(i)
		ent, stale := groupedPoint(e, kindSummary, pt, true, name, res, scope, scopeLen)
		if ent == nil {
			continue
		}
		qs := pt.QuantileValues()
		same := len(ent.bounds) == qs.Len()
		for j := 0; same && j < qs.Len(); j++ {
			same = math.Float64bits(ent.bounds[j]) == math.Float64bits(qs.At(j).Quantile()) // a NaN quantile is the same NaN
		}
		if !same {
			ent.bounds, ent.buckets = ent.bounds[:0], ent.buckets[:0]
			for j := range qs.Len() {
				q := qs.At(j).Quantile()
				ent.bounds = append(ent.bounds, q)
				ent.buckets = append(ent.buckets, e.seriesWith(ent, "quantile", strconv.FormatFloat(q, 'f', -1, 64), nameLabel, name))
			}
		}
		for j := range qs.Len() {
			e.add(ent.buckets[j], pt.Timestamp(), qs.At(j).Value(), stale)
		}
	}
}

func (e *Encoder) addExponential(pts pmetric.ExponentialHistogramDataPointSlice, name string, res pcommon.Map, scope *pcommon.InstrumentationScope, scopeLen int) {
	for i := range pts.Len() {
		pt := pts.At(i)
		s := e.single(kindExponential, name, pt.Attributes(), res, scope, scopeLen)
		if s == nil {
			continue
		}
		h, err := nativeHistogram(pt)
		if err != nil {
			e.errs.add(err)
			continue
		}
		e.markPending(s)
		x := s.extra()
		x.hists = append(x.hists, h)
		if pt.Exemplars().Len() > 0 {
			x.exemplars = appendExemplars(x.exemplars, pt.Exemplars(), -1)
		}
	}
}

// addTargetInfo adds the resource's target_info sample (value 1, at its newest point's time) when
// it has attributes besides service.namespace, service.name and service.instance.id.
func (e *Encoder) addTargetInfo(res pcommon.Map, newest pcommon.Timestamp) {
	ident := []string{attrServiceNamespace, attrServiceName, attrServiceInstance}
	others := res.Len()
	for _, k := range ident {
		if _, ok := res.Get(k); ok {
			others--
		}
	}
	if others == 0 {
		return
	}
	name := otlptranslator.TargetInfoMetricName
	if e.set.Namespace != "" {
		name = e.set.Namespace + "_" + name
	}
	e.meta = &e.infoMeta
	ent, fresh := e.lookup(kindTargetInfo, name, res, 0)
	if fresh {
		ls, err := e.infoLB.build(res, res, nil, ident, nameLabel, name)
		if ent.err = err; err == nil && slices.ContainsFunc(ls, func(l label) bool { return l.name == jobLabel || l.name == instanceLabel }) {
			ent.one = e.seriesFor(ls)
		}
	}
	if ent.err != nil {
		e.errs.add(ent.err)
		return
	}
	if ent.one != nil { // without job or instance, target_info has nothing to join on
		e.add(ent.one, newest, 1, false)
	}
}

// newestIn is the latest point time in m; count is how many points it has.
func newestIn(m pmetric.Metric) (newest pcommon.Timestamp, count int) {
	//exhaustive:enforce
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return newestOf[pmetric.NumberDataPoint](m.Gauge().DataPoints())
	case pmetric.MetricTypeSum:
		return newestOf[pmetric.NumberDataPoint](m.Sum().DataPoints())
	case pmetric.MetricTypeHistogram:
		return newestOf[pmetric.HistogramDataPoint](m.Histogram().DataPoints())
	case pmetric.MetricTypeExponentialHistogram:
		return newestOf[pmetric.ExponentialHistogramDataPoint](m.ExponentialHistogram().DataPoints())
	case pmetric.MetricTypeSummary:
		return newestOf[pmetric.SummaryDataPoint](m.Summary().DataPoints())
	case pmetric.MetricTypeEmpty:
	}
	return 0, 0
}

func newestOf[P interface{ Timestamp() pcommon.Timestamp }, S interface {
	Len() int
	At(int) P
}](pts S) (pcommon.Timestamp, int) {
	var t pcommon.Timestamp
	for i := range pts.Len() {
		t = max(t, pts.At(i).Timestamp())
	}
	return t, pts.Len()
}

func exemplarValue(ex pmetric.Exemplar) float64 {
	if ex.ValueType() == pmetric.ExemplarValueTypeInt {
		return float64(ex.IntValue())
	}
	return ex.DoubleValue()
}

// maxExemplarRunes is OpenMetrics' limit on an exemplar's label characters: attributes that would
// pass it are left out (the trace and span IDs are kept).
const maxExemplarRunes = 128

// appendExemplars adds exemplar only (or all of exs when only < 0): the trace and span IDs, then
// the filtered attributes unless they would pass OpenMetrics' limit.
func appendExemplars(out []exemplar, exs pmetric.ExemplarSlice, only int) []exemplar {
	for i := range exs.Len() {
		if only >= 0 && i != only {
			continue
		}
		ex := exs.At(i)
		var ls []label
		runes := 0
		if id := ex.TraceID(); !id.IsEmpty() {
			v := hex.EncodeToString(id[:])
			runes += utf8.RuneCountInString(otlptranslator.ExemplarTraceIDKey) + len(v)
			ls = append(ls, label{otlptranslator.ExemplarTraceIDKey, v})
		}
		if id := ex.SpanID(); !id.IsEmpty() {
			v := hex.EncodeToString(id[:])
			runes += utf8.RuneCountInString(otlptranslator.ExemplarSpanIDKey) + len(v)
			ls = append(ls, label{otlptranslator.ExemplarSpanIDKey, v})
		}
		mark := len(ls)
		for k, v := range ex.FilteredAttributes().All() {
			s := v.AsString()
			runes += utf8.RuneCountInString(k) + utf8.RuneCountInString(s)
			ls = append(ls, label{k, s})
		}
		if runes > maxExemplarRunes {
			ls = ls[:mark]
		}
		out = append(out, exemplar{ls: ls, v: exemplarValue(ex), t: ms(ex.Timestamp())})
	}
	return out
}

// errList keeps the distinct errors of one Add (the same error for every point is said once).
type errList struct {
	errs []error
	seen map[string]bool
	more int
}

func (l *errList) reset() { l.errs, l.more = l.errs[:0], 0; clear(l.seen) }

func (l *errList) add(err error) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	msg := err.Error()
	if l.seen[msg] {
		return
	}
	l.seen[msg] = true
	if len(l.errs) >= 10 {
		l.more++
		return
	}
	l.errs = append(l.errs, err)
}

func (l *errList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	err := errors.Join(l.errs...)
	if l.more > 0 {
		err = fmt.Errorf("%w\n(and %d more)", err, l.more)
	}
	return err
}

// Stream keys. A key holds what a stream's labels are made of, each part length-prefixed: the
// resource's service name, namespace and instance ID, the scope, the kind and name, the point's
// attributes.

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendResourceKey(b []byte, res pcommon.Map) []byte {
	for _, k := range []string{attrServiceName, attrServiceNamespace, attrServiceInstance} {
		if v, ok := res.Get(k); ok {
			b = append(b, 1)
			b = appendValue(b, v)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

func appendScopeKey(b []byte, scope pcommon.InstrumentationScope, off bool) []byte {
	if off {
		return b
	}
	b = appendStr(b, scope.Name())
	b = appendStr(b, scope.Version())
	return appendAttrs(b, scope.Attributes())
}

func appendAttrs(b []byte, attrs pcommon.Map) []byte {
	b = binary.AppendUvarint(b, uint64(attrs.Len()))
	for k, v := range attrs.All() {
		b = appendStr(b, k)
		b = appendValue(b, v)
	}
	return b
}

func appendValue(b []byte, v pcommon.Value) []byte {
	b = append(b, byte(v.Type()))
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendStr(b, v.Str())
	case pcommon.ValueTypeInt:
		return binary.LittleEndian.AppendUint64(b, uint64(v.Int())) //nolint:gosec // G115: the bits are the key
	case pcommon.ValueTypeDouble:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			return append(b, 1)
		}
		return append(b, 0)
	case pcommon.ValueTypeEmpty:
		return b
	default: // maps, slices, bytes: rare as metric attributes; keyed by their label value
		return appendStr(b, v.AsString())
	}
}
