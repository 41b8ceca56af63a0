package ratioprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// serverScrape is one scrape of a server that reports its GPU energy and its tokens.
func serverScrape(tSec int64, joules, output, input float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("inference.server.name", "vllm-a")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	sum := func(name string) pmetric.Sum {
		m := ms.AppendEmpty()
		m.SetName(name)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s
	}
	dp := sum("inference.server.energy").DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
	dp.SetDoubleValue(joules)
	tokens := sum("inference.tokens")
	for typ, v := range map[string]float64{"output": output, "input": input} {
		dp := tokens.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
		dp.SetDoubleValue(v)
		dp.Attributes().PutStr("gen_ai.token.type", typ)
		dp.Attributes().PutStr("gen_ai.request.model", "m1")
	}
	return md
}

// The default energy-per-token rule: Δ energy / Δ output tokens, exactly, per server.
func TestEnergyPerOutputToken(t *testing.T) {
	p := newRatioProcessor(createDefaultConfig().(*Config), zap.NewNop())
	values := func(md pmetric.Metrics) []float64 {
		var out []float64
		ms := md.ResourceMetrics().At(0).ScopeMetrics()
		for i := 0; i < ms.Len(); i++ {
			for j := 0; j < ms.At(i).Metrics().Len(); j++ {
				m := ms.At(i).Metrics().At(j)
				if m.Name() == TokensEnergy {
					assert.Equal(t, "J/{token}", m.Unit())
					out = append(out, m.Gauge().DataPoints().At(0).DoubleValue())
				}
			}
		}
		return out
	}
	out, err := p.processMetrics(context.Background(), serverScrape(10, 1000, 500, 9000))
	require.NoError(t, err)
	assert.Empty(t, values(out), "one point: no window yet")
	out, err = p.processMetrics(context.Background(), serverScrape(20, 1060, 620, 9999))
	require.NoError(t, err)
	assert.Equal(t, []float64{0.5}, values(out), "60 J over 120 output tokens (input tokens do not count)")
}
