package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
)

type deviceAttrs struct {
	id, name, index, parent string
	vendor                  string // "" is nvidia
	// owner is the one Kubernetes container the GPU is allocated to (owned), from the kubelet.
	owner kubepod.Owner
	owned bool
}

func (a deviceAttrs) put(m pcommon.Map) {
	m.PutStr("hw.id", a.id)
	m.PutStr("hw.name", a.name)
	if a.vendor == "" {
		m.PutStr("hw.vendor", "nvidia")
	} else {
		m.PutStr("hw.vendor", a.vendor)
	}
	if a.index != "" {
		m.PutStr("nvidia.gpu.index", a.index)
	}
	if a.parent != "" {
		m.PutStr("hw.parent", a.parent)
	}
	if a.owned {
		m.PutStr("k8s.namespace.name", a.owner.Namespace)
		m.PutStr("k8s.pod.name", a.owner.Pod)
		if a.owner.Container != "" {
			m.PutStr("k8s.container.name", a.owner.Container)
		}
	}
}

// metricSet appends points to metrics created on first use, one metric per name.
type metricSet struct {
	ms        pmetric.MetricSlice
	ts, start pcommon.Timestamp
	byName    map[string]pmetric.Metric
}

func newMetricSet(ms pmetric.MetricSlice, ts, start pcommon.Timestamp) *metricSet {
	s := &metricSet{ms: ms, ts: ts, start: start, byName: map[string]pmetric.Metric{}}
	// Another reader (NVIDIA, AMD) may have filled ms already: its metrics take the points of this one.
	for i := 0; i < ms.Len(); i++ {
		s.byName[ms.At(i).Name()] = ms.At(i)
	}
	return s
}

// metric is the metric d of this scrape, made on first use as metadata.yaml declares it.
func (s *metricSet) metric(d names.Metric) pmetric.Metric {
	if m, ok := s.byName[d.Name]; ok {
		return m
	}
	m := s.ms.AppendEmpty()
	m.SetName(d.Name)
	m.SetUnit(d.Unit)
	m.SetDescription(d.Description)
	if d.Type == names.Sum {
		sm := m.SetEmptySum()
		sm.SetIsMonotonic(d.Monotonic)
		sm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	} else {
		m.SetEmptyGauge()
	}
	s.byName[d.Name] = m
	return m
}

// record records a point of d with the device's attributes and extra key/value pairs: a gauge, or a
// cumulative sum counted since the driver or the collector started.
func (s *metricSet) record(d names.Metric, a deviceAttrs, v float64, kv ...string) {
	m := s.metric(d)
	var dp pmetric.NumberDataPoint
	if m.Type() == pmetric.MetricTypeSum {
		dp = m.Sum().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(s.start)
	} else {
		dp = m.Gauge().DataPoints().AppendEmpty()
	}
	dp.SetTimestamp(s.ts)
	dp.SetDoubleValue(v)
	a.put(dp.Attributes())
	if strings.HasPrefix(d.Name, "hw.") {
		// semconv requires hw.type on hw.errors, hw.power and hw.energy; every hw.* point has it.
		dp.Attributes().PutStr(names.AttrHwType, "gpu")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		dp.Attributes().PutStr(kv[i], kv[i+1])
	}
}
