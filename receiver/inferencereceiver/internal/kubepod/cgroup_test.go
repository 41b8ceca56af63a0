package kubepod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCgroupRecorded(t *testing.T) {
	tests := []struct {
		file string
		want Ref
		ok   bool
	}{
		{"v1-cgroupfs-docker-besteffort.txt", Ref{"74c13223-5a00-11e9-b385-42010a80018d", "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376"}, true},
		{"v1-cgroupfs-guaranteed.txt", Ref{"0b6b8f4e-1a3c-4f7e-9d2a-6c1e5f3a9b21", "8d3f1c2b7a6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b"}, true},
		{"v1-systemd-containerd-burstable.txt", Ref{"9e3c2f71-4b8a-4d6e-a1f0-2c7d9b5e8a34", "f2a9c4e1b7d3086e5a1c9b2f4d7e0a3c6b9f2e5d8a1c4b7e0f3a6d9c2b5e8f1a"}, true},
		{"v2-systemd-containerd-guaranteed.txt", Ref{"5d1f7a2c-8e4b-4c3a-9f6d-1b2e3c4d5e6f", "3b7e1d9a5c2f8e4b6a0d3c7f1e5b9a2d6c0f4e8b2a6d0c4f8e2b6a0d4c8f2e6b"}, true},
		{"v2-cgroupns-relative.txt", Ref{"2a4c6e8f-1b3d-4f5a-8c7e-9d0b1a2c3e4f", "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"}, true},
		{"v2-crio-burstable.txt", Ref{"7c8d9e0f-1a2b-4c3d-8e5f-6a7b8c9d0e1f", "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"}, true},
		// conmon is CRI-O's monitor: the pod, not a container.
		{"v2-crio-conmon.txt", Ref{"7c8d9e0f-1a2b-4c3d-8e5f-6a7b8c9d0e1f", ""}, true},
		{"v2-kind-nested.txt", Ref{"6f1e2d3c-4b5a-4697-8877-665544332211", "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"}, true},
		{"v2-host-service.txt", Ref{}, false},
		{"v2-docker-not-a-pod.txt", Ref{}, false},
		{"v1-docker-not-a-pod.txt", Ref{}, false},
	}
	files, err := filepath.Glob("testdata/cgroup/*.txt")
	require.NoError(t, err)
	require.Len(t, files, len(tests), "every recorded file has a case")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/cgroup", tt.file))
			require.NoError(t, err)
			got, ok := ParseCgroup(strings.NewReader(string(b)))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseCgroupMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"garbage",
		"0::/kubepods/podnot-a-uid/abc",
		"0::/kubepods/pod74c13223-5a00-11e9-b385-42010a80018/x",         // one hex digit short
		"0::/kubepods/pod74c13223x5a00-11e9-b385-42010a80018d/x",        // wrong separator
		"0::/kubepods.slice/kubepods-burstable-podzz.slice/cri-x.scope", // not a UID
		"0::/user.slice/user-1000.slice/session-3.scope",
	} {
		_, ok := ParseCgroup(strings.NewReader(in))
		assert.False(t, ok, "%q", in)
	}
	// A short or non-hex container segment leaves the container ID empty, not wrong.
	ref, ok := ParseCgroup(strings.NewReader("0::/kubepods/besteffort/pod74c13223-5a00-11e9-b385-42010a80018d/not-hex-at-all"))
	require.True(t, ok)
	assert.Empty(t, ref.ContainerID)
	// A long line is read whole.
	long := "0::/" + strings.Repeat("x/", 20000) + "kubepods/pod74c13223-5a00-11e9-b385-42010a80018d/34dc0b5e626f"
	ref, ok = ParseCgroup(strings.NewReader(long))
	require.True(t, ok)
	assert.Equal(t, "34dc0b5e626f", ref.ContainerID)
}

func TestOfProcess(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "4242"), 0o755))
	b, err := os.ReadFile("testdata/cgroup/v2-cgroupns-relative.txt")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(root, "4242", "cgroup"), b, 0o600))
	ref, ok := OfProcess(root, "4242")
	require.True(t, ok)
	assert.Equal(t, "2a4c6e8f-1b3d-4f5a-8c7e-9d0b1a2c3e4f", ref.PodUID)
	_, ok = OfProcess(root, "4243") // gone
	assert.False(t, ok)
}
