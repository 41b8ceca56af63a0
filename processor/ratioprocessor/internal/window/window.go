// Package window owns the per-series state of the ratio processor: the recent points of each tracked
// counter, kept just long enough to answer "how much did it increase over the last w", with counter
// resets handled as Prometheus's increase() does (a drop means a restart from zero).
package window // import "github.com/otel-inference/collector/processor/ratioprocessor/internal/window"

// Point is one observation of a counter, as a cumulative value.
type Point struct {
	// T is the observation time, Unix nanoseconds.
	T int64
	V float64
	// Reset marks a point known to follow a restart (its start time moved), even if V did not drop.
	Reset bool
}

// Series is the recent history of one counter series.
type Series struct {
	points []Point
	// LastSeen is the wall-clock time (Unix nanoseconds) the series was last updated; the sweep
	// forgets series not seen for max_staleness.
	LastSeen int64
	// startT is the start time of the cumulative stream, to detect restarts that a drop would miss.
	startT int64
	// cum is the running total of a delta stream.
	cum float64
}

// Len is the number of points held.
func (s *Series) Len() int { return len(s.points) }

// AddCumulative records a cumulative observation. A point not newer than the last one is ignored
// (duplicates and stragglers cannot be placed in a counter's history).
func (s *Series) AddCumulative(t, start int64, v float64, keep int64) {
	if n := len(s.points); n > 0 && t <= s.points[n-1].T {
		return
	}
	reset := len(s.points) > 0 && start != 0 && s.startT != 0 && start != s.startT
	s.startT = start
	s.points = append(s.points, Point{T: t, V: v, Reset: reset})
	s.prune(keep)
}

// AddDelta records a delta observation covering (start, t]. The first one is preceded by a zero at its
// start, so that its own increase counts.
func (s *Series) AddDelta(t, start int64, delta float64, keep int64) {
	if n := len(s.points); n > 0 && t <= s.points[n-1].T {
		return
	}
	if len(s.points) == 0 && start > 0 && start < t {
		s.points = append(s.points, Point{T: start})
	}
	s.cum += delta
	s.points = append(s.points, Point{T: t, V: s.cum})
	s.prune(keep)
}

// prune drops points that no window of length ≤ keep ending at the newest point can need: everything
// older than the newest point at or before newest−keep.
func (s *Series) prune(keep int64) {
	n := len(s.points)
	if n < 2 {
		return
	}
	cutoff := s.points[n-1].T - keep
	i := 0
	for i+1 < n && s.points[i+1].T <= cutoff {
		i++
	}
	if i > 0 {
		s.points = append(s.points[:0], s.points[i:]...)
	}
}

// Increase is the increase of the counter over (t−w, t]: from the newest point at or before t−w (or
// the oldest point, when the series is younger than w) to the newest point at or before t, summing
// each step, where a step down (or a marked reset) counts the new value from zero. ok is false when
// fewer than two points fall in that span.
func (s *Series) Increase(t, w int64) (inc float64, ok bool) {
	from := t - w
	base := -1
	last := -1
	for i, p := range s.points {
		if p.T > t {
			break
		}
		last = i
		if p.T <= from {
			base = i
		}
	}
	if base < 0 {
		base = 0
	}
	if last <= base {
		return 0, false
	}
	for i := base + 1; i <= last; i++ {
		p, prev := s.points[i], s.points[i-1]
		if p.Reset || p.V < prev.V {
			inc += p.V
		} else {
			inc += p.V - prev.V
		}
	}
	return inc, true
}
