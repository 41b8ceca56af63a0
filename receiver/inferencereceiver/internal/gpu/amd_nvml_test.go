//go:build linux && cgo

package gpu

import (
	"context"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// NVIDIA and AMD GPUs on one host: one metric per name, points of both.
func TestNVIDIAAndAMDTogether(t *testing.T) {
	srv, _ := h100(t)
	nv := newReaderWithLib(Options{}, zap.NewNop(), func() nvml.Interface { return srv })
	all := readers{nv, newAMDReader("../../../../testdata/gpu/amd-sysfs", zap.NewNop())}
	require.NoError(t, all.Start(context.Background()))
	defer func() { require.NoError(t, all.Shutdown(context.Background())) }()
	ms := pmetric.NewMetricSlice()
	require.NoError(t, all.Scrape(context.Background(), time.Now(), ms))
	seen := map[string]int{}
	for i := 0; i < ms.Len(); i++ {
		seen[ms.At(i).Name()]++
	}
	for name, n := range seen {
		assert.Equal(t, 1, n, name)
	}
	vendors := map[any]bool{}
	for _, p := range points(ms, "hw.gpu.memory.usage") {
		vendors[p.attrs["hw.vendor"]] = true
	}
	assert.Equal(t, map[any]bool{"nvidia": true, "amd": true}, vendors)
}
