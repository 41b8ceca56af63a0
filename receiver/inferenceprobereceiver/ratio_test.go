package inferenceprobereceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otel-inference/collector/processor/ratioprocessor"
)

// The ratio processor's default rule on this receiver's output: inference.probe.pass_ratio is
// passes over all checks since the first report, exactly, with a fail and the first error of each
// kind counted from their first occurrence (pass and fail are reported at zero from the start; a
// series born later is reported at zero at the previous report's time too).
func TestDefaultPassRatioExact(t *testing.T) {
	f := newFakeOpenAI(t)
	r := newTestReceiver(t, nil, mathChat(f.url(), "m", ExpectConfig{Equals: "4"}))

	factory := ratioprocessor.NewFactory()
	sink := &consumertest.MetricsSink{}
	proc, err := factory.CreateMetrics(context.Background(), processortest.NewNopSettings(factory.Type()), factory.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), nil))
	defer func() { require.NoError(t, proc.Shutdown(context.Background())) }()

	ratio := func() (float64, bool) {
		all := sink.AllMetrics()
		md := all[len(all)-1]
		var v float64
		found := false
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				for k := 0; k < sms.At(j).Metrics().Len(); k++ {
					m := sms.At(j).Metrics().At(k)
					if m.Name() == ratioprocessor.ProbePassRatio {
						require.Equal(t, pmetric.MetricTypeGauge, m.Type())
						dp := m.Gauge().DataPoints().At(0)
						got, _ := dp.Attributes().Get("inference.probe.name")
						assert.Equal(t, "math", got.Str())
						v, found = dp.DoubleValue(), true
					}
				}
			}
		}
		return v, found
	}
	step := func(answer, mode string) {
		f.set(func(f *fakeOpenAI) { f.answer, f.mode = answer, mode })
		md, _ := scrape(t, r)
		require.NoError(t, proc.ConsumeMetrics(context.Background(), md))
	}
	step("4", "") // the baseline: pass 1, fail 0
	_, ok := ratio()
	assert.False(t, ok, "one report: no window yet")
	// After the baseline: fail, pass, a 500, pass, a 500, a timeout-free 429.
	want := []float64{0.0 / 1, 1.0 / 2, 1.0 / 3, 2.0 / 4, 2.0 / 5, 2.0 / 6}
	for i, s := range []struct{ answer, mode string }{{"5", ""}, {"4", ""}, {"4", "500"}, {"4", ""}, {"4", "500"}, {"4", "429"}} {
		step(s.answer, s.mode)
		got, ok := ratio()
		require.True(t, ok, "step %d", i)
		assert.InDelta(t, want[i], got, 1e-12, "step %d (%s%s)", i, s.answer, s.mode)
	}
}
