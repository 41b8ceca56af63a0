// Package window owns the per-series state of the ratio processor: the recent points of each tracked
// counter, kept just long enough to answer "how much did it increase over the last w", with counter
// resets handled as Prometheus's increase() does (a drop means a restart from zero).
//
// Each point stores the series' running increase since it was first seen (resets already folded in),
// so the increase over any window is one subtraction after a binary search, whatever the window's
// length.
package window // import "github.com/otel-inference/collector/processor/ratioprocessor/internal/window"

// Point is one observation: its time and the running increases of the counter (R) and of its paired
// counter (RW), resets folded in.
type Point struct {
	// T is the observation time, Unix nanoseconds.
	T     int64
	R, RW float64
}

// Series is the recent history of one counter, optionally paired with a second counter W that
// restarts with it (a histogram's observations in a range, beside its count). Points live in a ring
// whose capacity is the window's point count rounded up to a power of two.
type Series struct {
	ring  []Point
	start int // index of the oldest point in ring
	n     int // points held

	// LastSeen is the wall-clock time (Unix nanoseconds) the series was last updated; the sweep
	// forgets series not seen for max_staleness.
	LastSeen int64

	lastV, lastW float64 // the raw values of the newest point
	startT       int64   // start time of the cumulative stream, to see restarts a drop would miss
}

// Len is the number of points held.
func (s *Series) Len() int { return s.n }

// Cap is the ring's capacity in points (what the series' memory holds).
func (s *Series) Cap() int { return len(s.ring) }

// at is the i-th oldest point held.
func (s *Series) at(i int) *Point { return &s.ring[(s.start+i)&(len(s.ring)-1)] }

func (s *Series) push(p Point) {
	if s.n == len(s.ring) {
		grown := make([]Point, max(4, 2*len(s.ring)))
		for i := 0; i < s.n; i++ {
			grown[i] = *s.at(i)
		}
		s.ring, s.start = grown, 0
	}
	*s.at(s.n) = p
	s.n++
}

// AddCumulative records a cumulative observation (v, and w for a paired counter). A point not newer
// than the last one is ignored (duplicates and stragglers cannot be placed in a counter's history).
// A value that went down, or a start time that moved, is a restart: the new value counts from zero.
func (s *Series) AddCumulative(t, start int64, v, w float64, keep int64) {
	if s.n == 0 {
		s.lastV, s.lastW, s.startT = v, w, start
		s.push(Point{T: t})
		return
	}
	last := *s.at(s.n - 1)
	if t <= last.T {
		return
	}
	dv, dw := v-s.lastV, w-s.lastW
	if dv < 0 || dw < 0 || (start != 0 && s.startT != 0 && start != s.startT) {
		dv, dw = v, w
	}
	s.lastV, s.lastW, s.startT = v, w, start
	s.push(Point{T: t, R: last.R + dv, RW: last.RW + dw})
	s.prune(keep)
}

// AddDelta records a delta observation covering (start, t]. The first one is preceded by a zero at its
// start, so that its own increase counts.
func (s *Series) AddDelta(t, start int64, dv, dw float64, keep int64) {
	if s.n == 0 {
		if start <= 0 || start >= t {
			s.push(Point{T: t}) // no place for its increase: a baseline
			return
		}
		s.push(Point{T: start})
	}
	last := *s.at(s.n - 1)
	if t <= last.T {
		return
	}
	s.push(Point{T: t, R: last.R + dv, RW: last.RW + dw})
	s.prune(keep)
}

// Clear forgets the history (a histogram whose bucket layout changed cannot be compared with it).
func (s *Series) Clear() {
	s.start, s.n = 0, 0
	s.lastV, s.lastW, s.startT = 0, 0, 0
}

// prune drops points that no window of length ≤ keep ending at the newest point can need: everything
// older than the newest point at or before newest−keep.
func (s *Series) prune(keep int64) {
	cutoff := s.at(s.n-1).T - keep
	for s.n > 1 && s.at(1).T <= cutoff {
		s.start = (s.start + 1) & (len(s.ring) - 1)
		s.n--
	}
}

// Increase is the increase of the counter over (t−w, t]: from the newest point at or before t−w (or
// the oldest point, when the series is younger than w) to the newest point at or before t. ok is false
// when fewer than two points fall in that span. incW is the paired counter's increase.
func (s *Series) Increase(t, w int64) (inc, incW float64, ok bool) {
	last := s.newestAtOrBefore(t)
	base := max(s.newestAtOrBefore(t-w), 0)
	if last <= base {
		return 0, 0, false
	}
	pl, pb := s.at(last), s.at(base)
	return pl.R - pb.R, pl.RW - pb.RW, true
}

// newestAtOrBefore is the index of the newest point with T ≤ t, or -1 (binary search).
func (s *Series) newestAtOrBefore(t int64) int {
	lo, hi := 0, s.n // the answer is lo-1 once lo == hi: points [0, lo) have T ≤ t
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.at(mid).T <= t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}
