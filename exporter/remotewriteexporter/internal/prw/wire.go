package prw // import "github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"

import (
	"encoding/binary"
	"math"
)

// The remote-write 1.0 wire format (prometheus.WriteRequest, prompb/types.proto), written directly.
// Fields at their zero value are left out, as proto3 encoders do; oneof members are always written.
const (
	// WriteRequest
	tagTimeseries = 1<<3 | wireBytes
	// TimeSeries
	tagLabels     = 1<<3 | wireBytes
	tagSamples    = 2<<3 | wireBytes
	tagExemplars  = 3<<3 | wireBytes
	tagHistograms = 4<<3 | wireBytes
	// Label
	tagName  = 1<<3 | wireBytes
	tagValue = 2<<3 | wireBytes
	// Sample
	tagSampleValue = 1<<3 | wireFixed64
	tagSampleTime  = 2<<3 | wireVarint
	// Exemplar
	tagExemplarValue = 2<<3 | wireFixed64
	tagExemplarTime  = 3<<3 | wireVarint
	// Histogram
	tagHCountInt     = 1<<3 | wireVarint
	tagHSum          = 3<<3 | wireFixed64
	tagHSchema       = 4<<3 | wireVarint
	tagHZeroThresh   = 5<<3 | wireFixed64
	tagHZeroCountInt = 6<<3 | wireVarint
	tagHNegSpans     = 8<<3 | wireBytes
	tagHNegDeltas    = 9<<3 | wireBytes
	tagHPosSpans     = 11<<3 | wireBytes
	tagHPosDeltas    = 12<<3 | wireBytes
	tagHTime         = 15<<3 | wireVarint
	// BucketSpan
	tagSpanOffset = 1<<3 | wireVarint
	tagSpanLength = 2<<3 | wireVarint

	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
)

// 2.0 tags (io.prometheus.write.v2): Request.symbols 4, timeseries 5; TimeSeries.labels_refs 1,
// samples 2 (as 1.0's), histograms 3, exemplars 4, metadata 5; Exemplar.labels_refs 1, value 2, timestamp 3;
// Metadata.type 1, help_ref 3, unit_ref 4.
const (
	tagV2Symbols    = 4<<3 | wireBytes
	tagV2Timeseries = 5<<3 | wireBytes
	tagV2Refs       = 1<<3 | wireBytes
	tagV2Histograms = 3<<3 | wireBytes
	tagV2Exemplars  = 4<<3 | wireBytes
	tagV2Metadata   = 5<<3 | wireBytes
	tagV2MetaType   = 1<<3 | wireVarint
	tagV2MetaHelp   = 3<<3 | wireVarint
	tagV2MetaUnit   = 4<<3 | wireVarint
)

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) } //nolint:gosec // G115: zigzag encoding reinterprets the bits

func appendFixed64(b []byte, tag byte, v float64) []byte {
	bits := math.Float64bits(v)
	if bits == 0 {
		return b
	}
	b = append(b, tag)
	return binary.LittleEndian.AppendUint64(b, bits)
}

func appendVarintField(b []byte, tag byte, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarint(append(b, tag), v)
}

func appendString(b []byte, tag byte, s string) []byte {
	if s == "" {
		return b
	}
	b = appendVarint(append(b, tag), uint64(len(s)))
	return append(b, s...)
}

// appendBytesField writes a length-delimited field (an embedded message, already encoded).
func appendBytesField(b []byte, tag byte, msg []byte) []byte {
	b = appendVarint(append(b, tag), uint64(len(msg)))
	return append(b, msg...)
}

// appendLabel writes one Label as a repeated message field (field 1 in both TimeSeries and Exemplar).
func appendLabel(b []byte, name, value string) []byte {
	n := 0
	if name != "" {
		n += 1 + varintLen(uint64(len(name))) + len(name)
	}
	if value != "" {
		n += 1 + varintLen(uint64(len(value))) + len(value)
	}
	b = appendVarint(append(b, tagLabels), uint64(n))
	b = appendString(b, tagName, name)
	return appendString(b, tagValue, value)
}

// eachLabel reads back labels encoded by appendLabel (subslices of b: nothing is copied).
func eachLabel(b []byte, fn func(name, value []byte)) {
	for len(b) > 0 {
		n, w := binary.Uvarint(b[1:]) // after the tag
		msg := b[1+w : 1+w+int(n)]    //nolint:gosec // G115: our own encoding
		b = b[1+w+int(n):]            //nolint:gosec // G115: as above
		var name, value []byte
		for len(msg) > 0 {
			l, w := binary.Uvarint(msg[1:])
			field := msg[1+w : 1+w+int(l)] //nolint:gosec // G115: as above
			if msg[0] == tagName {
				name = field
			} else {
				value = field
			}
			msg = msg[1+w+int(l):] //nolint:gosec // G115: as above
		}
		fn(name, value)
	}
}

// sampleLen is the encoded size of a Sample message's body.
func sampleLen(s sample) int {
	n := 0
	if math.Float64bits(s.v) != 0 {
		n += 9
	}
	if s.t != 0 {
		n += 1 + varintLen(uint64(s.t)) //nolint:gosec // G115: int64 timestamps are written as their two's complement varint, as protobuf does
	}
	return n
}

func appendSample(b []byte, s sample) []byte {
	b = appendVarint(append(b, tagSamples), uint64(sampleLen(s)))
	b = appendFixed64(b, tagSampleValue, s.v)
	return appendVarintField(b, tagSampleTime, uint64(s.t)) //nolint:gosec // G115: see sampleLen
}
