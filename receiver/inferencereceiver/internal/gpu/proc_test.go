package gpu

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
)

// writeStat gives a fake process a parent.
func writeStat(t *testing.T, root, pid, comm, ppid string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(root, pid), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, pid, "stat"), []byte(pid+" ("+comm+") S "+ppid+" 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100\n"), 0o644))
}

// A GPU worker that is a child of the server's process is the server's: through its parent's
// listening socket (a configured server), or its parent's PID (a discovered one). A discovered
// pod's processes are its server's by container, else by pod. Nothing else is joined.
func TestJoinThroughParentsAndPods(t *testing.T) {
	root := fakeProc(t) // 4242 listens on 8000 (socket 777); 5151 does not listen
	writeStat(t, root, "4242", "vllm", "1")
	writeStat(t, root, "9001", "VLLM::EngineCore", "4242") // vLLM's engine core, a child
	writeStat(t, root, "9002", "VLLM::Worker_TP0", "9001") // its worker, a grandchild
	writeStat(t, root, "5151", "other", "1")
	writeStat(t, root, "9003", "(weird) name", "5151") // parentheses in comm

	listed := newSockets(root, []Server{{Name: "vllm-a", Port: 8000}})
	assert.Equal(t, "vllm-a", listed.serverOf("4242", kubepod.Ref{}))
	assert.Equal(t, "vllm-a", listed.serverOf("9001", kubepod.Ref{}), "a child of the listening process")
	assert.Equal(t, "vllm-a", listed.serverOf("9002", kubepod.Ref{}), "a grandchild")
	assert.Empty(t, listed.serverOf("9003", kubepod.Ref{}))
	assert.Empty(t, listed.serverOf("5151", kubepod.Ref{}))

	discovered := newSockets(root, []Server{{Name: "vllm-8100", PIDs: []int{4242}}})
	assert.Equal(t, "vllm-8100", discovered.serverOf("9002", kubepod.Ref{}))
	assert.Empty(t, discovered.serverOf("9003", kubepod.Ref{}))

	pods := newSockets(root, []Server{
		{Name: "serving/vllm-0:8000", PodUID: "uid-a", ContainerID: "cid-engine"},
		{Name: "serving/tgi-0:80", PodUID: "uid-b"},
	})
	assert.Equal(t, "serving/vllm-0:8000", pods.serverOf("5151", kubepod.Ref{PodUID: "uid-a", ContainerID: "cid-engine"}))
	assert.Equal(t, "serving/tgi-0:80", pods.serverOf("5151", kubepod.Ref{PodUID: "uid-b", ContainerID: "cid-shard"}), "any container of the pod")
	assert.Empty(t, pods.serverOf("5151", kubepod.Ref{PodUID: "uid-c"}))
	assert.Empty(t, pods.serverOf("5151", kubepod.Ref{}))
}
