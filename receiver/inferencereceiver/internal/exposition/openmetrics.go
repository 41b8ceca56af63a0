package exposition // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
)

// omRules checks what OpenMetrics 1.0 requires of an exposition beyond its grammar, which
// Prometheus's parser reads but does not enforce: metadata once per family and before its samples,
// family names that cannot clash, families and metric points not interleaved, timestamps not going
// back within a point, counter-like values neither NaN nor negative, histograms with a +Inf bucket,
// cumulative sorted buckets and a _count equal to it, summaries with quantiles in [0, 1], infos of
// value 1, statesets of 0 or 1 carrying their state label, exemplars only on counter totals and
// buckets (at most 128 characters of labels). The OpenMetrics project's parser test cases are
// checked against these rules (openmetrics_suite_test.go). A payload that breaks one is refused
// whole, as the standard says ("partial or invalid expositions MUST be considered erroneous in their
// entirety"); the error names the family and the rule. The text format is not held to them.
type omRules struct {
	families map[string]model.MetricType // families read before the current one
	fam      omFamily
	groups   map[uint64]struct{} // metric points of the current family read so far
	group    uint64
	inGroup  bool
	// groupTs is the timestamp of the point's last sample (hasGroupTs: whether it had one).
	groupTs    int64
	hasGroupTs bool
	hist       omHistPoint
	// labels parses the labels of the sample being checked (for statesets only).
	labels func() labels.Labels
	buf    []byte
}

// omFamily is the family being read.
type omFamily struct {
	name                string
	typ                 model.MetricType
	kind                omKind
	suffixes            []string // of typ
	typed, helped, unit bool
	unitName            string
	samples             int
}

// omHistPoint is what the rules need of the histogram point being read.
type omHistPoint struct {
	open                               bool
	group                              uint64
	ts                                 int64
	hasTs                              bool
	lastBound, lastValue, count        float64
	buckets                            int
	hasCount, hasSum, hasGsum, negGsum bool
	negBucket                          bool
}

// omKind is a family's type, for the checks made on every sample.
type omKind uint8

const (
	omUnknown omKind = iota
	omCounter
	omGauge
	omHistogram
	omGaugeHistogram
	omSummary
	omInfo
	omStateset
)

// omType is a type's kind and the sample-name suffixes its samples carry (OpenMetrics 1.0,
// "Suffixes"; "" is the family's own name).
//
// A counter's samples may also carry the family's own name, as in the text format
// (`# TYPE x_total counter` with `x_total 1`, or `x 1`): OpenMetrics names them x_total, but
// Prometheus reads both, the OpenMetrics suite has no case against it, and exposers that announce
// OpenMetrics write them (the remote-write compliance suite's targets among them).
type omType struct {
	kind     omKind
	suffixes []string
}

var omTypes = map[model.MetricType]omType{
	model.MetricTypeCounter:        {omCounter, []string{"_total", "_created", ""}},
	model.MetricTypeGauge:          {omGauge, []string{""}},
	model.MetricTypeHistogram:      {omHistogram, []string{"_count", "_sum", "_bucket", "_created"}},
	model.MetricTypeGaugeHistogram: {omGaugeHistogram, []string{"_gcount", "_gsum", "_bucket"}},
	model.MetricTypeSummary:        {omSummary, []string{"", "_count", "_sum", "_created"}},
	model.MetricTypeInfo:           {omInfo, []string{"_info"}},
	model.MetricTypeStateset:       {omStateset, []string{""}},
}

// unknownType is the type of a family without a TYPE line (or of type unknown).
var unknownType = omType{omUnknown, []string{""}}

func typeOf(t model.MetricType) omType {
	if ot, ok := omTypes[t]; ok {
		return ot
	}
	return unknownType
}

// setType gives the family its type.
func (f *omFamily) setType(t model.MetricType) {
	ot := typeOf(t)
	f.typ, f.kind, f.suffixes = t, ot.kind, ot.suffixes
}

// allSuffixes is every suffix any type uses, for telling a clash.
var allSuffixes = []string{"_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info"}

func (c *omRules) reset() {
	if c.families == nil {
		c.families = make(map[string]model.MetricType)
		c.groups = make(map[uint64]struct{})
	}
	clear(c.families)
	c.startFamily("")
}

// startFamily begins the family name, of unknown type until a TYPE line says (the caller has ended
// the family before it).
func (c *omRules) startFamily(name string) {
	c.fam = omFamily{name: name}
	c.fam.setType(model.MetricTypeUnknown)
	clear(c.groups)
	c.inGroup, c.hasGroupTs = false, false
	c.hist = omHistPoint{}
}

// endFamily checks the family just read as a whole and records its name.
func (c *omRules) endFamily() error {
	f := &c.fam
	if f.name == "" {
		return nil
	}
	if err := c.endHistPoint(); err != nil {
		return err
	}
	if f.unitName != "" && (f.kind == omInfo || f.kind == omStateset) {
		return fmt.Errorf("%s %q has a UNIT: a family of type %s has none (remove the UNIT line)", f.typ, f.name, f.typ)
	}
	if clash := c.clash(f.name, f.typ); clash != "" {
		return fmt.Errorf("family %q: %s (family names must be unique, sample names included)", f.name, clash)
	}
	c.families[f.name] = f.typ
	return nil
}

// clash names a family read before that name (of type typ) clashes with, or returns "".
func (c *omRules) clash(name string, typ model.MetricType) string {
	if _, ok := c.families[name]; ok {
		return "the family is exposed twice (families must not be interleaved)"
	}
	for _, s := range allSuffixes {
		base, ok := strings.CutSuffix(name, s)
		if !ok {
			continue
		}
		if t, ok := c.families[base]; ok && hasSuffix(t, s) {
			return fmt.Sprintf("it is a sample name of %s %q", t, base)
		}
	}
	for _, s := range typeOf(typ).suffixes {
		if s == "" {
			continue
		}
		c.buf = append(append(c.buf[:0], name...), s...)
		if t, ok := c.families[string(c.buf)]; ok {
			return fmt.Sprintf("its sample name %s is %s family %q", c.buf, t, c.buf)
		}
	}
	return ""
}

func hasSuffix(t model.MetricType, s string) bool {
	for _, x := range typeOf(t).suffixes {
		if x == s {
			return true
		}
	}
	return false
}

// metadata checks a TYPE, HELP or UNIT line (kind) for family name.
func (c *omRules) metadata(kind, name string, typ model.MetricType, unit string) error {
	if name != c.fam.name {
		if err := c.endFamily(); err != nil {
			return err
		}
		c.startFamily(name)
	}
	f := &c.fam
	if f.samples > 0 {
		return fmt.Errorf("family %q: # %s after its samples (metadata comes first)", name, kind)
	}
	var seen *bool
	switch kind {
	case "TYPE":
		seen = &f.typed
		f.setType(typ)
	case "HELP":
		seen = &f.helped
	case "UNIT":
		seen = &f.unit
		f.unitName = unit
	}
	if *seen {
		return fmt.Errorf("family %q: a second # %s line (one of each at most)", name, kind)
	}
	*seen = true
	return nil
}

// omSample is what the rules read of one sample line.
type omSample struct {
	name   []byte // the sample's metric name
	res    *resolved
	ts     *int64
	v      float64
	ex     *exemplar.Exemplar // nil without one
	series []byte
}

// sample checks one sample line.
func (c *omRules) sample(s omSample) error {
	f := &c.fam
	suffix, ok := c.suffixIn(s.name)
	if !ok {
		// A sample outside the current family starts an untyped family of its own.
		if err := c.endFamily(); err != nil {
			return err
		}
		c.startFamily(string(s.name))
		suffix = ""
	}
	f.samples++
	if s.res.omProblem != "" {
		return fmt.Errorf("%s: %s", s.series, s.res.omProblem)
	}
	if err := c.values(suffix, s); err != nil {
		return fmt.Errorf("%s: %w", s.series, err)
	}
	if err := c.grouping(s); err != nil {
		return err
	}
	if s.ex != nil {
		allowed := (suffix == "_bucket" && (f.kind == omHistogram || f.kind == omGaugeHistogram)) ||
			((suffix == "_total" || suffix == "") && f.kind == omCounter)
		if !allowed {
			return fmt.Errorf("%s: an exemplar on a %s sample: only counter totals and histogram buckets carry exemplars", s.series, typeName(f.typ))
		}
		n := 0
		s.ex.Labels.Range(func(l labels.Label) { n += utf8.RuneCountInString(l.Name) + utf8.RuneCountInString(l.Value) })
		if n > 128 {
			return fmt.Errorf("%s: the exemplar's labels are %d characters long; at most 128", s.series, n)
		}
	}
	if f.kind == omHistogram || f.kind == omGaugeHistogram {
		return c.histSample(suffix, s)
	}
	return nil
}

func typeName(t model.MetricType) string {
	if t == "" {
		return string(model.MetricTypeUnknown)
	}
	return string(t)
}

// suffixIn tells whether a sample name belongs to the current family, and with which suffix.
func (c *omRules) suffixIn(name []byte) (string, bool) {
	f := &c.fam
	if f.name == "" || len(name) < len(f.name) || string(name[:len(f.name)]) != f.name {
		return "", false
	}
	rest := name[len(f.name):]
	for _, s := range f.suffixes {
		if string(rest) == s {
			return s, true
		}
	}
	return "", false
}

// values checks what a sample's value may be for its type and suffix.
func (c *omRules) values(suffix string, s omSample) error {
	f := &c.fam
	v := s.v
	switch {
	case f.kind == omStateset:
		if !c.labels().Has(f.name) {
			return fmt.Errorf("a stateset sample needs the label %q naming its state", f.name)
		}
		if v != 0 && v != 1 {
			return fmt.Errorf("a stateset sample is 0 or 1, not %g", v)
		}
	case f.kind == omInfo:
		if v != 1 {
			return fmt.Errorf("an info sample is 1, not %g", v)
		}
	case f.kind == omSummary && suffix == "":
		if v < 0 {
			return fmt.Errorf("a quantile's value is not negative, got %g", v)
		}
	}
	if suffix == "" && f.kind == omCounter {
		suffix = "_total" // a counter's value under the family's own name
	}
	switch suffix {
	case "_total", "_sum", "_count", "_bucket", "_gcount", "_gsum":
		if math.IsNaN(v) {
			return fmt.Errorf("a %s sample is not NaN", suffix)
		}
		if v < 0 && suffix != "_gsum" {
			return fmt.Errorf("a %s sample is not negative, got %g", suffix, v)
		}
	}
	if (suffix == "_bucket" || suffix == "_count" || suffix == "_gcount") && v != math.Trunc(v) {
		return fmt.Errorf("a %s sample is a whole number, got %g", suffix, v)
	}
	return nil
}

// grouping checks that metric points are not interleaved and that timestamps within one do not go
// back or come and go.
func (c *omRules) grouping(s omSample) error {
	f := &c.fam
	if f.kind == omInfo {
		return nil // info points cannot be told apart
	}
	g := s.res.hash
	if f.kind == omStateset {
		g = labels.NewBuilder(c.labels()).Del(model.MetricNameLabel, f.name).Labels().Hash()
	}
	ts, hasTs := int64(0), s.ts != nil
	if hasTs {
		ts = *s.ts
	}
	if c.inGroup && g == c.group {
		if hasTs != c.hasGroupTs {
			return fmt.Errorf("%s: a timestamp on some samples of a metric point but not on others", s.series)
		}
		if hasTs && ts < c.groupTs {
			return fmt.Errorf("%s: the timestamp goes back within a metric point", s.series)
		}
		c.groupTs = ts
		return nil
	}
	if _, seen := c.groups[g]; seen {
		return fmt.Errorf("%s: metric points of family %q are interleaved (a point's samples come together)", s.series, f.name)
	}
	c.groups[g] = struct{}{}
	c.group, c.inGroup, c.groupTs, c.hasGroupTs = g, true, ts, hasTs
	return nil
}

// histSample adds a histogram sample to the point being read, ending the previous point first.
func (c *omRules) histSample(suffix string, s omSample) error {
	h := &c.hist
	ts, hasTs := int64(0), s.ts != nil
	if hasTs {
		ts = *s.ts
	}
	if h.open && (h.group != s.res.hash || h.hasTs != hasTs || h.ts != ts) {
		if err := c.endHistPoint(); err != nil {
			return err
		}
	}
	if !h.open {
		*h = omHistPoint{open: true, group: s.res.hash, ts: ts, hasTs: hasTs, lastBound: math.Inf(-1)}
	}
	switch suffix {
	case "_bucket":
		b := s.res.bound
		if h.buckets > 0 && b <= h.lastBound {
			return fmt.Errorf("%s: buckets out of order (le increases)", s.series)
		}
		if s.v < h.lastValue {
			return fmt.Errorf("%s: bucket values go down (buckets are cumulative)", s.series)
		}
		if b < 0 {
			h.negBucket = true
		}
		h.buckets++
		h.lastBound, h.lastValue = b, s.v
	case "_count", "_gcount":
		h.hasCount, h.count = true, s.v
	case "_sum":
		h.hasSum = true
	case "_gsum":
		h.hasGsum, h.negGsum = true, s.v < 0
	}
	return nil
}

// endHistPoint checks the histogram point read as a whole.
func (c *omRules) endHistPoint() error {
	h := &c.hist
	if !h.open {
		return nil
	}
	h.open = false
	name := c.fam.name
	count, sum := "_count", "_sum"
	if c.fam.kind == omGaugeHistogram {
		count, sum = "_gcount", "_gsum"
	}
	switch {
	case h.buckets == 0 || !math.IsInf(h.lastBound, 1):
		return fmt.Errorf("histogram %q: a point without its +Inf bucket", name)
	case h.hasCount && h.count != h.lastValue:
		return fmt.Errorf("histogram %q: %s %g differs from the +Inf bucket %g", name, count, h.count, h.lastValue)
	case (h.hasSum || h.hasGsum) != h.hasCount:
		return fmt.Errorf("histogram %q: %s and %s come together or not at all", name, count, sum)
	case h.negBucket && h.hasSum:
		return fmt.Errorf("histogram %q: a _sum with negative buckets (a histogram with negative buckets has no _sum)", name)
	case !h.negBucket && h.negGsum:
		return fmt.Errorf("gaugehistogram %q: a negative _gsum without negative buckets", name)
	}
	return nil
}

// finish checks the last family.
func (c *omRules) finish() error { return c.endFamily() }

// ErrOpenMetricsRule is in the chain of a *SyntaxError that breaks a rule of OpenMetrics 1.0 beyond
// its grammar (see omRules).
var ErrOpenMetricsRule = errors.New("OpenMetrics 1.0 refuses the whole payload; fix the exporter, or read its text format: headers: {Accept: text/plain}")

// omBroken says, after a broken OpenMetrics rule, what the standard asks and how to read the server
// anyway.
func omBroken(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (%w)", err, ErrOpenMetricsRule)
}

// omLabelProblem is what OpenMetrics refuses in a series' labels that Prometheus's parser reads: a
// comma before the closing brace, an le or quantile that is NaN or an infinity not written +Inf or
// -Inf, a quantile outside [0, 1]. "" when there is none.
func omLabelProblem(series []byte, kind Kind, role sampleRole, bound float64) string {
	if len(series) >= 2 && series[len(series)-2] == ',' && series[len(series)-1] == '}' {
		return "a comma before the closing brace"
	}
	// Prometheus's parser hands le and quantile back normalised: the spelling of an infinity is read
	// from the line (only then, as this runs for every new line of either format).
	canonical := func(name string, v float64) bool {
		if math.IsNaN(v) {
			return false
		}
		if !math.IsInf(v, 0) {
			return true
		}
		s, ok := rawLabel(series, name)
		return !ok || s == "+Inf" || s == "-Inf"
	}
	switch {
	case kind == Histogram && role == roleBucket && !canonical("le", bound):
		le, _ := rawLabel(series, "le")
		return fmt.Sprintf("le=%q: a bound is a number, and an infinite one is written +Inf", le)
	case kind == Summary && role == roleValue && (!canonical("quantile", bound) || bound < 0 || bound > 1):
		q, _ := rawLabel(series, "quantile")
		return fmt.Sprintf("quantile=%q: a quantile is a number from 0 to 1", q)
	}
	return ""
}

// rawLabel is the value of label name as written in a series (escapes left as they are), and
// whether the series has it.
func rawLabel(series []byte, name string) (string, bool) {
	i := bytes.IndexByte(series, '{')
	if i < 0 {
		return "", false
	}
	rest := series[i+1:]
	for len(rest) > 0 && rest[0] != '}' {
		eq := bytes.IndexByte(rest, '=')
		if eq < 0 || eq+1 >= len(rest) || rest[eq+1] != '"' {
			return "", false
		}
		key := strings.TrimSpace(string(rest[:eq]))
		j := eq + 2
		for j < len(rest) && rest[j] != '"' {
			if rest[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(rest) {
			return "", false
		}
		if key == name {
			return string(rest[eq+2 : j]), true
		}
		rest = bytes.TrimLeft(rest[j+1:], ", ")
	}
	return "", false
}
