//go:build linux && cgo

package gpu

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod/kubepodtest"
)

const (
	uidVLLM  = "9e3c2f71-4b8a-4d6e-a1f0-2c7d9b5e8a34"
	uidSmall = "7c8d9e0f-1a2b-4c3d-8e5f-6a7b8c9d0e1f"
	cidVLLM  = "f2a9c4e1b7d3086e5a1c9b2f4d7e0a3c6b9f2e5d8a1c4b7e0f3a6d9c2b5e8f1a"
	cidSmall = "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
)

// podProc adds to a fake /proc: 4242 (vLLM, listening on 8000) and 4243 (its second worker) in the
// vLLM pod, 7171 in a small pod, 5151 a host process.
func podProc(t *testing.T) string {
	root := fakeProc(t)
	cg := func(pid, line string) {
		require.NoError(t, os.MkdirAll(filepath.Join(root, pid), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, pid, "cgroup"), []byte(line), 0o600))
	}
	systemd := func(uid, cid string) string {
		return "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + underscores(uid) + ".slice/cri-containerd-" + cid + ".scope\n"
	}
	cg("4242", systemd(uidVLLM, cidVLLM))
	cg("4243", systemd(uidVLLM, cidVLLM))
	cg("7171", systemd(uidSmall, cidSmall))
	cg("5151", "0::/system.slice/nvidia-persistenced.service\n")
	return root
}

func underscores(uid string) string {
	b := []byte(uid)
	for i := range b {
		if b[i] == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// GPU 0 is the vLLM pod's; GPU 2 is time-shared by two small pods; the vLLM pod's second worker and
// a small pod's process run on GPU 2.
func TestPodAttribution(t *testing.T) {
	srv, _ := h100(t)
	g0uuid, _ := srv.Devices[0].GetUUID()
	g2uuid, _ := srv.Devices[2].GetUUID()
	g2 := srv.Devices[2].(*server.Device)
	g2.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 7171, UsedGpuMemory: 3 << 30}, {Pid: 4243, UsedGpuMemory: 2 << 30}}, nvml.SUCCESS
	}
	kubelet := kubepodtest.Start(t, &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
		{Name: "vllm-0", Namespace: "serving", Containers: []*podresourcesv1.ContainerResources{
			{Name: "vllm", Devices: kubepodtest.Devices("nvidia.com/gpu", g0uuid)},
		}},
		{Name: "small-a", Namespace: "dev", Containers: []*podresourcesv1.ContainerResources{
			{Name: "llama", Devices: kubepodtest.Devices("nvidia.com/gpu.shared", g2uuid+"::0")},
		}},
		{Name: "small-b", Namespace: "dev", Containers: []*podresourcesv1.ContainerResources{
			{Name: "llama", Devices: kubepodtest.Devices("nvidia.com/gpu.shared", g2uuid+"::1")},
		}},
	}})
	ledger := NewServerLedger()
	r := newReaderWithLib(Options{
		Processes: true, ProcRoot: podProc(t), Servers: servers(Server{Name: "vllm-a", Port: 8000}),
		Energy: ledger, PodResources: kubepod.NewLister(kubelet.Socket),
	}, zap.NewNop(), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	ms := pmetric.NewMetricSlice()
	require.NoError(t, r.Scrape(context.Background(), time.Now(), ms))
	require.NoError(t, r.Shutdown(context.Background()))

	// The GPU carries the pod it is allocated to; the time-shared one carries none.
	power := find(t, points(ms, "hw.gpu.memory.usage"), map[string]any{"hw.id": g0uuid})
	assert.Equal(t, "serving", power.attrs["k8s.namespace.name"])
	assert.Equal(t, "vllm-0", power.attrs["k8s.pod.name"])
	assert.Equal(t, "vllm", power.attrs["k8s.container.name"])
	shared := find(t, points(ms, "hw.gpu.memory.usage"), map[string]any{"hw.id": g2uuid})
	assert.NotContains(t, shared.attrs, "k8s.pod.name")

	procs := points(ms, "nvidia.gpu.process.memory.usage")
	vllm := find(t, procs, map[string]any{"process.pid": "4242"})
	assert.Equal(t, "vllm-0", vllm.attrs["k8s.pod.name"])
	assert.Equal(t, "serving", vllm.attrs["k8s.namespace.name"])
	assert.Equal(t, "vllm", vllm.attrs["k8s.container.name"])
	assert.Equal(t, uidVLLM, vllm.attrs["k8s.pod.uid"])
	assert.Equal(t, cidVLLM, vllm.attrs["container.id"])
	assert.Equal(t, "vllm-a", vllm.attrs["inference.server.name"])
	// A host process on the vLLM pod's GPU is not the pod's.
	host := find(t, procs, map[string]any{"process.pid": "5151"})
	for _, k := range []string{"k8s.pod.name", "k8s.namespace.name", "k8s.container.name", "k8s.pod.uid", "container.id"} {
		assert.NotContains(t, host.attrs, k)
	}
	// On the shared GPU: the small pod's process has its UID and container but no name (two pods
	// hold the GPU); the vLLM pod's second worker is named from what GPU 0 taught.
	small := find(t, procs, map[string]any{"process.pid": "7171"})
	assert.Equal(t, uidSmall, small.attrs["k8s.pod.uid"])
	assert.Equal(t, cidSmall, small.attrs["container.id"])
	assert.NotContains(t, small.attrs, "k8s.pod.name")
	worker := find(t, procs, map[string]any{"process.pid": "4243", "hw.id": g2uuid})
	assert.Equal(t, "vllm-0", worker.attrs["k8s.pod.name"])
	assert.Equal(t, "vllm", worker.attrs["k8s.container.name"])

	// The server the vLLM process listens for is in that pod.
	p, ok := ledger.Pod("vllm-a")
	require.True(t, ok)
	assert.Equal(t, kubepod.Pod{
		Ref:   kubepod.Ref{PodUID: uidVLLM, ContainerID: cidVLLM},
		Owner: kubepod.Owner{Namespace: "serving", Pod: "vllm-0", Container: "vllm"}, Named: true,
	}, p)
}

// Off Kubernetes: no socket, no k8s attributes, one debug line however many scrapes.
func TestPodAttributionOffCluster(t *testing.T) {
	srv, _ := h100(t)
	core, logs := observer.New(zap.DebugLevel)
	r := newReaderWithLib(Options{
		Processes: true, ProcRoot: fakeProc(t),
		PodResources: kubepod.NewLister(filepath.Join(t.TempDir(), "kubelet.sock")),
	}, zap.New(core), func() nvml.Interface { return srv })
	require.NoError(t, r.Start(context.Background()))
	t0 := time.Now()
	var ms pmetric.MetricSlice
	for i := 0; i < 3; i++ {
		ms = pmetric.NewMetricSlice()
		require.NoError(t, r.Scrape(context.Background(), t0.Add(time.Duration(i)*time.Minute), ms))
	}
	require.NoError(t, r.Shutdown(context.Background()))
	for _, name := range []string{"hw.gpu.memory.usage", "nvidia.gpu.process.memory.usage"} {
		for _, p := range points(ms, name) {
			for k := range p.attrs {
				assert.NotContains(t, []string{"k8s.pod.name", "k8s.namespace.name", "k8s.pod.uid", "container.id"}, k, name)
			}
		}
	}
	assert.Equal(t, 1, logs.FilterMessageSnippet("Not on Kubernetes").Len())
	assert.Zero(t, logs.FilterLevelExact(zap.WarnLevel).FilterMessageSnippet("kubelet").Len())
}
