package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// descriptions of the GPU metrics.
var descriptions = map[string]string{
	"hw.gpu.utilization":              "Fraction of time the GPU's engine (hw.gpu.task: general, encoder, decoder) was busy, 0..1.",
	"hw.gpu.memory.usage":             "GPU memory in use.",
	"hw.gpu.memory.limit":             "GPU memory in total.",
	"hw.gpu.memory.utilization":       "GPU memory in use over its total, 0..1.",
	"nvidia.gpu.memory.busy":          "Fraction of time the memory controller was busy, 0..1 (not the memory used).",
	"hw.power":                        "Power drawn now.",
	"hw.energy":                       "Energy consumed since the driver loaded.",
	"hw.temperature":                  "GPU temperature.",
	"nvidia.gpu.clock.frequency":      "Clock frequency (nvidia.gpu.clock.type: sm, memory).",
	"nvidia.gpu.clock_event.active":   "1 while the clock event (throttle) reason holds.",
	"hw.errors":                       "Hardware errors, by error.type (ecc_corrected, ecc_uncorrected, remapped_row_*, xid with nvidia.gpu.xid).",
	"nvidia.gpu.pcie.throughput":      "PCIe throughput, by network.io.direction.",
	"nvidia.gpu.process.memory.usage": "GPU memory a process uses, with process.pid and, for a configured server, inference.server.name.",
	"nvidia.gpu.process.utilization":  "SM utilisation of a process since the last scrape, 0..1.",
}

type deviceAttrs struct {
	id, name, index, parent string
}

func (a deviceAttrs) put(m pcommon.Map) {
	m.PutStr("hw.id", a.id)
	m.PutStr("hw.name", a.name)
	m.PutStr("hw.vendor", "nvidia")
	if a.index != "" {
		m.PutStr("nvidia.gpu.index", a.index)
	}
	if a.parent != "" {
		m.PutStr("hw.parent", a.parent)
	}
}

// metricSet appends points to metrics created on first use, one metric per name.
type metricSet struct {
	ms        pmetric.MetricSlice
	ts, start pcommon.Timestamp
	byName    map[string]pmetric.Metric
}

func newMetricSet(ms pmetric.MetricSlice, ts, start pcommon.Timestamp) *metricSet {
	return &metricSet{ms: ms, ts: ts, start: start, byName: map[string]pmetric.Metric{}}
}

func (s *metricSet) metric(name, unit string, sum bool) pmetric.Metric {
	if m, ok := s.byName[name]; ok {
		return m
	}
	m := s.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(descriptions[name])
	if sum {
		sm := m.SetEmptySum()
		sm.SetIsMonotonic(true)
		sm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	} else {
		m.SetEmptyGauge()
	}
	s.byName[name] = m
	return m
}

// gauge records a gauge point with the device's attributes and extra key/value pairs.
func (s *metricSet) gauge(name, unit string, a deviceAttrs, v float64, kv ...string) {
	dp := s.metric(name, unit, false).Gauge().DataPoints().AppendEmpty()
	s.fill(dp, a, v, kv)
}

// sum records a cumulative sum point (counted since the driver or the collector started).
func (s *metricSet) sum(name, unit string, a deviceAttrs, v float64, kv ...string) {
	dp := s.metric(name, unit, true).Sum().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(s.start)
	s.fill(dp, a, v, kv)
}

func (s *metricSet) fill(dp pmetric.NumberDataPoint, a deviceAttrs, v float64, kv []string) {
	dp.SetTimestamp(s.ts)
	dp.SetDoubleValue(v)
	a.put(dp.Attributes())
	for i := 0; i+1 < len(kv); i += 2 {
		dp.Attributes().PutStr(kv[i], kv[i+1])
	}
}
