package prw

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// TestBytesPerSeries: what the encoder keeps per series, for 20 servers of each recorded flavor (each
// its own instance): the encoded labels are shared pairs, so a series costs its references and
// bookkeeping, not its label text.
func TestBytesPerSeries(t *testing.T) {
	for _, flavor := range []string{"tgi", "vllm"} {
		md, err := golden.ReadMetrics("../../../../receiver/inferencereceiver/testdata/golden/" + flavor + ".yaml")
		require.NoError(t, err)
		batches := make([]pmetric.Metrics, 20)
		for i := range batches {
			batches[i] = pmetric.NewMetrics()
			md.CopyTo(batches[i])
			rms := batches[i].ResourceMetrics()
			for j := range rms.Len() {
				rms.At(j).Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("10.0.0.%d:8000", i))
			}
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := New(Settings{AddMetricSuffixes: true})
		for _, b := range batches {
			require.NoError(t, e.Add(b))
		}
		e.Flush(V1, 2000, func([]byte, int) bool { return true })
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSeries := float64(after.HeapAlloc-before.HeapAlloc) / float64(e.Series())
		t.Logf("%s: %d series, %.0f B per series kept", flavor, e.Series(), perSeries)
		assert.Less(t, perSeries, 300.0, "bytes kept per series")
		runtime.KeepAlive(e)
	}
}
