// Package tracking holds the ratio processor's state: the input series it follows (each with its
// window of points), the output groups they feed, the max_series cap and the sweep of stale series.
// It knows nothing of rules or of the pdata walk: callers give it stream keys (see StreamKey) and
// group keys, and read the groups a batch touched.
package tracking // import "github.com/otel-inference/collector/processor/ratioprocessor/internal/tracking"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otel-inference/collector/processor/ratioprocessor/internal/window"
)

// Series is one input stream: its window of points and, per rule, the group it feeds.
type Series struct {
	window.Series
	Groups []*Group // by rule index; nil where the rule does not use the series
	Layout uint64   // histogram bucket layout, to restart the window when it changes
	dead   bool     // set when the sweep forgets the series, so groups drop it too
}

// Group is one output stream of one rule: a resource and the values of the rule's group_by
// attributes. Num and Den are the series whose increases it sums (a histogram rule uses Den only).
type Group struct {
	key      uint64
	Rule     int
	Attrs    pcommon.Map
	Num, Den []*Series

	// touchedGen and TouchedT: the batch that last touched the group and the newest point time seen
	// in it then.
	touchedGen uint64
	TouchedT   int64
}

// Tracker is the capped store of series and groups. It is not safe for concurrent use: the
// processor holds its lock around every call.
type Tracker struct {
	rules     int
	maxSeries int
	series    map[uint64]*Series
	groups    map[uint64]*Group
	gen       uint64
	touched   []*Group

	// Untracked counts new series refused because of the cap.
	Untracked int64
}

// New returns a tracker for rules rules that follows at most maxSeries series.
func New(rules, maxSeries int) *Tracker {
	return &Tracker{rules: rules, maxSeries: maxSeries, series: map[uint64]*Series{}, groups: map[uint64]*Group{}}
}

// Series returns the series of key, tracking it if it is new and the cap allows. It returns nil
// when the cap refuses a new series; first is true the first time that happens.
func (t *Tracker) Series(key uint64) (s *Series, first bool) {
	if s, ok := t.series[key]; ok {
		return s, false
	}
	if len(t.series) >= t.maxSeries {
		t.Untracked++
		return nil, t.Untracked == 1
	}
	s = &Series{Groups: make([]*Group, t.rules)}
	t.series[key] = s
	return s, false
}

// Group returns the group of key, creating it for rule with the attributes attrs gives.
func (t *Tracker) Group(key uint64, rule int, attrs func() pcommon.Map) *Group {
	g, ok := t.groups[key]
	if !ok {
		g = &Group{key: key, Rule: rule, Attrs: attrs()}
		t.groups[key] = g
	}
	return g
}

// Link makes s feed g for g's rule (as numerator, denominator or both), once.
func (t *Tracker) Link(s *Series, g *Group, num, den bool) {
	if s.Groups[g.Rule] != nil {
		return
	}
	s.Groups[g.Rule] = g
	if num {
		g.Num = append(g.Num, s)
	}
	if den {
		g.Den = append(g.Den, s)
	}
}

// Begin starts a batch (one resource): Touched lists the groups touched since.
func (t *Tracker) Begin() {
	t.gen++
	t.touched = t.touched[:0]
}

// Touch records that g had a point at time ts in this batch.
func (t *Tracker) Touch(g *Group, ts int64) {
	if g.touchedGen != t.gen {
		g.touchedGen, g.TouchedT = t.gen, ts
		t.touched = append(t.touched, g)
		return
	}
	g.TouchedT = max(g.TouchedT, ts)
}

// Touched is the groups touched since Begin, in the order first touched.
func (t *Tracker) Touched() []*Group { return t.touched }

// Len is the number of series tracked and of groups.
func (t *Tracker) Len() (series, groups int) { return len(t.series), len(t.groups) }

// Sweep forgets the series last seen more than stale nanoseconds before now, and the groups left
// with none.
func (t *Tracker) Sweep(now, stale int64) {
	for k, s := range t.series {
		if now-s.LastSeen > stale {
			s.dead = true
			delete(t.series, k)
		}
	}
	for k, g := range t.groups {
		g.Num = live(g.Num)
		g.Den = live(g.Den)
		if len(g.Num) == 0 && len(g.Den) == 0 {
			delete(t.groups, k)
		}
	}
}

func live(ss []*Series) []*Series {
	out := ss[:0]
	for _, s := range ss {
		if !s.dead {
			out = append(out, s)
		}
	}
	clear(ss[len(out):])
	return out
}

// Forget drops the series of key at once (its stream ended: a staleness marker came) and returns
// the groups it leaves with no series, which are dropped too.
func (t *Tracker) Forget(key uint64) []*Group {
	s, ok := t.series[key]
	if !ok {
		return nil
	}
	s.dead = true
	delete(t.series, key)
	var emptied []*Group
	for _, g := range s.Groups {
		if g == nil {
			continue
		}
		g.Num = live(g.Num)
		g.Den = live(g.Den)
		if len(g.Num) == 0 && len(g.Den) == 0 {
			delete(t.groups, g.key)
			emptied = append(emptied, g)
		}
	}
	return emptied
}

// Any returns one tracked series (nil when there is none), for inspection.
func (t *Tracker) Any() *Series {
	for _, s := range t.series {
		return s
	}
	return nil
}
