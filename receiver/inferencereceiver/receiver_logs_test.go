package inferencereceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
)

// An Xid error becomes a log record an alert can link to: the GPU, the code, the health it implies,
// and the process and model server it hit.
func TestXidLogRecord(t *testing.T) {
	sink := new(consumertest.LogsSink)
	x := &xidLogs{next: sink, host: "node-1", logger: zap.NewNop()}
	x.emit(gpu.XidEvent{
		Time: time.Unix(1_764_200_000, 0), GPUID: "GPU-1234", GPUName: "NVIDIA H100 80GB HBM3", GPUIndex: "0", Code: 79,
		HealthHint: "failed", Processes: []gpu.XidProcess{{PID: "4242", Executable: "python3", Server: "vllm-a"}},
	})
	x.emit(gpu.XidEvent{
		Time: time.Unix(1_764_200_001, 0), GPUID: "GPU-5678", Code: 63, HealthHint: "predicted_failure",
		Processes: []gpu.XidProcess{{PID: "1"}, {PID: "2", Server: "tgi"}},
	})
	require.Len(t, sink.AllLogs(), 2)
	lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, plog.SeverityNumberError, lr.SeverityNumber())
	assert.Equal(t, "nvidia.gpu.xid", lr.EventName())
	assert.Equal(t, "Xid 79 on GPU GPU-1234 (NVIDIA H100 80GB HBM3); health failed; process 4242 of model server vllm-a", lr.Body().Str())
	attrs := lr.Attributes().AsRaw()
	assert.Equal(t, "79", attrs["nvidia.gpu.xid"])
	assert.Equal(t, "GPU-1234", attrs["hw.id"])
	assert.Equal(t, "failed", attrs["hw.state"])
	assert.Equal(t, "4242", attrs["process.pid"])
	assert.Equal(t, "vllm-a", attrs["inference.server.name"])
	host, _ := sink.AllLogs()[0].ResourceLogs().At(0).Resource().Attributes().Get("host.name")
	assert.Equal(t, "node-1", host.Str())

	lr = sink.AllLogs()[1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber())
	assert.Equal(t, []any{"1", "2"}, lr.Attributes().AsRaw()["nvidia.gpu.processes"], "NVML does not say which: all listed")
	assert.Contains(t, lr.Body().Str(), "model servers on the GPU: tgi")
}
