package kubepod

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod/kubepodtest"
)

// A node as the NVIDIA device plugin and the DRA driver leave it: a vLLM pod with two whole GPUs, an
// embedding pod on a MIG slice, two pods time-sharing one GPU, a DRA claim, and a pod without GPUs.
var nodeList = &podresourcesv1.ListPodResourcesResponse{PodResources: []*podresourcesv1.PodResources{
	{Name: "vllm-0", Namespace: "serving", Containers: []*podresourcesv1.ContainerResources{
		{Name: "vllm", Devices: kubepodtest.Devices("nvidia.com/gpu", "GPU-aaaa", "GPU-bbbb"), CpuIds: []int64{1, 2}},
		{Name: "sidecar"},
	}},
	{Name: "tei-0", Namespace: "embed", Containers: []*podresourcesv1.ContainerResources{
		{Name: "tei", Devices: kubepodtest.Devices("nvidia.com/mig-1g.10gb", "MIG-cccc")},
	}},
	{Name: "small-a", Namespace: "dev", Containers: []*podresourcesv1.ContainerResources{
		{Name: "llama", Devices: kubepodtest.Devices("nvidia.com/gpu.shared", "GPU-dddd::0")},
	}},
	{Name: "small-b", Namespace: "dev", Containers: []*podresourcesv1.ContainerResources{
		{Name: "llama", Devices: kubepodtest.Devices("nvidia.com/gpu.shared", "GPU-dddd::1")},
	}},
	{Name: "dra-0", Namespace: "serving", Containers: []*podresourcesv1.ContainerResources{
		{Name: "sglang", DynamicResources: []*podresourcesv1.DynamicResource{{
			ClaimName: "gpu", ClaimNamespace: "serving",
			ClaimResources: []*podresourcesv1.ClaimResource{{DriverName: "gpu.nvidia.com", PoolName: "node-1", DeviceName: "gpu-3"}},
		}}},
	}},
	{Name: "web", Namespace: "default", Containers: []*podresourcesv1.ContainerResources{
		{Name: "nginx", Devices: kubepodtest.Devices("example.com/foo", "dev-1")},
	}},
}}

func TestListerAgainstFakeKubelet(t *testing.T) {
	fake := kubepodtest.Start(t, nodeList)
	l := NewLister(fake.Socket)
	defer l.Close()
	now := time.Now()
	devs, fresh, err := l.Devices(context.Background(), now)
	require.NoError(t, err)
	assert.False(t, fresh)

	o, ok := devs.Of("GPU-aaaa", "0")
	require.True(t, ok)
	assert.Equal(t, Owner{Namespace: "serving", Pod: "vllm-0", Container: "vllm"}, o)
	o, ok = devs.Of("GPU-bbbb", "1")
	require.True(t, ok)
	assert.Equal(t, "vllm-0", o.Pod)
	o, ok = devs.Of("MIG-cccc")
	require.True(t, ok)
	assert.Equal(t, Owner{Namespace: "embed", Pod: "tei-0", Container: "tei"}, o)
	// Time-sliced: two pods hold replicas of one GPU; it is neither's.
	assert.Len(t, devs["GPU-dddd"], 2)
	_, ok = devs.Of("GPU-dddd", "2")
	assert.False(t, ok)
	// DRA names the GPU by index.
	o, ok = devs.Of("GPU-eeee", "3")
	require.True(t, ok)
	assert.Equal(t, Owner{Namespace: "serving", Pod: "dra-0", Container: "sglang"}, o)
	// Other resources are not GPUs.
	_, ok = devs["dev-1"]
	assert.False(t, ok)
	// A UUID and an index naming two different owners: neither.
	_, ok = devs.Of("GPU-aaaa", "3")
	assert.False(t, ok)

	// Asked at most once per refresh period.
	_, _, err = l.Devices(context.Background(), now.Add(time.Second))
	require.NoError(t, err)
	assert.EqualValues(t, 1, fake.Calls.Load())

	// A failing kubelet: the last answer is kept; the error is fresh once, not on every scrape.
	fake.Fail.Store(true)
	devs, fresh, err = l.Devices(context.Background(), now.Add(refreshEvery+time.Second))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rate limit")
	assert.True(t, fresh)
	assert.Contains(t, devs, "GPU-aaaa")
	_, fresh, err = l.Devices(context.Background(), now.Add(2*refreshEvery+2*time.Second))
	require.Error(t, err)
	assert.False(t, fresh)

	// Back, and the allocations moved on.
	fake.Fail.Store(false)
	fake.Resp.Store(&podresourcesv1.ListPodResourcesResponse{})
	devs, _, err = l.Devices(context.Background(), now.Add(3*refreshEvery+3*time.Second))
	require.NoError(t, err)
	assert.Empty(t, devs)
}

func TestListerOffCluster(t *testing.T) {
	l := NewLister(filepath.Join(t.TempDir(), "absent.sock"))
	devs, fresh, err := l.Devices(context.Background(), time.Now())
	require.ErrorIs(t, err, ErrNoSocket)
	assert.True(t, fresh)
	assert.Nil(t, devs)
	_, fresh, err = l.Devices(context.Background(), time.Now().Add(time.Minute))
	require.ErrorIs(t, err, ErrNoSocket)
	assert.False(t, fresh, "reported once")
	require.NoError(t, l.Close())
}

func TestListerHungKubelet(t *testing.T) {
	dir, err := os.MkdirTemp("", "podres")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "kubelet.sock")
	lis, err := net.Listen("unix", sock) // accepts, never answers
	require.NoError(t, err)
	defer lis.Close()
	l := NewLister(sock)
	l.timeout = 200 * time.Millisecond
	defer l.Close()
	start := time.Now()
	_, _, err = l.Devices(context.Background(), time.Now())
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestNames(t *testing.T) {
	now := time.Now()
	n := NewNames()
	owner := Owner{Namespace: "serving", Pod: "vllm-0", Container: "vllm"}
	a := Ref{PodUID: "uid-a", ContainerID: "c1"}
	n.Learn(owner, []Ref{a, {PodUID: "uid-a", ContainerID: "c1"}}, now)
	got, ok := n.Of(a, now)
	require.True(t, ok)
	assert.Equal(t, owner, got)
	// Another container of the same pod: the pod is known, the container is not.
	got, ok = n.Of(Ref{PodUID: "uid-a", ContainerID: "c2"}, now)
	require.True(t, ok)
	assert.Equal(t, Owner{Namespace: "serving", Pod: "vllm-0"}, got)

	// Two pods' processes on one pod's GPU: nothing is learned.
	n.Learn(Owner{Namespace: "x", Pod: "p"}, []Ref{{PodUID: "uid-b"}, {PodUID: "uid-c"}}, now)
	_, ok = n.Of(Ref{PodUID: "uid-b"}, now)
	assert.False(t, ok)
	_, ok = n.Of(Ref{PodUID: "uid-c"}, now)
	assert.False(t, ok)

	// Forgotten an hour after last use.
	n.Sweep(now.Add(30 * time.Minute))
	_, ok = n.Of(a, now.Add(30*time.Minute))
	assert.True(t, ok)
	n.Sweep(now.Add(30*time.Minute + forgetAfter + time.Second))
	_, ok = n.Of(a, now)
	assert.False(t, ok)
}
