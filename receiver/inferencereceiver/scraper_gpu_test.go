package inferencereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// fakeReader stands in for NVML: it appends one gauge per name.
type fakeReader struct{ names []string }

func (fakeReader) Start(context.Context) error    { return nil }
func (fakeReader) Shutdown(context.Context) error { return nil }
func (f fakeReader) Scrape(_ context.Context, _ time.Time, ms pmetric.MetricSlice) error {
	for _, n := range f.names {
		m := ms.AppendEmpty()
		m.SetName(n)
		m.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(1)
	}
	return nil
}

func TestGPUMetricsCanBeTurnedOff(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.NvidiaGpuClockEventActive.Enabled = false
	g := newGPUScraper(cfg, receivertest.NewNopSettings(metadata.Type), nil, fixedServers(nil))
	g.reader = fakeReader{names: []string{"hw.power", "nvidia.gpu.clock_event.active"}}
	md, err := g.scrape(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, 1, ms.Len())
	assert.Equal(t, "hw.power", ms.At(0).Name())

	// Nothing read (no GPU): nothing emitted, not even an empty resource.
	g.reader = fakeReader{}
	md, err = g.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, md.ResourceMetrics().Len())
}
