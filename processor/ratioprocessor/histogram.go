package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"

import (
	"math"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// histogramPoint is what a histogram rule reads of a point, explicit or exponential (exactly one of
// explicit and exponential is set).
type histogramPoint struct {
	explicit    pmetric.HistogramDataPoint
	exponential pmetric.ExponentialHistogramDataPoint
	isExplicit  bool
}

func (h histogramPoint) attrs() pcommon.Map {
	if h.isExplicit {
		return h.explicit.Attributes()
	}
	return h.exponential.Attributes()
}

// stale reports a staleness marker (no recorded value).
func (h histogramPoint) stale() bool {
	if h.isExplicit {
		return h.explicit.Flags().NoRecordedValue()
	}
	return h.exponential.Flags().NoRecordedValue()
}

// layout identifies the bucket layout: a window of counts is only comparable within one.
func (h histogramPoint) layout() uint64 {
	if h.isExplicit {
		return layoutOf(h.explicit.ExplicitBounds())
	}
	return uint64(int64(h.exponential.Scale())) + 1
}

func (h histogramPoint) times() (t, start int64) {
	if h.isExplicit {
		return int64(h.explicit.Timestamp()), int64(h.explicit.StartTimestamp())
	}
	return int64(h.exponential.Timestamp()), int64(h.exponential.StartTimestamp())
}

func (h histogramPoint) count() float64 {
	if h.isExplicit {
		return float64(h.explicit.Count())
	}
	return float64(h.exponential.Count())
}

func (h histogramPoint) countAtMost(x float64) float64 {
	if h.isExplicit {
		return countAtMost(h.explicit.ExplicitBounds(), h.explicit.BucketCounts(), x)
	}
	return exponentialCountAtMost(h.exponential, x)
}

// countAtMost is how many observations of an explicit-bucket histogram are ≤ x. Buckets are
// (bound[i-1], bound[i]]; when x is a bound the answer is exact, otherwise the bucket holding x is
// assumed uniform and interpolated linearly. The first bucket is taken to start at 0 when its bound is
// positive (as Prometheus's histogram_quantile does), and nothing in the last, unbounded bucket is
// counted as ≤ x.
func countAtMost(bounds pcommon.Float64Slice, counts pcommon.UInt64Slice, x float64) float64 {
	total := 0.0
	n := bounds.Len()
	for i := 0; i < counts.Len(); i++ {
		c := float64(counts.At(i))
		if i >= n {
			break // the (last bound, +Inf) bucket
		}
		upper := bounds.At(i)
		if x >= upper {
			total += c
			continue
		}
		lower := 0.0
		if i > 0 {
			lower = bounds.At(i - 1)
		} else if upper <= 0 {
			return total // no known lower edge: count nothing of this bucket
		}
		if x > lower && upper > lower {
			total += c * (x - lower) / (upper - lower)
		}
		return total
	}
	return total
}

// layoutOf identifies a histogram's bucket layout: a history of counts is only comparable with
// counts of the same layout.
func layoutOf(bounds pcommon.Float64Slice) uint64 {
	var d xxhash.Digest
	d.Reset()
	var b [8]byte
	for i := 0; i < bounds.Len(); i++ {
		u := math.Float64bits(bounds.At(i))
		for j := range b {
			b[j] = byte(u >> (8 * j))
		}
		_, _ = d.Write(b[:])
	}
	return d.Sum64()
}

// exponentialCountAtMost is countAtMost for an exponential histogram: bucket index i at scale s
// covers (base^i, base^(i+1)] with base = 2^(2^-s); the bucket holding x is interpolated linearly.
// Zero and negative observations are ≤ x for any x ≥ 0 (and none of them otherwise: negative
// thresholds are not interpolated).
func exponentialCountAtMost(dp pmetric.ExponentialHistogramDataPoint, x float64) float64 {
	if x < 0 {
		return 0
	}
	total := float64(dp.ZeroCount())
	neg := dp.Negative().BucketCounts()
	for i := 0; i < neg.Len(); i++ {
		total += float64(neg.At(i))
	}
	base := math.Exp2(math.Exp2(-float64(dp.Scale())))
	pos := dp.Positive()
	counts := pos.BucketCounts()
	offset := int(pos.Offset())
	for i := 0; i < counts.Len(); i++ {
		c := float64(counts.At(i))
		lower := math.Pow(base, float64(offset+i))
		upper := lower * base
		if x >= upper {
			total += c
			continue
		}
		if x > lower {
			total += c * (x - lower) / (upper - lower)
		}
		break
	}
	return total
}
