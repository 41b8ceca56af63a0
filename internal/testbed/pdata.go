package testbed

import "go.opentelemetry.io/collector/pdata/pmetric"

// NumberPoints is the points of a sum or a gauge (an empty slice for any other type), for tests and
// checks that read numbers without caring which of the two a metric is.
func NumberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints()
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints()
	default:
		return pmetric.NewNumberDataPointSlice()
	}
}
