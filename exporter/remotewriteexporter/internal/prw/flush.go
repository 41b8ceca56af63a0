package prw // import "github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"

import (
	"cmp"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Protocol is the remote-write version Flush writes.
type Protocol int

const (
	// V1 is remote write 1.0 (prometheus.WriteRequest).
	V1 Protocol = iota
	// V2 is remote write 2.0 (io.prometheus.write.v2.Request): interned symbols, and each series'
	// type, help and unit.
	V2
)

// Pending is how many samples (and native histograms) the pending requests hold.
func (e *Encoder) Pending() int {
	n := 0
	for _, s := range e.pending {
		n += len(s.samples)
		if s.more != nil {
			n += len(s.more.hists)
		}
	}
	return n
}

// Flush writes what was added since the last Flush as requests of protocol p with at most
// maxSamples samples each (native histograms count as samples) and hands each to emit with its
// sample count; raw is reused after emit returns. Each series' samples go in time order; a series
// with more than maxSamples is cut into consecutive pieces. When emit returns false Flush stops,
// drops the rest and returns false. Streams not seen for StaleAfter are then forgotten.
func (e *Encoder) Flush(p Protocol, maxSamples int, emit func(raw []byte, samples int) bool) bool {
	defer e.clearPending()
	maxSamples = max(maxSamples, 1)
	e.body = e.body[:0]
	if p == V2 {
		e.sym.begin()
	}
	n := 0
	send := func() bool {
		if n == 0 {
			return true
		}
		raw := e.body
		if p == V2 {
			raw = e.sym.appendTable(e.out[:0])
			raw = append(raw, e.body...)
			e.out = raw
		}
		ok := emit(raw, n)
		e.body, n = e.body[:0], 0
		if p == V2 {
			e.sym.begin()
		}
		return ok
	}
	for _, s := range e.pending {
		if !slices.IsSortedFunc(s.samples, bySampleTime) {
			slices.SortStableFunc(s.samples, bySampleTime)
		}
		samples := s.samples
		var hists [][]byte
		var exemplars []exemplar
		if s.more != nil {
			hists, exemplars = s.more.hists, s.more.exemplars
		}
		for len(samples) > 0 || len(hists) > 0 {
			room := maxSamples - n
			if room <= 0 {
				if !send() {
					return false
				}
				room = maxSamples
			}
			take := min(room, len(samples))
			h := 0
			if take < room {
				h = min(room-take, len(hists))
			}
			if p == V2 {
				e.body = e.appendSeriesV2(e.body, s, samples[:take], exemplars, hists[:h])
			} else {
				e.body = e.appendSeriesV1(e.body, s, samples[:take], exemplars, hists[:h])
			}
			samples, hists, exemplars = samples[take:], hists[h:], nil
			n += take + h
		}
	}
	ok := send()
	e.sweep()
	return ok
}

func bySampleTime(a, b sample) int { return cmp.Compare(a.t, b.t) }

func (e *Encoder) appendSeriesV1(b []byte, s *series, samples []sample, exemplars []exemplar, hists [][]byte) []byte {
	e.sbuf = e.appendLabels(e.sbuf[:0], s)
	body := e.sbuf
	for _, smp := range samples {
		body = appendSample(body, smp)
	}
	for _, ex := range exemplars {
		var x []byte
		for _, l := range ex.ls {
			x = appendLabel(x, l.name, l.value)
		}
		x = appendFixed64(x, tagExemplarValue, ex.v)
		x = appendVarintField(x, tagExemplarTime, uint64(ex.t)) //nolint:gosec // G115: two's complement varint, as protobuf writes int64
		body = appendBytesField(body, tagExemplars, x)
	}
	for _, h := range hists {
		body = appendBytesField(body, tagHistograms, h)
	}
	e.sbuf = body
	return appendBytesField(b, tagTimeseries, body)
}

func (e *Encoder) appendSeriesV2(b []byte, s *series, samples []sample, exemplars []exemplar, hists [][]byte) []byte {
	body := e.appendLabelRefs(e.sbuf[:0], s.labels)
	for _, smp := range samples {
		body = appendSample(body, smp) // Sample: value 1, timestamp 2, as in 1.0
	}
	for _, h := range hists {
		body = appendBytesField(body, tagV2Histograms, h)
	}
	for _, ex := range exemplars {
		ls := slices.Clone(ex.ls)
		sortLabels(ls)
		var refs []uint32
		for _, l := range ls {
			refs = append(refs, e.sym.transient(l.name), e.sym.transient(l.value))
		}
		x := appendPacked(nil, tagV2Refs, refs)
		x = appendFixed64(x, tagExemplarValue, ex.v)
		x = appendVarintField(x, tagExemplarTime, uint64(ex.t)) //nolint:gosec // G115: two's complement varint
		body = appendBytesField(body, tagV2Exemplars, x)
	}
	m := s.meta
	if m.syms[0] == 0 {
		m.syms = [2]uint32{e.sym.global(m.help) + 1, e.sym.global(m.unit) + 1}
	}
	var mb []byte
	mb = appendVarintField(mb, tagV2MetaType, uint64(m.typ))
	mb = appendVarintField(mb, tagV2MetaHelp, uint64(e.sym.local(m.syms[0]-1)))
	mb = appendVarintField(mb, tagV2MetaUnit, uint64(e.sym.local(m.syms[1]-1)))
	body = appendBytesField(body, tagV2Metadata, mb)
	e.sbuf = body
	return appendBytesField(b, tagV2Timeseries, body)
}

// appendLabelRefs writes a series' labels as this request's symbol references, packed (a pair's
// global symbols are found once).
func (e *Encoder) appendLabelRefs(b []byte, ids []uint32) []byte {
	refs := e.refs[:0]
	for _, id := range ids {
		sy := &e.pairs.syms[id]
		if sy[0] == 0 {
			eachLabel([]byte(e.pairs.enc[id]), func(name, value []byte) {
				sy[0], sy[1] = e.sym.globalBytes(name)+1, e.sym.globalBytes(value)+1
			})
		}
		refs = append(refs, e.sym.local(sy[0]-1), e.sym.local(sy[1]-1))
	}
	e.refs = refs
	return appendPacked(b, tagV2Refs, refs)
}

func appendPacked(b []byte, tag byte, refs []uint32) []byte {
	if len(refs) == 0 {
		return b
	}
	size := 0
	for _, r := range refs {
		size += varintLen(uint64(r))
	}
	b = appendVarint(append(b, tag), uint64(size))
	for _, r := range refs {
		b = appendVarint(b, uint64(r))
	}
	return b
}

func (e *Encoder) clearPending() {
	for _, s := range e.pending {
		s.samples, s.pending = s.samples[:0], false
		if s.more != nil {
			s.more.hists, s.more.exemplars = s.more.hists[:0], nil
		}
		if cap(s.samples) > 64 {
			s.samples = nil // one large backlog does not keep its memory
		}
	}
	clear(e.pending)
	e.pending = e.pending[:0]
}

// sweep forgets the streams not seen for StaleAfter (at most every quarter of it), the series only
// they used, and the symbols only those used.
func (e *Encoder) sweep() {
	stale := e.set.StaleAfter.Nanoseconds()
	if e.clock-e.lastSweep < stale/4 {
		return
	}
	e.lastSweep = e.clock
	cutoff := e.clock - stale
	dropped := false
	for k, ent := range e.entries {
		if ent.seen < cutoff {
			delete(e.entries, k)
			dropped = true
		}
	}
	for k, sc := range e.scopes {
		if sc.seen < cutoff {
			delete(e.scopes, k) // its ID is not given again: keys that hold it are gone too
		}
	}
	if !dropped {
		return
	}
	// The series the remaining streams use are indexed again, with the label pairs they use; the
	// rest are let go.
	clear(e.byLabels)
	e.nseries = 0
	old := e.pairs
	e.pairs = pairs{}
	seen := make(map[*series]bool, len(e.entries))
	keep := func(s *series) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		for i, id := range s.labels {
			s.labels[i] = e.pairs.intern([]byte(old.enc[id]))
		}
		s.next, s.meta.syms = nil, [2]uint32{}
		e.lbuf = e.appendLabels(e.lbuf[:0], s)
		e.insert(xxhash.Sum64(e.lbuf), s)
	}
	for _, ent := range e.entries {
		keep(ent.one)
		if ent.group != nil {
			keep(ent.sum)
			keep(ent.count)
			for _, s := range ent.buckets {
				keep(s)
			}
		}
	}
	for _, r := range e.names { // the metadata that returning streams will be given
		if r.meta != nil {
			r.meta.syms = [2]uint32{}
		}
	}
	e.infoMeta.syms = [2]uint32{}
	e.sym.reset()
}

// symbols is the 2.0 symbol table. The names and values of label pairs, and help and unit texts, get
// a global reference once (kept by the pair and by the metadata), and each request numbers the ones it uses from 0 ("" is always 0, as
// 2.0 requires) through a dense array, with no map lookup on the steady path. Exemplar labels (trace
// IDs: new every time) are numbered for their request only, and not kept.
type symbols struct {
	ids   map[string]uint32
	strs  []string
	stamp []uint32 // the request in which each string got its local number
	loc   []uint32
	gen   uint32
	order []string // this request's strings, by local number
	extra map[string]uint32
}

func (s *symbols) reset() {
	clear(s.ids)
	s.strs, s.stamp, s.loc, s.gen = s.strs[:0], s.stamp[:0], s.loc[:0], 0
}

// globalBytes is global for a string in a scratch buffer (copied only when new).
func (s *symbols) globalBytes(b []byte) uint32 {
	if id, ok := s.ids[string(b)]; ok {
		return id
	}
	return s.global(string(b))
}

func (s *symbols) global(str string) uint32 {
	if s.ids == nil {
		s.ids = map[string]uint32{}
	}
	if id, ok := s.ids[str]; ok {
		return id
	}
	id := uint32(len(s.strs)) //nolint:gosec // G115: fewer than 2^32 distinct strings
	s.ids[str] = id
	s.strs = append(s.strs, str)
	s.stamp = append(s.stamp, 0)
	s.loc = append(s.loc, 0)
	return id
}

// begin starts a request's numbering.
func (s *symbols) begin() {
	s.gen++
	if s.gen == 0 { // wrapped: no stamp may look current
		clear(s.stamp)
		s.gen = 1
	}
	s.order = s.order[:0]
	clear(s.extra)
	s.local(s.global(""))
}

// transient numbers a string for this request only.
func (s *symbols) transient(str string) uint32 {
	if g, ok := s.ids[str]; ok {
		return s.local(g)
	}
	if n, ok := s.extra[str]; ok {
		return n
	}
	if s.extra == nil {
		s.extra = map[string]uint32{}
	}
	n := uint32(len(s.order)) //nolint:gosec // G115: as in global
	s.extra[str] = n
	s.order = append(s.order, str)
	return n
}

func (s *symbols) local(g uint32) uint32 {
	if s.stamp[g] != s.gen {
		s.stamp[g] = s.gen
		s.loc[g] = uint32(len(s.order)) //nolint:gosec // G115: as in global
		s.order = append(s.order, s.strs[g])
	}
	return s.loc[g]
}

// appendTable writes this request's symbols (Request.symbols, in local order).
func (s *symbols) appendTable(b []byte) []byte {
	for _, str := range s.order {
		b = appendVarint(append(b, tagV2Symbols), uint64(len(str)))
		b = append(b, str...)
	}
	return b
}
