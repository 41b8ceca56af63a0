// Package gpu owns the GPU reading of the inference receiver: AMD GPUs through the amdgpu driver's
// sysfs files, and NVIDIA GPUs through NVML with go-nvml (cgo, Linux
// only; a stub elsewhere reports GPU metrics unavailable), the per-process view, and the join of GPU
// processes to the configured model servers through /proc.
package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
)

// Server is a model server on this host that GPU processes may be joined to: a configured one by
// the port it listens on, a discovered one by its processes or its pod.
type Server struct {
	Name string
	// Port is the server's port on this host (configured servers): a process listening there, or
	// whose parent does, is the server's.
	Port int
	// PIDs are the server's processes (discovered on the host): they and their children are its.
	PIDs []int
	// PodUID and ContainerID are the server's pod and container (discovered on Kubernetes): the
	// processes of that container (else of that pod) are its.
	PodUID, ContainerID string
}

// Options configure the reader.
type Options struct {
	// Devices selects GPUs by index or UUID; empty means all.
	Devices []string
	// Processes turns on per-process memory and utilization.
	Processes bool
	// PCIe turns on PCIe throughput (NVML samples for 20 ms per call).
	PCIe bool
	// LibraryPath is libnvidia-ml's path; empty means libnvidia-ml.so.1.
	LibraryPath string
	// Servers are the servers the GPU processes are joined to (asked each scrape: discovered
	// servers come and go); nil for none.
	Servers func() []Server
	// ProcRoot is /proc (tests point it at a fake tree).
	ProcRoot string
	// SysfsRoot is where AMD GPUs are read (/sys; a container may mount the host's elsewhere).
	SysfsRoot string
	// OnXid, when set, is called (from the event goroutine) for each Xid error NVML reports.
	OnXid func(XidEvent)
	// Energy, when set, receives the GPU energy attributed to each configured server (processes on),
	// and the Kubernetes pod of each.
	Energy *ServerLedger
	// PodResources, when set, names the Kubernetes pod and container each GPU is allocated to.
	PodResources *kubepod.Lister
}

// XidEvent is one Xid error: the GPU, the code, and the compute processes on that GPU when it came
// (NVML does not say which one it hit; with one process, that is the one), joined to the configured
// servers they listen for.
type XidEvent struct {
	Time       time.Time
	GPUID      string
	GPUName    string
	GPUIndex   string
	Code       uint64
	Processes  []XidProcess
	HealthHint string // the hw.status this Xid implies alone (failed, predicted_failure, degraded, ok)
}

// XidProcess is a process running on the GPU when an Xid error came.
type XidProcess struct {
	PID        string
	Executable string
	Server     string
}

// Reader reads the GPUs of this host.
type Reader interface {
	// Start initializes NVML. Without a usable NVML it logs once why GPU metrics are off and
	// returns nil: the servers are still scraped.
	Start(ctx context.Context) error
	// Scrape appends the GPU metrics to ms. It never fails the scrape for a missing or broken GPU: what
	// cannot be read is skipped and counted.
	Scrape(ctx context.Context, now time.Time, ms pmetric.MetricSlice) error
	// Shutdown stops the event reader and releases NVML.
	Shutdown(ctx context.Context) error
}

// New returns the reader for this build: NVML on Linux with cgo, a stub elsewhere.
func New(opts Options, logger *zap.Logger) Reader {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	return readers{newReader(opts, logger), newAMDReader(opts.SysfsRoot, logger)}
}

// podDevices asks the kubelet (through l, nil when off) which containers hold which GPUs. Off
// Kubernetes (no socket) that is said once at debug; another failure once per distinct error at
// warn, keeping the last answer.
func podDevices(ctx context.Context, l *kubepod.Lister, now time.Time, logger *zap.Logger) kubepod.Devices {
	if l == nil {
		return nil
	}
	devs, fresh, err := l.Devices(ctx, now)
	if err != nil && fresh {
		if errors.Is(err, kubepod.ErrNoSocket) {
			logger.Debug("Not on Kubernetes (no kubelet pod-resources socket): GPUs are not attributed to pods", zap.String("socket", l.Socket()))
		} else {
			logger.Warn("Cannot read GPU allocations from the kubelet; GPUs keep their last known pods", zap.Error(err))
		}
	}
	return devs
}
