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

// Each Xid event reaches OnXid with the processes on that GPU, joined to the servers.
func TestXidEventsToCallback(t *testing.T) {
	srv, _ := h100(t)
	events := make(chan XidEvent, 4)
	r := newReaderWithLib(Options{ProcRoot: fakeProc(t), Servers: []Server{{Name: "vllm-a", Port: 8000}}, OnXid: func(ev XidEvent) { events <- ev }},
		zap.NewNop(), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	select {
	case ev := <-events:
		g0, _ := srv.Devices[0].GetUUID()
		assert.Equal(t, g0, ev.GPUID)
		assert.Equal(t, uint64(79), ev.Code)
		assert.Equal(t, "failed", ev.HealthHint)
		require.Len(t, ev.Processes, 2)
		assert.Equal(t, XidProcess{PID: "4242", Executable: "python3", Server: "vllm-a"}, ev.Processes[0])
	case <-time.After(5 * time.Second):
		t.Fatal("no Xid event")
	}
}
