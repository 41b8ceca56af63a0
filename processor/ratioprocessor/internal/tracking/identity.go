package tracking // import "github.com/otel-inference/collector/processor/ratioprocessor/internal/tracking"

import (
	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Stream is the identity of a stream as the data model defines it, less the point's attributes:
// resource, scope (name, version, attributes), metric name, unit and type. Resource and Scope are the
// hashes of their parts (ResourceHash, ScopeHash), computed once per resource and scope; Seed is
// computed once per metric, and Key once per point.
type Stream struct {
	Resource, Scope uint64
	Name, Unit      string
	Type            pmetric.MetricType
}

// ResourceHash hashes a resource's attributes.
func ResourceHash(r pcommon.Resource) uint64 { return MapHash(r.Attributes(), 0x5eed) }

// ScopeHash hashes a scope's name, version and attributes.
func ScopeHash(s pcommon.InstrumentationScope) uint64 {
	return MapHash(s.Attributes(), mix(xxhash.Sum64String(s.Name()))^xxhash.Sum64String(s.Version()))
}

// Seed hashes the stream's identity, for Key. Each part is hashed on its own and mixed in, so parts
// cannot run together.
func (st Stream) Seed() uint64 {
	h := mix(st.Resource ^ 0x9e3779b97f4a7c15)
	h = mix(h ^ st.Scope)
	h = mix(h ^ xxhash.Sum64String(st.Name))
	h = mix(h ^ xxhash.Sum64String(st.Unit))
	return mix(h ^ uint64(st.Type))
}

// Key is the key of one point's stream: the stream's Seed and the point's attributes. salt
// separates streams a caller tracks more than once (a histogram followed by two rules with different
// thresholds).
func Key(seed uint64, attrs pcommon.Map, salt uint64) uint64 {
	return MapHash(attrs, seed^mix(salt+1))
}

// MapHash hashes a map's entries independently of their order (a sum of mixed per-entry hashes),
// seeded with seed. Values of different types that print alike hash apart. It does not allocate for
// string values.
func MapHash(m pcommon.Map, seed uint64) uint64 {
	h := mix(seed) + uint64(m.Len())
	for k, v := range m.All() {
		var vh uint64
		if v.Type() == pcommon.ValueTypeStr {
			vh = xxhash.Sum64String(v.Str())
		} else {
			vh = xxhash.Sum64String(v.AsString()) ^ uint64(v.Type())
		}
		h += mix(xxhash.Sum64String(k) ^ (vh<<1 | vh>>63))
	}
	return mix(h)
}

// GroupKey is the key of a rule's output group: the resource, the rule and the values of its group_by
// attributes (a missing attribute differs from an empty one).
func GroupKey(resource uint64, rule string, groupBy []string, attrs pcommon.Map) uint64 {
	var d xxhash.Digest
	d.Reset()
	var b [8]byte
	for j := range b {
		b[j] = byte(resource >> (8 * j))
	}
	_, _ = d.Write(b[:])
	_, _ = d.WriteString(rule)
	for _, k := range groupBy {
		_, _ = d.Write([]byte{0})
		if v, ok := attrs.Get(k); ok {
			_, _ = d.WriteString(k)
			_, _ = d.Write([]byte{1})
			_, _ = d.WriteString(v.AsString())
		}
	}
	return d.Sum64()
}

// mix is a 64-bit finaliser (MurmurHash3's), so that sums of entry hashes spread well.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
