// Package exposition owns the step from a scraped Prometheus text or OpenMetrics payload to metric
// families: samples grouped by family and label set, with histogram buckets and summary quantiles
// assembled. Parsing is done by the Prometheus server's own streaming parser (model/textparse); this
// package only groups what it yields. It knows nothing of model servers or of pdata.
package exposition // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// Kind is the type a family declares (or Unknown when it declares none).
type Kind uint8

const (
	Unknown Kind = iota
	Counter
	Gauge
	Histogram
	Summary
)

func (k Kind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	case Summary:
		return "summary"
	default:
		return "unknown"
	}
}

// Bucket is one classic-histogram bucket: the cumulative count of observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// Quantile is one summary quantile.
type Quantile struct {
	Quantile float64
	Value    float64
}

// Series is one label set of a family. Labels exclude __name__, le and quantile.
type Series struct {
	Labels labels.Labels
	Hash   uint64
	// TimestampMs is the sample's own timestamp, 0 when the payload gave none.
	TimestampMs int64
	// CreatedMs is the OpenMetrics _created time, 0 when unknown.
	CreatedMs int64

	// Value holds counters, gauges and unknown-typed samples.
	Value float64

	// Sum, Count, Buckets and Quantiles hold histograms and summaries.
	Sum, Count       float64
	HasSum, HasCount bool
	Buckets          []Bucket
	Quantiles        []Quantile
}

// Family is one metric family as exposed.
type Family struct {
	// Name is the family name as exposed: the TYPE line's name in the text format
	// (counters keep their _total there), the name without _total in OpenMetrics.
	Name   string
	Kind   Kind
	Help   string
	Unit   string
	Series []Series

	index map[uint64]int
}

// Payload is every family of one scrape, in exposition order.
type Payload struct {
	Families []*Family
	byName   map[string]*Family
}

// Family returns the family exposed under name, or nil.
func (p *Payload) Family(name string) *Family {
	return p.byName[name]
}

// SeriesCount is the number of label sets over all families.
func (p *Payload) SeriesCount() int {
	n := 0
	for _, f := range p.Families {
		n += len(f.Series)
	}
	return n
}

// normaliseCounterNames gives OpenMetrics counters the name the text format gives them (with _total),
// so that one name means one family whichever format a server chose.
func (p *Payload) normaliseCounterNames() {
	for _, f := range p.Families {
		if f.Kind != Counter || strings.HasSuffix(f.Name, "_total") {
			continue
		}
		name := f.Name + "_total"
		if _, taken := p.byName[name]; taken {
			continue
		}
		delete(p.byName, f.Name)
		f.Name = name
		p.byName[name] = f
	}
}

// ContentTypeText is assumed when a server sends no usable Content-Type.
const ContentTypeText = "text/plain"

// Parse reads a whole payload with a parser of its own (no cache kept); see Parser.
func Parse(b []byte, contentType string) (*Payload, error) {
	return NewParser().Parse(b, contentType)
}

// Parser reads the payloads of one server, scrape after scrape. It remembers what each series line
// (name and labels, as exposed) resolved to, so that a line seen before skips label parsing, hashing
// and le/quantile parsing: only its value is read. It is not safe for concurrent use.
type Parser struct {
	cache map[string]*resolved
	gen   uint32
}

// resolved is what one exposed series line means.
type resolved struct {
	family string
	kind   Kind
	role   sampleRole
	id     labels.Labels // without __name__, le, quantile
	hash   uint64
	bound  float64 // le or quantile
	gen    uint32
}

// maxCached bounds the remembered lines of one server.
const maxCached = 200_000

// NewParser returns a parser with an empty cache.
func NewParser() *Parser { return &Parser{cache: make(map[string]*resolved)} }

// Parse reads a whole payload. contentType selects text or OpenMetrics; an empty or unknown one is
// read as the Prometheus text format. On a syntax error Parse returns what it read before the error
// together with an error that names the line.
func (ps *Parser) Parse(b []byte, contentType string) (*Payload, error) {
	st := labels.NewSymbolTable()
	parser, err := textparse.New(b, contentType, st, textparse.ParserOptions{FallbackContentType: ContentTypeText})
	if parser == nil {
		return &Payload{}, fmt.Errorf("cannot choose a parser: %w", err)
	}
	if strings.HasPrefix(contentType, "application/vnd.google.protobuf") {
		return &Payload{}, errors.New("the protobuf exposition format is not supported: let the server answer text/plain or application/openmetrics-text")
	}
	openMetrics := strings.HasPrefix(contentType, "application/openmetrics-text")
	ps.gen++
	p := &Payload{byName: make(map[string]*Family)}
	b2 := builder{payload: p}
	var lset labels.Labels
	for {
		entry, err := parser.Next()
		if errors.Is(err, io.EOF) {
			if openMetrics {
				p.normaliseCounterNames()
			}
			ps.sweep()
			return p, nil
		}
		if err != nil {
			return p, fmt.Errorf("parse error: %w", err)
		}
		switch entry {
		case textparse.EntryType:
			name, typ := parser.Type()
			b2.declare(string(name)).Kind = kindOf(typ)
		case textparse.EntryHelp:
			name, help := parser.Help()
			b2.declare(string(name)).Help = string(help)
		case textparse.EntryUnit:
			name, unit := parser.Unit()
			b2.declare(string(name)).Unit = string(unit)
		case textparse.EntrySeries:
			series, ts, v := parser.Series()
			r := ps.cache[string(series)]
			if r == nil || !b2.stillMeans(r) {
				parser.Labels(&lset)
				if r, err = b2.resolve(lset); err != nil {
					return p, err
				}
				if len(ps.cache) < maxCached {
					ps.cache[string(series)] = r
				}
			}
			r.gen = ps.gen
			b2.apply(r, ts, v)
		case textparse.EntryHistogram:
			// Native histograms come only with the protobuf format, refused above.
		}
	}
}

// sweep forgets lines not seen in the last payload (label values that churn must not grow the cache).
func (ps *Parser) sweep() {
	for k, r := range ps.cache {
		if r.gen != ps.gen {
			delete(ps.cache, k)
		}
	}
}

func kindOf(t model.MetricType) Kind {
	switch t {
	case model.MetricTypeCounter:
		return Counter
	case model.MetricTypeGauge:
		return Gauge
	case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram:
		return Histogram
	case model.MetricTypeSummary:
		return Summary
	default:
		return Unknown
	}
}

type builder struct {
	payload *Payload
	// current is the family of the last metadata line; samples that belong to it need no lookup.
	current *Family
	lb      labels.ScratchBuilder
}

func (b *builder) declare(name string) *Family {
	if b.current != nil && b.current.Name == name {
		return b.current
	}
	f := b.payload.byName[name]
	if f == nil {
		f = &Family{Name: name, index: make(map[uint64]int)}
		b.payload.byName[name] = f
		b.payload.Families = append(b.payload.Families, f)
	}
	b.current = f
	return f
}

// sampleRole says which part of a family a sample name is.
type sampleRole uint8

const (
	roleValue sampleRole = iota
	roleBucket
	roleSum
	roleCount
	roleCreated
)

// familyOf finds the family a sample belongs to and the role of the sample in it.
func (b *builder) familyOf(name string) (*Family, sampleRole) {
	if f := b.current; f != nil {
		if role, ok := roleIn(f, name); ok {
			return f, role
		}
	}
	// A sample whose family was declared earlier (or not at all).
	if f := b.payload.byName[name]; f != nil {
		if role, ok := roleIn(f, name); ok {
			return f, role
		}
	}
	for _, suffix := range [...]string{"_bucket", "_sum", "_count", "_total", "_created"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := b.payload.byName[base]; f != nil {
				if role, ok := roleIn(f, name); ok {
					return f, role
				}
			}
		}
	}
	// Undeclared: an untyped family of its own.
	f := b.declare(name)
	return f, roleValue
}

func roleIn(f *Family, name string) (sampleRole, bool) {
	if name == f.Name {
		if f.Kind == Histogram || f.Kind == Summary {
			return 0, false
		}
		return roleValue, true
	}
	rest, ok := strings.CutPrefix(name, f.Name)
	if !ok {
		return 0, false
	}
	switch f.Kind {
	case Histogram:
		switch rest {
		case "_bucket":
			return roleBucket, true
		case "_sum":
			return roleSum, true
		case "_count":
			return roleCount, true
		case "_created":
			return roleCreated, true
		}
	case Summary:
		switch rest {
		case "_sum":
			return roleSum, true
		case "_count":
			return roleCount, true
		case "_created":
			return roleCreated, true
		}
	case Counter:
		switch rest {
		case "_total":
			return roleValue, true
		case "_created":
			return roleCreated, true
		}
	}
	return 0, false
}

// stillMeans tells whether a remembered line resolves the same way in this payload: its family
// declares the same type.
func (b *builder) stillMeans(r *resolved) bool {
	f := b.payload.byName[r.family]
	return f == nil || f.Kind == r.kind
}

// resolve works out what a series line means from its labels.
func (b *builder) resolve(lset labels.Labels) (*resolved, error) {
	name := lset.Get(model.MetricNameLabel)
	f, role := b.familyOf(name)

	// The identity of the series within its family: every label but __name__, le and quantile.
	var le, quantile string
	hasLe, hasQuantile := false, false
	b.lb.Reset()
	lset.Range(func(l labels.Label) {
		switch {
		case l.Name == model.MetricNameLabel:
		case l.Name == model.BucketLabel && f.Kind == Histogram:
			le, hasLe = l.Value, true
		case l.Name == model.QuantileLabel && f.Kind == Summary:
			quantile, hasQuantile = l.Value, true
		default:
			b.lb.Add(l.Name, l.Value)
		}
	})
	id := b.lb.Labels()
	r := &resolved{family: f.Name, kind: f.Kind, role: role, id: id.Copy(), hash: id.Hash()}
	switch {
	case role == roleBucket:
		if !hasLe {
			return nil, fmt.Errorf("histogram %q: a _bucket sample has no le label", f.Name)
		}
		ub, err := parseFloat(le)
		if err != nil {
			return nil, fmt.Errorf("histogram %q: bad le=%q: %w", f.Name, le, err)
		}
		r.bound = ub
	case role == roleValue && f.Kind == Summary:
		if !hasQuantile {
			return nil, fmt.Errorf("summary %q: a sample has no quantile label", f.Name)
		}
		q, err := parseFloat(quantile)
		if err != nil {
			return nil, fmt.Errorf("summary %q: bad quantile=%q: %w", f.Name, quantile, err)
		}
		r.bound = q
	}
	return r, nil
}

// apply stores one sample of a resolved line.
func (b *builder) apply(r *resolved, ts *int64, v float64) {
	f := b.payload.byName[r.family]
	if f == nil {
		f = b.declare(r.family)
		f.Kind = r.kind
	}
	idx, ok := f.index[r.hash]
	if !ok {
		idx = len(f.Series)
		f.index[r.hash] = idx
		f.Series = append(f.Series, Series{Labels: r.id, Hash: r.hash})
	}
	s := &f.Series[idx]
	if ts != nil {
		s.TimestampMs = *ts
	}
	switch r.role {
	case roleCreated:
		s.CreatedMs = int64(v * 1000)
	case roleSum:
		s.Sum, s.HasSum = v, true
	case roleCount:
		s.Count, s.HasCount = v, true
	case roleBucket:
		s.Buckets = append(s.Buckets, Bucket{UpperBound: r.bound, Count: v})
	default:
		if f.Kind == Summary {
			s.Quantiles = append(s.Quantiles, Quantile{Quantile: r.bound, Value: v})
		} else {
			s.Value = v
		}
	}
}

func parseFloat(s string) (float64, error) {
	switch s {
	case "+Inf", "Inf", "+inf", "inf":
		return math.Inf(1), nil
	case "-Inf", "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}
