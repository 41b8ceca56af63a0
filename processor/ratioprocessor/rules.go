package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"sort"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/processor/ratioprocessor/internal/tracking"
)

type kv struct{ key, value string }

// selector picks the points of one metric whose attributes have the given values.
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

// rule is one compiled rule.
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

// compiledRules are the rules, and per metric name the rules that read it.
type compiledRules struct {
	rules  []*rule
	byName map[string][]*rule
	keep   int64 // the longest window: how much history a series keeps
}

func compileRules(cfg *Config) compiledRules {
	rcs := cfg.Rules
	if len(rcs) == 0 {
		rcs = DefaultRules()
	}
	out := compiledRules{byName: map[string][]*rule{}}
	for i := range rcs {
		rc := &rcs[i]
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
			out.byName[sel.metric] = appendOnce(out.byName[sel.metric], r)
		} else {
			r.num = toSelector(rc.Numerator.Metric, rc.Numerator.Match)
			r.den = toSelector(rc.Denominator.Metric, rc.Denominator.Match)
			out.byName[r.num.metric] = appendOnce(out.byName[r.num.metric], r)
			out.byName[r.den.metric] = appendOnce(out.byName[r.den.metric], r)
		}
		r.description = r.describe()
		out.rules = append(out.rules, r)
		out.keep = max(out.keep, r.window)
	}
	return out
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

// value is the rule's output for a group at its touched time; ok is false when there is none (the
// denominator did not grow, or a counter rule's numerator outgrew its denominator).
func (r *rule) value(g *tracking.Group, logger *zap.Logger) (float64, bool) {
	t := g.TouchedT
	if r.hist != nil {
		count, atMost, seen := sumIncrease(g.Den, t, r.window)
		if !seen || count <= 0 {
			return 0, false
		}
		fraction := min(max(atMost/count, 0), 1) // interpolation rounding only
		if r.above {
			return 1 - fraction, true
		}
		return fraction, true
	}
	num, _, _ := sumIncrease(g.Num, t, r.window)
	den, _, ok := sumIncrease(g.Den, t, r.window)
	if !ok || den <= 0 {
		return 0, false
	}
	if r.unit == "1" && num > den {
		if !r.misconfigured {
			r.misconfigured = true
			logger.Warn("Ratio rule's numerator grew faster than its denominator; no point emitted. The numerator must select a subset of the denominator's points (or give the rule a unit other than 1 for a plain quotient)",
				zap.String("rule", r.name), zap.Float64("numerator_increase", num), zap.Float64("denominator_increase", den))
		}
		return 0, false
	}
	return num / den, true
}

// sumIncrease sums the window increases of the series (V and W); seen is false when none had one.
func sumIncrease(series []*tracking.Series, t, w int64) (v, w2 float64, seen bool) {
	for _, s := range series {
		if inc, incW, ok := s.Increase(t, w); ok {
			v += inc
			w2 += incW
			seen = true
		}
	}
	return v, w2, seen
}
