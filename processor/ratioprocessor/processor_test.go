package ratioprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/processor/ratioprocessor/internal/metadata"
)

const sec = int64(time.Second)

type counts struct{ success, errors, aborted float64 }

// batch builds one scrape of inference.requests for one server and model.
func batch(server string, tSec int64, startSec int64, c counts) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("server.address", server)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("inference.requests")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for outcome, v := range map[string]float64{"success": c.success, "error": c.errors, "aborted": c.aborted} {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(tSec * sec))
		dp.SetStartTimestamp(pcommon.Timestamp(startSec * sec))
		dp.SetDoubleValue(v)
		dp.Attributes().PutStr("gen_ai.request.model", "m1")
		dp.Attributes().PutStr("inference.outcome", outcome)
	}
	return md
}

// gaugePoints returns the points of the gauges named name in a batch.
func gaugePoints(md pmetric.Metrics, name string) []pmetric.NumberDataPoint {
	var out []pmetric.NumberDataPoint
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					for _, dp := range m.Gauge().DataPoints().All() {
						out = append(out, dp)
					}
				}
			}
		}
	}
	return out
}

// ratios returns the error-ratio points of an output batch, each of model m1.
func ratios(t *testing.T, md pmetric.Metrics, name string) []float64 {
	t.Helper()
	var out []float64
	for _, dp := range gaugePoints(md, name) {
		out = append(out, dp.DoubleValue())
		model, _ := dp.Attributes().Get("gen_ai.request.model")
		assert.Equal(t, "m1", model.Str())
	}
	return out
}

func TestDefaultErrorRatioSequence(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Window = 30 * time.Second
	p := newRatioProcessor(cfg, zap.NewNop())
	step := func(tSec, startSec int64, c counts) []float64 {
		out, err := p.processMetrics(context.Background(), batch("a", tSec, startSec, c))
		require.NoError(t, err)
		return ratios(t, out, "inference.requests.error_ratio")
	}
	// t0: first point, nothing to compare with.
	assert.Empty(t, step(10, 1, counts{100, 10, 0}))
	// t1: +8 success, +1 error, +1 aborted → 1/10.
	assert.InDeltaSlice(t, []float64{0.1}, step(20, 1, counts{108, 11, 1}), 1e-12)
	// t2: +6 success, +4 error → window (since t=10) holds (1+4)/(10+10).
	assert.InDeltaSlice(t, []float64{0.25}, step(30, 1, counts{114, 15, 1}), 1e-12)
	// t3: the denominator did not grow over... it did: window (10,40] from t=10: same as before, no change
	// in counts → increase over the window (from the point at t=10) is still 20 with 5 errors.
	assert.InDeltaSlice(t, []float64{0.25}, step(40, 1, counts{114, 15, 1}), 1e-12)
	// t4: restart: the counters start from zero (3 success, 1 error). Window (20,50]: from t=20 to
	// t=50: (114-108)+0+3 = 9 success, 4+0+1 = 5 errors, 0 aborted → 5/14.
	assert.InDeltaSlice(t, []float64{5.0 / 14}, step(50, 45, counts{3, 1, 0}), 1e-12)
	// t5: nothing new for a whole window: (40,70] from t=40 baseline... t=50 restart then no growth:
	// window from the newest point at or before 40 (t=40) → the restart step counts 3+1 → 1/4.
	assert.InDeltaSlice(t, []float64{0.25}, step(70, 45, counts{3, 1, 0}), 1e-12)
	// t6: window (80,110] from t=70: no growth at all → no point.
	assert.Empty(t, step(110, 45, counts{3, 1, 0}))
}

func TestNoPointWhenDenominatorStill(t *testing.T) {
	p := newRatioProcessor(createDefaultConfig().(*Config), zap.NewNop())
	for i := int64(0); i < 4; i++ {
		out, err := p.processMetrics(context.Background(), batch("a", 10+10*i, 1, counts{5, 1, 0}))
		require.NoError(t, err)
		assert.Empty(t, ratios(t, out, "inference.requests.error_ratio"))
	}
}

func TestResourcesAreSeparate(t *testing.T) {
	p := newRatioProcessor(createDefaultConfig().(*Config), zap.NewNop())
	_, _ = p.processMetrics(context.Background(), batch("a", 10, 1, counts{0, 0, 0}))
	_, _ = p.processMetrics(context.Background(), batch("b", 10, 1, counts{0, 0, 0}))
	outA, _ := p.processMetrics(context.Background(), batch("a", 20, 1, counts{9, 1, 0}))
	outB, _ := p.processMetrics(context.Background(), batch("b", 20, 1, counts{1, 1, 0}))
	assert.InDeltaSlice(t, []float64{0.1}, ratios(t, outA, "inference.requests.error_ratio"), 1e-12)
	assert.InDeltaSlice(t, []float64{0.5}, ratios(t, outB, "inference.requests.error_ratio"), 1e-12)
}

func TestMisconfiguredRuleEmitsNothing(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{{
		Name:        "bad.ratio",
		Numerator:   &Selector{Metric: "inference.requests"},
		Denominator: &Selector{Metric: "inference.requests", Match: map[string]string{"inference.outcome": "error"}},
	}}
	p := newRatioProcessor(cfg, zap.NewNop())
	_, _ = p.processMetrics(context.Background(), batch("a", 10, 1, counts{0, 0, 0}))
	out, _ := p.processMetrics(context.Background(), batch("a", 20, 1, counts{9, 1, 0}))
	assert.Empty(t, ratios(t, out, "bad.ratio"))
	assert.True(t, p.rules[0].misconfigured)
}

func TestMaxSeriesAndStaleness(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxSeries = 2
	cfg.MaxStaleness = time.Minute
	p := newRatioProcessor(cfg, zap.NewNop())
	_, _ = p.processMetrics(context.Background(), batch("a", 10, 1, counts{1, 1, 1}))
	series, _ := p.state.Len()
	assert.Equal(t, 2, series)
	assert.Equal(t, int64(1), p.state.Untracked)
	p.sweep(time.Now().Add(2 * time.Minute).UnixNano())
	series, groups := p.state.Len()
	assert.Zero(t, series)
	assert.Zero(t, groups)
}

func TestInputPassesThroughUnchanged(t *testing.T) {
	sink := new(consumertest.MetricsSink)
	f := NewFactory()
	proc, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, proc.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, proc.Shutdown(context.Background())) }()
	in := batch("a", 10, 1, counts{1, 2, 3})
	want := pmetric.NewMetrics()
	in.CopyTo(want)
	require.NoError(t, proc.ConsumeMetrics(context.Background(), in))
	require.Len(t, sink.AllMetrics(), 1)
	assert.Equal(t, want.DataPointCount(), sink.AllMetrics()[0].DataPointCount())
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		id      component.ID
		wantErr string
		check   func(t *testing.T, cfg *Config)
	}{
		{id: component.NewID(metadata.Type), check: func(t *testing.T, cfg *Config) {
			assert.Equal(t, 5*time.Minute, cfg.Window)
			assert.Empty(t, cfg.Rules)
		}},
		{id: component.NewIDWithName(metadata.Type, "custom"), check: func(t *testing.T, cfg *Config) {
			assert.Equal(t, time.Minute, cfg.Window)
			assert.Equal(t, 10*time.Minute, cfg.MaxStaleness)
			assert.Equal(t, 500, cfg.MaxSeries)
			require.Len(t, cfg.Rules, 4)
			require.NotNil(t, cfg.Rules[2].Histogram.Above)
			assert.InDelta(t, 0.7, *cfg.Rules[2].Histogram.Above, 0)
			require.NotNil(t, cfg.Rules[3].Histogram.AtMost)
			assert.InDelta(t, 10.0, *cfg.Rules[3].Histogram.AtMost, 0)
			assert.Equal(t, "coder.error_ratio", cfg.Rules[1].Name)
			assert.Equal(t, map[string]string{"status": "error"}, cfg.Rules[1].Numerator.Match)
			assert.Equal(t, []string{"model_name"}, cfg.Rules[1].GroupBy)
			assert.Equal(t, 30*time.Second, cfg.Rules[0].Window)
		}},
		{id: component.NewIDWithName(metadata.Type, "bad_window"), wantErr: `"window" must be positive`},
		{id: component.NewIDWithName(metadata.Type, "no_name"), wantErr: `rules[0]: "name" must be set`},
		{id: component.NewIDWithName(metadata.Type, "no_denominator"), wantErr: `rule "x": "numerator" and "denominator" must both be specified`},
		{id: component.NewIDWithName(metadata.Type, "both_thresholds"), wantErr: `rule "h": give one of "histogram.above" and "histogram.at_most", not both`},
		{id: component.NewIDWithName(metadata.Type, "no_threshold"), wantErr: `rule "h": "histogram" needs a threshold`},
		{id: component.NewIDWithName(metadata.Type, "unknown_kind"), wantErr: `rule "k": unknown rule kind`},
		{id: component.NewIDWithName(metadata.Type, "mixed_kind"), wantErr: `rule "k": give either "numerator" and "denominator" (a counter ratio) or "histogram"`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg, err := testbed.ComponentConfig("testdata/config.yaml", tt.id, NewFactory())
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}

// A staleness marker (a gone server's last report) is neither a value nor a counter reset: it ends
// its series, and the ratio it fed is marked stale too (no recorded value), so that no exporter
// keeps showing it; a series that comes back starts anew.
func TestStaleMarkersEndTheirRatios(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Window = 30 * time.Second
	p := newRatioProcessor(cfg, zap.NewNop())
	step := func(md pmetric.Metrics) []pmetric.NumberDataPoint {
		out, err := p.processMetrics(context.Background(), md)
		require.NoError(t, err)
		return gaugePoints(out, "inference.requests.error_ratio")
	}
	assert.Empty(t, step(batch("a", 10, 1, counts{100, 10, 0})))
	require.Len(t, step(batch("a", 12, 1, counts{108, 12, 0})), 1)
	stale := batch("a", 15, 1, counts{0, 0, 0})
	dps := stale.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		dps.At(i).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}
	ended := step(stale)
	require.Len(t, ended, 1, "the ratio is marked stale once, not once per input series")
	assert.True(t, ended[0].Flags().NoRecordedValue())
	assert.Equal(t, pcommon.Timestamp(15*sec), ended[0].Timestamp())
	series, groups := p.state.Len()
	assert.Zero(t, series)
	assert.Zero(t, groups)
	// It comes back (a new server on the same address): a new series, not a reset of the old one.
	assert.Empty(t, step(batch("a", 20, 19, counts{5, 0, 0})))
	got := step(batch("a", 30, 19, counts{9, 1, 0}))
	require.Len(t, got, 1)
	assert.InDelta(t, 0.2, got[0].DoubleValue(), 1e-12)
	assert.False(t, got[0].Flags().NoRecordedValue())
}
