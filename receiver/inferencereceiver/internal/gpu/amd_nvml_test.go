//go:build linux && cgo

package gpu

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
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
	r := newReaderWithLib(Options{ProcRoot: fakeProc(t), Servers: servers(Server{Name: "vllm-a", Port: 8000}), OnXid: func(ev XidEvent) { events <- ev }},
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

// fakeProcTwoServers is a /proc where process 4242 listens on port 8000 (server vllm-a) in the host's
// network namespace and 5151 on port 8001 (server tgi-b) in a pod's: each namespace's table lists
// only its own sockets, as the kernel shows them through /proc/PID/net.
func fakeProcTwoServers(t *testing.T) string {
	t.Helper()
	root := fakeProc(t)
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "5151", "net", "tcp"), []byte(header+
		"   0: 00000000:1F41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0\n"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, "5151", "ns", "net")))
	require.NoError(t, os.Symlink("net:[4026532777]", filepath.Join(root, "5151", "ns", "net")))
	return root
}

// Two servers on one GPU: its energy between two scrapes is split by their share of its SM
// utilization, exactly; while idle (no sample), by their share of its processes.
func TestEnergyAttributedToServers(t *testing.T) {
	srv, _ := h100(t)
	g0 := srv.Devices[0].(*server.Device)
	var energyMJ atomic.Uint64
	energyMJ.Store(100_000)
	g0.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) { return energyMJ.Load(), nvml.SUCCESS }
	var idle atomic.Bool
	g0.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		if idle.Load() {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return []nvml.ProcessUtilizationSample{{Pid: 4242, SmUtil: 60}, {Pid: 5151, SmUtil: 20}}, nvml.SUCCESS
	}
	ledger := NewServerLedger()
	r := newReaderWithLib(Options{
		Processes: true, ProcRoot: fakeProcTwoServers(t), Energy: ledger,
		Servers: servers(Server{Name: "vllm-a", Port: 8000}, Server{Name: "tgi-b", Port: 8001}),
	},
		zap.NewNop(), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	scrape := func() { require.NoError(t, r.Scrape(context.Background(), time.Now(), pmetric.NewMetricSlice())) }

	scrape() // the first reading is the baseline
	_, ok := ledger.Get("vllm-a")
	assert.False(t, ok)
	energyMJ.Store(180_000) // 80 J since
	scrape()
	a, _ := ledger.Get("vllm-a")
	b, _ := ledger.Get("tgi-b")
	assert.InDelta(t, 60.0, a, 1e-9, "60 of 80 % SM")
	assert.InDelta(t, 20.0, b, 1e-9, "20 of 80 % SM")

	idle.Store(true)
	energyMJ.Store(190_000) // 10 J, idle: one process each
	scrape()
	a, _ = ledger.Get("vllm-a")
	b, _ = ledger.Get("tgi-b")
	assert.InDelta(t, 65.0, a, 1e-9)
	assert.InDelta(t, 25.0, b, 1e-9)
}
