package prw // import "github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"

import (
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// defaultZeroThreshold is the zero bucket's width when the point gives none (the translator's).
const defaultZeroThreshold = 1e-128

// nativeHistogram encodes an exponential histogram point as a Prometheus native histogram
// (prompb.Histogram): scales above 8 are merged down to 8, the largest Prometheus takes; runs of
// more than two empty buckets become gaps between spans. The reset hint is left unknown.
func nativeHistogram(pt pmetric.ExponentialHistogramDataPoint) ([]byte, error) {
	scale := pt.Scale()
	if scale < -4 {
		return nil, fmt.Errorf("cannot convert exponential to native histogram. Scale must be >= -4, was %d", scale)
	}
	down := max(scale-8, 0)
	scale = min(scale, 8)
	var b []byte
	if pt.Flags().NoRecordedValue() {
		b = appendVarint(append(b, tagHCountInt), staleNaN)
		b = appendFixed64(b, tagHSum, math.Float64frombits(staleNaN))
	} else {
		b = appendVarint(append(b, tagHCountInt), pt.Count())
		if pt.HasSum() {
			b = appendFixed64(b, tagHSum, pt.Sum())
		}
	}
	b = appendVarintField(b, tagHSchema, uint64(zigzag32(scale)))
	zt := pt.ZeroThreshold()
	if zt == 0 {
		zt = defaultZeroThreshold
	}
	b = appendFixed64(b, tagHZeroThresh, zt)
	b = appendVarint(append(b, tagHZeroCountInt), pt.ZeroCount())
	b = appendBuckets(b, tagHNegSpans, tagHNegDeltas, pt.Negative(), down)
	b = appendBuckets(b, tagHPosSpans, tagHPosDeltas, pt.Positive(), down)
	return appendVarintField(b, tagHTime, uint64(ms(pt.Timestamp()))), nil //nolint:gosec // G115: two's complement varint
}

func zigzag32(v int32) uint32 { return uint32(v<<1) ^ uint32(v>>31) } //nolint:gosec // G115: zigzag encoding reinterprets the bits

type span struct {
	offset int32
	length uint32
}

// appendBuckets writes one side's spans and deltas. OTel's bucket i covers (base^(offset+i),
// base^(offset+i+1)]; Prometheus's bucket k covers (base^(k-1), base^k]: k = OTel's index + 1, after
// merging 2^down OTel buckets into one.
func appendBuckets(b []byte, spanTag, deltaTag byte, bk pmetric.ExponentialHistogramDataPointBuckets, down int32) []byte {
	counts := bk.BucketCounts()
	var (
		spans           []span
		deltas          []int64
		prev            int64
		last            int32
		cur             uint64
		curIdx          int32
		have, anyBucket bool
	)
	put := func(idx int32, c uint64) {
		if c == 0 {
			return
		}
		switch gap := idx - last - 1; {
		case !anyBucket:
			spans = append(spans, span{offset: idx, length: 1})
		case gap > 2:
			spans = append(spans, span{offset: gap, length: 1})
		default: // a short gap is filled with empty buckets
			for range gap {
				deltas = append(deltas, -prev)
				prev = 0
			}
			spans[len(spans)-1].length += uint32(gap) + 1 //nolint:gosec // G115: gap is 0..2 here
		}
		deltas = append(deltas, int64(c)-prev)      //nolint:gosec // G115: bucket counts beyond 2^63 are not real
		prev, last, anyBucket = int64(c), idx, true //nolint:gosec // G115: as above
	}
	for i := range counts.Len() {
		idx := (bk.Offset()+int32(i))>>down + 1 //nolint:gosec // G115: bucket slices are far shorter than 2^31
		if have && idx != curIdx {
			put(curIdx, cur)
			cur = 0
		}
		curIdx, have = idx, true
		cur += counts.At(i)
	}
	if have {
		put(curIdx, cur)
	}
	for _, s := range spans {
		var body []byte
		body = appendVarintField(body, tagSpanOffset, uint64(zigzag32(s.offset)))
		body = appendVarintField(body, tagSpanLength, uint64(s.length))
		b = appendBytesField(b, spanTag, body)
	}
	if len(deltas) > 0 {
		var body []byte
		for _, d := range deltas {
			body = appendVarint(body, zigzag(d))
		}
		b = appendBytesField(b, deltaTag, body)
	}
	return b
}
