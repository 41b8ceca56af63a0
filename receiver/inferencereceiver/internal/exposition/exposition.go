// Package exposition owns the step from a scraped Prometheus text or OpenMetrics payload to metric
// families: samples grouped by family and label set, with histogram buckets and summary quantiles
// assembled. Parsing is done by the Prometheus server's own streaming parser (model/textparse); this
// package only groups what it yields. It knows nothing of model servers or of pdata.
package exposition // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
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

	// Exemplars are the OpenMetrics exemplars of the series' samples (buckets or counter value).
	Exemplars []Exemplar

	// seen marks the parts already read, so that a repeated line is told from a first one.
	seen uint8
}

// Exemplar is one OpenMetrics exemplar: a sampled observation with its own labels (trace_id,
// span_id, ...).
type Exemplar struct {
	Labels labels.Labels
	Value  float64
	// TimestampMs is 0 when the exemplar carries no timestamp.
	TimestampMs int64
}

const (
	seenValue uint8 = 1 << iota
	seenSum
	seenCount
	seenCreated
)

// Family is one metric family as exposed.
type Family struct {
	// Name is the family name as exposed: the TYPE line's name in the text format
	// (counters keep their _total there), the name without _total in OpenMetrics.
	Name   string
	Kind   Kind
	Help   string
	Unit   string
	Series []Series
	// Invalid says why the family cannot be read as exposed (a histogram without +Inf bucket, with
	// repeated or decreasing le, or with decreasing bucket counts); "" when it is valid. An invalid
	// family is left out of the output, counted and logged by the caller.
	Invalid string

	index map[uint64]int
}

// Payload is every family of one scrape, in exposition order.
type Payload struct {
	Families []*Family
	// Duplicates counts sample lines that repeated a line already read (the first one is kept, as
	// Prometheus keeps it).
	Duplicates int
	byName     map[string]*Family
}

// Compact drops what only parsing needs (each family's index of its series), for a payload kept
// after it was read: a discovered server's last payload, converted again into the staleness
// markers of its series when it goes. Its series and their values are unchanged.
func (p *Payload) Compact() {
	for _, f := range p.Families {
		f.index = nil
		if cap(f.Series) > len(f.Series) {
			f.Series = slices.Clone(f.Series) // the growth margin of appends
		}
	}
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
	// MaxSeries bounds the label sets one payload may hold (0: no bound). Parsing stops as soon as
	// the payload exceeds it, so that memory stays bounded by the cap, not by the payload.
	MaxSeries int

	cache map[string]*resolved
	gen   uint32
	om    omRules
}

// TooManySeriesError is returned when a payload holds more label sets than Parser.MaxSeries.
type TooManySeriesError struct{ Limit int }

func (e *TooManySeriesError) Error() string {
	return fmt.Sprintf("the payload has more than %d series (max_series)", e.Limit)
}

// SyntaxError is a payload that does not parse, with the line it failed at (0 when unknown).
type SyntaxError struct {
	Line int
	Err  error
}

func (e *SyntaxError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parse error at line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("parse error: %v", e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// resolved is what one exposed series line means.
type resolved struct {
	family string
	kind   Kind
	role   sampleRole
	id     labels.Labels // without __name__, le, quantile
	hash   uint64
	bound  float64 // le or quantile
	gen    uint32
	// omProblem is what OpenMetrics refuses in the line's labels ("" when nothing; see omRules).
	omProblem string
}

// maxCached bounds the remembered lines of one server.
const maxCached = 200_000

// NewParser returns a parser with an empty cache.
func NewParser() *Parser { return &Parser{cache: make(map[string]*resolved)} }

// Parse reads a whole payload. contentType selects text or OpenMetrics; an empty or unknown one is
// read as the Prometheus text format. A payload that does not parse is an error (*SyntaxError, with
// the line), and so is one over MaxSeries (*TooManySeriesError): either way what was read is
// discarded, as a Prometheus scrape discards it.
func (ps *Parser) Parse(b []byte, contentType string) (*Payload, error) {
	openMetrics, err := formatOf(contentType)
	if err != nil {
		return &Payload{}, err
	}
	r := ps.begin(openMetrics)
	if err := r.feed(b); err != nil {
		return ps.fail(err)
	}
	return r.finish(), nil
}

// chunkSize is how much of a text payload ParseFrom holds at once (more only for a longer line).
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// ParseFrom reads a payload from rd. The text format is parsed a chunk of whole lines at a time, so
// that a payload over MaxSeries is given up as soon as the cap is passed, having held no more than a
// chunk of it and the series under the cap: memory is bounded by the cap, not by the payload.
// OpenMetrics is read whole first (its parser needs the final # EOF). A read error is returned as
// it is.
func (ps *Parser) ParseFrom(rd io.Reader, contentType string) (*Payload, error) {
	openMetrics, err := formatOf(contentType)
	if err != nil {
		return &Payload{}, err
	}
	if openMetrics {
		b, err := io.ReadAll(rd)
		if err != nil {
			return ps.fail(err)
		}
		return ps.Parse(b, contentType)
	}
	bp := chunks.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) == chunkSize {
			*bp = buf[:0]
			chunks.Put(bp)
		}
	}()
	r := ps.begin(false)
	for {
		if len(buf) == cap(buf) {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				// One line longer than the buffer: make room for it.
				buf = append(buf, 0)[:len(buf)]
				continue
			}
			// The text parser writes a newline just past what it is given: the first byte of the
			// next line, which is put back.
			var err error
			if i+1 == len(buf) {
				err = r.feed(buf) // no room past it: feed copies it
			} else {
				next := buf[i+1 : i+2 : i+2]
				saved := next[0]
				err = r.feed(buf[:i+1])
				next[0] = saved
			}
			if err != nil {
				return ps.fail(err)
			}
			buf = buf[:copy(buf, buf[i+1:])]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ps.fail(err)
		}
	}
	if len(buf) > 0 {
		if err := r.feed(buf); err != nil {
			return ps.fail(err)
		}
	}
	return r.finish(), nil
}

// formatOf tells OpenMetrics from the text format (the default), and refuses protobuf.
func formatOf(contentType string) (openMetrics bool, err error) {
	mt := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	switch mt {
	case "application/openmetrics-text":
		return true, nil
	case "application/vnd.google.protobuf":
		return false, errors.New("the protobuf exposition format is not supported: let the server answer text/plain or application/openmetrics-text")
	}
	return false, nil
}

// fail forgets what a failed payload left in the cache (it may be garbage).
func (ps *Parser) fail(err error) (*Payload, error) {
	ps.cache = make(map[string]*resolved)
	return &Payload{}, err
}

// parseRun is one payload being parsed, fed in chunks of whole lines.
type parseRun struct {
	ps          *Parser
	p           *Payload
	b           builder
	openMetrics bool
	lines       int // lines in the chunks fed before
	lset        labels.Labels
	ex          exemplar.Exemplar
}

func (ps *Parser) begin(openMetrics bool) *parseRun {
	ps.gen++
	p := &Payload{byName: make(map[string]*Family)}
	if openMetrics {
		ps.om.reset()
	}
	return &parseRun{ps: ps, p: p, b: builder{payload: p, limit: ps.MaxSeries}, openMetrics: openMetrics}
}

func (r *parseRun) finish() *Payload {
	if r.openMetrics {
		r.p.normaliseCounterNames()
	}
	r.p.foldCreated()
	r.p.validate()
	r.ps.sweep()
	return r.p
}

// feed parses b, whole lines (a whole payload for OpenMetrics).
func (r *parseRun) feed(b []byte) error {
	// The text parsers stop at a NUL byte outside HELP text as at the end of the input, so that a
	// binary body would read as an empty payload: a NUL is valid only in HELP text (any UTF-8).
	if i := nulOutsideHelp(b); i >= 0 {
		return &SyntaxError{Line: r.lines + bytes.Count(b[:i], []byte{'\n'}) + 1, Err: errors.New("a NUL byte: the body is not a text exposition")}
	}
	// The text parser appends a newline to b; with no room for it, it would copy b, and the slices
	// it returns would no longer point into b, whose offsets name the line of a syntax error.
	if cap(b) == len(b) {
		b = append(b, '\n')[:len(b)]
	}
	contentType := "text/plain"
	if r.openMetrics {
		contentType = "application/openmetrics-text"
	}
	parser, err := textparse.New(b, contentType, labels.NewSymbolTable(), textparse.ParserOptions{FallbackContentType: ContentTypeText})
	if parser == nil {
		return fmt.Errorf("cannot choose a parser: %w", err)
	}
	ps, b2 := r.ps, &r.b
	if r.openMetrics {
		ps.om.labels = func() labels.Labels { parser.Labels(&r.lset); return r.lset }
	}
	lastOff := -1 // offset in b of the last entry read, for the line of a syntax error
	for {
		entry, err := parser.Next()
		if errors.Is(err, io.EOF) {
			if r.openMetrics {
				if err := ps.om.finish(); err != nil {
					return &SyntaxError{Line: r.lines + lineAfter(b, lastOff) - 1, Err: omBroken(err)}
				}
			}
			r.lines += bytes.Count(b, []byte{'\n'})
			return nil
		}
		if err != nil {
			return &SyntaxError{Line: r.lines + lineAfter(b, lastOff), Err: err}
		}
		switch entry {
		case textparse.EntryType:
			name, typ := parser.Type()
			lastOff = offsetIn(b, name)
			f := b2.declare(string(name))
			f.Kind = kindOf(typ)
			err = r.metadata("TYPE", f.Name, typ, "")
		case textparse.EntryHelp:
			name, help := parser.Help()
			lastOff = offsetIn(b, name)
			f := b2.declare(string(name))
			f.Help = string(help)
			err = r.metadata("HELP", f.Name, "", "")
		case textparse.EntryUnit:
			name, unit := parser.Unit()
			lastOff = offsetIn(b, name)
			f := b2.declare(string(name))
			f.Unit = string(unit)
			err = r.metadata("UNIT", f.Name, "", f.Unit)
		case textparse.EntryComment:
			lastOff = offsetIn(b, parser.Comment())
		case textparse.EntrySeries:
			series, ts, v := parser.Series()
			lastOff = offsetIn(b, series)
			res := ps.cache[string(series)]
			if res == nil || !b2.stillMeans(res) {
				parser.Labels(&r.lset)
				if res, err = b2.resolve(r.lset, series); err != nil {
					return &SyntaxError{Line: r.lines + lineAfter(b, lastOff) - 1, Err: err}
				}
				if len(ps.cache) < maxCached {
					ps.cache[string(series)] = res
				}
			}
			res.gen = ps.gen
			var exp *exemplar.Exemplar
			r.ex = exemplar.Exemplar{}
			if r.openMetrics && parser.Exemplar(&r.ex) {
				exp = &r.ex
			}
			if r.openMetrics {
				err = omBroken(ps.om.sample(omSample{name: metricName(series), res: res, ts: ts, v: v, ex: exp, series: series}))
			}
			if err == nil {
				err = b2.apply(res, ts, v, exp)
			}
			if err != nil {
				var tooMany *TooManySeriesError
				if errors.As(err, &tooMany) {
					return err // not a syntax error
				}
			}
		case textparse.EntryHistogram:
			// Native histograms come only with the protobuf format, refused above.
		}
		if err != nil {
			return &SyntaxError{Line: r.lines + lineAfter(b, lastOff) - 1, Err: err}
		}
	}
}

// metadata checks a metadata line against the OpenMetrics rules (OpenMetrics payloads only).
func (r *parseRun) metadata(kind, name string, typ model.MetricType, unit string) error {
	if !r.openMetrics {
		return nil
	}
	return omBroken(r.ps.om.metadata(kind, name, typ, unit))
}

// metricName is the metric name of a series as exposed: what comes before its labels (empty for a
// name written as a quoted label).
func metricName(series []byte) []byte {
	if i := bytes.IndexByte(series, '{'); i >= 0 {
		return series[:i]
	}
	return series
}

// nulOutsideHelp is the offset of the first NUL byte of b that is not in the text of a # HELP line,
// or -1.
func nulOutsideHelp(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], 0)
		if i < 0 {
			return -1
		}
		i += off
		start := bytes.LastIndexByte(b[:i], '\n') + 1
		if !bytes.HasPrefix(b[start:i], []byte("# HELP ")) {
			return i
		}
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			return -1
		}
		off = i + end
	}
}

// offsetIn is where sub starts in b, or -1 when sub is not a slice of b (the parsers return slices
// of the payload; this only reads their position).
func offsetIn(b, sub []byte) int {
	off := cap(b) - cap(sub)
	if len(sub) == 0 || off < 0 || off > len(b) {
		return -1
	}
	return off
}

// lineAfter is the number of the line after the one holding offset off (1 when off is -1: nothing
// was read yet).
func lineAfter(b []byte, off int) int {
	if off < 0 {
		return 1
	}
	return bytes.Count(b[:off], []byte{'\n'}) + 2
}

// CachedLines is the number of exposed lines remembered.
func (ps *Parser) CachedLines() int { return len(ps.cache) }

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
	// limit is Parser.MaxSeries; series counts the label sets read so far.
	limit, series int
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
	grouped := f.Kind == Histogram || f.Kind == Summary
	switch {
	case rest == "_created" && (grouped || f.Kind == Counter):
		return roleCreated, true
	case rest == "_total" && f.Kind == Counter:
		return roleValue, true
	case rest == "_bucket" && f.Kind == Histogram:
		return roleBucket, true
	case rest == "_sum" && grouped:
		return roleSum, true
	case rest == "_count" && grouped:
		return roleCount, true
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
func (b *builder) resolve(lset labels.Labels, series []byte) (*resolved, error) {
	name := lset.Get(model.MetricNameLabel)
	f, role := b.familyOf(name)

	// The identity of the series within its family: every label but __name__, le and quantile.
	var le, quantile string
	hasLe, hasQuantile := false, false
	b.lb.Reset()
	prev, dup := "", ""
	lset.Range(func(l labels.Label) {
		if l.Name == prev {
			dup = l.Name
		}
		prev = l.Name
		switch {
		case l.Name == model.MetricNameLabel:
		case l.Name == model.BucketLabel && f.Kind == Histogram:
			le, hasLe = l.Value, true
		case l.Name == model.QuantileLabel && f.Kind == Summary:
			quantile, hasQuantile = l.Value, true
		case l.Value == "":
			// Prometheus treats a label with an empty value as absent.
		default:
			b.lb.Add(l.Name, l.Value)
		}
	})
	if dup != "" {
		return nil, fmt.Errorf("%s: the label %q appears twice", series, dup)
	}
	id := b.lb.Labels()
	r := &resolved{family: f.Name, kind: f.Kind, role: role, id: id.Copy(), hash: id.Hash()}
	var err error
	switch {
	case role == roleBucket:
		r.bound, err = boundOf("histogram", f.Name, "a _bucket sample", model.BucketLabel, le, hasLe)
	case role == roleValue && f.Kind == Summary:
		r.bound, err = boundOf("summary", f.Name, "a sample", model.QuantileLabel, quantile, hasQuantile)
	}
	if err != nil {
		return nil, err
	}
	r.omProblem = omLabelProblem(series, f.Kind, role, r.bound)
	return r, nil
}

// boundOf parses the le label of a histogram's bucket or the quantile label of a summary's sample;
// kind, family and sample name what is read, for the error.
func boundOf(kind, family, sample, label, value string, has bool) (float64, error) {
	if !has {
		return 0, fmt.Errorf("%s %q: %s has no %s label", kind, family, sample, label)
	}
	v, err := parseFloat(value)
	if err != nil {
		return 0, fmt.Errorf("%s %q: bad %s=%q: %w", kind, family, label, value, err)
	}
	return v, nil
}

// apply stores one sample of a resolved line. A line that repeats one already read is counted
// and skipped (the first one wins); a bucket that breaks the histogram's shape marks its family
// invalid.
func (b *builder) apply(r *resolved, ts *int64, v float64, ex *exemplar.Exemplar) error {
	f := b.payload.byName[r.family]
	if f == nil {
		f = b.declare(r.family)
		f.Kind = r.kind
	}
	idx, ok := f.index[r.hash]
	if !ok {
		b.series++
		if b.limit > 0 && b.series > b.limit {
			return &TooManySeriesError{Limit: b.limit}
		}
		idx = len(f.Series)
		f.index[r.hash] = idx
		f.Series = append(f.Series, Series{Labels: r.id, Hash: r.hash})
	}
	s := &f.Series[idx]
	var part uint8
	switch {
	case r.role == roleCreated:
		part = seenCreated
	case r.role == roleSum:
		part = seenSum
	case r.role == roleCount:
		part = seenCount
	case r.role == roleValue && f.Kind != Summary:
		part = seenValue
	}
	if part != 0 {
		if s.seen&part != 0 {
			b.payload.Duplicates++
			return nil
		}
		s.seen |= part
	}
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
		if n := len(s.Buckets); n > 0 && f.Invalid == "" {
			last := s.Buckets[n-1]
			switch {
			case r.bound == last.UpperBound:
				f.Invalid = fmt.Sprintf("histogram %q: le=%q appears twice in one series", f.Name, formatBound(r.bound))
			case r.bound < last.UpperBound:
				f.Invalid = fmt.Sprintf("histogram %q: le=%q comes after le=%q (buckets must be in increasing order)", f.Name, formatBound(r.bound), formatBound(last.UpperBound))
			case v < last.Count:
				f.Invalid = fmt.Sprintf("histogram %q: the count of le=%q is lower than that of le=%q (buckets are cumulative)", f.Name, formatBound(r.bound), formatBound(last.UpperBound))
			}
		}
		if math.IsNaN(v) || v < 0 {
			f.Invalid = fmt.Sprintf("histogram %q: bucket le=%q has count %v", f.Name, formatBound(r.bound), v)
		}
		if math.IsNaN(r.bound) {
			f.Invalid = fmt.Sprintf("histogram %q: a bucket has le=\"NaN\"", f.Name)
		}
		s.Buckets = append(s.Buckets, Bucket{UpperBound: r.bound, Count: v})
	default:
		if f.Kind == Summary {
			for _, q := range s.Quantiles {
				if q.Quantile == r.bound {
					b.payload.Duplicates++
					return nil
				}
			}
			s.Quantiles = append(s.Quantiles, Quantile{Quantile: r.bound, Value: v})
		} else {
			s.Value = v
		}
	}
	if ex != nil && (r.role == roleBucket || r.role == roleValue) {
		e := Exemplar{Labels: ex.Labels.Copy(), Value: ex.Value}
		if ex.HasTs {
			e.TimestampMs = ex.Ts
		}
		s.Exemplars = append(s.Exemplars, e)
	}
	return nil
}

func formatBound(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// validate marks the histograms whose series lack the +Inf bucket every histogram must have.
func (p *Payload) validate() {
	for _, f := range p.Families {
		if f.Kind != Histogram || f.Invalid != "" {
			continue
		}
		for i := range f.Series {
			bs := f.Series[i].Buckets
			if len(bs) == 0 || !math.IsInf(bs[len(bs)-1].UpperBound, 1) {
				f.Invalid = fmt.Sprintf("histogram %q: a series has no le=\"+Inf\" bucket", f.Name)
				break
			}
		}
	}
}

// foldCreated reads the text format's X_created gauges (prometheus_client writes one beside each
// counter, histogram and summary) as the start times of X's series, as OpenMetrics has them, and
// drops them as families of their own. A _created family whose series do not all match a series of
// X is left as it is.
func (p *Payload) foldCreated() {
	var drop map[*Family]bool
	for _, f := range p.Families {
		base, ok := strings.CutSuffix(f.Name, "_created")
		if !ok || (f.Kind != Gauge && f.Kind != Unknown) {
			continue
		}
		target := p.byName[base+"_total"]
		if target == nil || target.Kind != Counter {
			target = p.byName[base]
		}
		if target == nil || target == f || (target.Kind != Counter && target.Kind != Histogram && target.Kind != Summary) {
			continue
		}
		matched := true
		for i := range f.Series {
			if _, ok := target.index[f.Series[i].Hash]; !ok {
				matched = false
				break
			}
		}
		if !matched {
			continue
		}
		for i := range f.Series {
			s := &target.Series[target.index[f.Series[i].Hash]]
			s.CreatedMs = int64(f.Series[i].Value * 1000)
		}
		if drop == nil {
			drop = make(map[*Family]bool)
		}
		drop[f] = true
	}
	if drop == nil {
		return
	}
	kept := p.Families[:0]
	for _, f := range p.Families {
		if drop[f] {
			delete(p.byName, f.Name)
			continue
		}
		kept = append(kept, f)
	}
	p.Families = kept
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
