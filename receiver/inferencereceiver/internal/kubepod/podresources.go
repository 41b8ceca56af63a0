package kubepod // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	podresourcesv1 "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// DefaultSocket is where the kubelet serves its pod-resources API.
const DefaultSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

// refreshEvery bounds how often the kubelet is asked: allocations change when pods start and stop,
// and the kubelet rate-limits this API.
const refreshEvery = 10 * time.Second

// Owner is the container a device was allocated to.
type Owner struct {
	Namespace, Pod, Container string
}

// Devices are the allocations of a node's GPUs: device ID (a GPU or MIG UUID, or a GPU index, as the
// device plugin names it) → the containers holding it. A time-sliced GPU has several.
type Devices map[string][]Owner

// Of is the one container holding the device with this UUID or index; ok is false when none or
// several do (a time-sliced or shared GPU is not one pod's).
func (d Devices) Of(ids ...string) (Owner, bool) {
	var found []Owner
	for _, id := range ids {
		if id == "" {
			continue
		}
		for _, o := range d[id] {
			if !contains(found, o) {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		return Owner{}, false
	}
	return found[0], true
}

func contains(owners []Owner, o Owner) bool {
	for _, x := range owners {
		if x == o {
			return true
		}
	}
	return false
}

// Lister asks the kubelet which containers hold which devices, at most once per refreshEvery. It is
// off (Devices returns nil, nothing logged more than once) when the socket does not exist: not on
// Kubernetes, or the agent was not given the socket.
type Lister struct {
	socket  string
	timeout time.Duration

	mu      sync.Mutex
	conn    *grpc.ClientConn
	client  podresourcesv1.PodResourcesListerClient
	last    time.Time
	devices Devices
	lastErr string
}

// NewLister returns a lister for the kubelet's socket ("" is DefaultSocket).
func NewLister(socket string) *Lister {
	if socket == "" {
		socket = DefaultSocket
	}
	return &Lister{socket: socket, timeout: 2 * time.Second}
}

// Socket is the socket's path.
func (l *Lister) Socket() string { return l.socket }

// Devices returns the device allocations, asking the kubelet when the last answer is older than
// refreshEvery. fresh reports an error different from the last one (for the caller to log once);
// on an error the last good answer is kept.
func (l *Lister) Devices(ctx context.Context, now time.Time) (devs Devices, fresh bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < refreshEvery {
		return l.devices, false, nil
	}
	l.last = now
	devs, err = l.list(ctx)
	if err != nil {
		msg := err.Error()
		fresh = msg != l.lastErr
		l.lastErr = msg
		return l.devices, fresh, err
	}
	l.lastErr = ""
	l.devices = devs
	return devs, false, nil
}

// ErrNoSocket means the kubelet's socket is not there: not on Kubernetes.
var ErrNoSocket = errors.New("no kubelet pod-resources socket")

func (l *Lister) list(ctx context.Context) (Devices, error) {
	if _, err := os.Stat(l.socket); err != nil {
		return nil, fmt.Errorf("%w at %s", ErrNoSocket, l.socket)
	}
	if l.client == nil {
		conn, err := grpc.NewClient("unix://"+l.socket,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
		if err != nil {
			return nil, fmt.Errorf("kubelet pod-resources socket %s: %w", l.socket, err)
		}
		l.conn, l.client = conn, podresourcesv1.NewPodResourcesListerClient(conn)
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	resp, err := l.client.List(ctx, &podresourcesv1.ListPodResourcesRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing pod resources from the kubelet at %s (mount the socket read-only into the agent and run it as root; see the README's On Kubernetes): %w", l.socket, err)
	}
	return fromList(resp), nil
}

// fromList keeps the GPU devices: device-plugin resources of NVIDIA and AMD (nvidia.com/gpu,
// nvidia.com/mig-1g.10gb, nvidia.com/gpu.shared, amd.com/gpu), and DRA claims of the NVIDIA driver
// (device gpu-<index>).
func fromList(resp *podresourcesv1.ListPodResourcesResponse) Devices {
	out := Devices{}
	for _, p := range resp.GetPodResources() {
		for _, c := range p.GetContainers() {
			o := Owner{Namespace: p.GetNamespace(), Pod: p.GetName(), Container: c.GetName()}
			for _, d := range c.GetDevices() {
				rn := d.GetResourceName()
				if !strings.HasPrefix(rn, "nvidia.com/") && !strings.HasPrefix(rn, "amd.com/") {
					continue
				}
				for _, id := range d.GetDeviceIds() {
					// The NVIDIA plugin's time-slicing replicas are <uuid>::<n>.
					id, _, _ = strings.Cut(id, "::")
					out.add(id, o)
				}
			}
			for _, dr := range c.GetDynamicResources() {
				for _, cr := range dr.GetClaimResources() {
					if cr.GetDriverName() != "gpu.nvidia.com" {
						continue
					}
					if idx, ok := strings.CutPrefix(cr.GetDeviceName(), "gpu-"); ok && isDigits(idx) {
						out.add(idx, o)
					}
				}
			}
		}
	}
	return out
}

func (d Devices) add(id string, o Owner) {
	if !contains(d[id], o) {
		d[id] = append(d[id], o)
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Close closes the connection.
func (l *Lister) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	err := l.conn.Close()
	l.conn, l.client = nil, nil
	return err
}
