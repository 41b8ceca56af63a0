// Package kubepodtest serves the kubelet's pod-resources API on a unix socket, for tests.
package kubepodtest // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod/kubepodtest"

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// Kubelet answers List with Resp, or fails while Fail is set; Calls counts the calls.
type Kubelet struct {
	podresourcesv1.UnimplementedPodResourcesListerServer
	Resp  atomic.Pointer[podresourcesv1.ListPodResourcesResponse]
	Fail  atomic.Bool
	Calls atomic.Int64
	// Socket is the socket's path.
	Socket string
}

// List is the kubelet's List.
func (k *Kubelet) List(context.Context, *podresourcesv1.ListPodResourcesRequest) (*podresourcesv1.ListPodResourcesResponse, error) {
	k.Calls.Add(1)
	if k.Fail.Load() {
		return nil, status.Error(codes.ResourceExhausted, "rejected by rate limit")
	}
	return k.Resp.Load(), nil
}

// Start serves resp on a fresh socket until the test ends.
func Start(t testing.TB, resp *podresourcesv1.ListPodResourcesResponse) *Kubelet {
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "podres")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	k := &Kubelet{Socket: filepath.Join(dir, "kubelet.sock")}
	k.Resp.Store(resp)
	lis, err := net.Listen("unix", k.Socket)
	require.NoError(t, err)
	srv := grpc.NewServer()
	podresourcesv1.RegisterPodResourcesListerServer(srv, k)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return k
}

// Devices is one device-plugin resource with its device IDs.
func Devices(resource string, ids ...string) []*podresourcesv1.ContainerDevices {
	return []*podresourcesv1.ContainerDevices{{ResourceName: resource, DeviceIds: ids}}
}
