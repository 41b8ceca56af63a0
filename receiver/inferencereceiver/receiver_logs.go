package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// xidLogs is the receiver in a logs pipeline: each Xid error NVML reports becomes a log record with
// the GPU, the code, the health it implies and the process (and model server) it hit, so that an
// alert on hw.status can link to the event. It reads NVML events on its own (the metrics pipeline's
// receiver counts the same events in hw.errors).
type xidLogs struct {
	reader gpu.Reader
	next   consumer.Logs
	host   string
	logger *zap.Logger
}

func createLogs(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
	rCfg := cfg.(*Config)
	host, _ := os.Hostname()
	x := &xidLogs{next: next, host: host, logger: set.Logger}
	if rCfg.GPU.Enabled {
		devices, _ := rCfg.GPU.deviceList() // validated
		x.reader = gpu.New(gpu.Options{
			Devices:     devices,
			LibraryPath: rCfg.GPU.LibraryPath,
			SysfsRoot:   rCfg.GPU.SysfsRoot,
			Servers:     fixedServers(localServers(rCfg.Servers, append([]string{host}, rCfg.GPU.LocalAddresses...))),
			OnXid:       x.emit,
		}, set.Logger)
	}
	return x, nil
}

func (x *xidLogs) Start(ctx context.Context, _ component.Host) error {
	if x.reader == nil {
		return nil
	}
	return x.reader.Start(ctx)
}

func (x *xidLogs) Shutdown(ctx context.Context) error {
	if x.reader == nil {
		return nil
	}
	return x.reader.Shutdown(ctx)
}

// emit sends one Xid event as a log record.
func (x *xidLogs) emit(ev gpu.XidEvent) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if x.host != "" {
		rl.Resource().Attributes().PutStr("host.name", x.host)
	}
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	lr := sl.LogRecords().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(ev.Time)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	lr.SetEventName("nvidia.gpu.xid")
	if ev.HealthHint == "failed" {
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
	}
	where := ev.GPUID
	if ev.GPUName != "" {
		where = fmt.Sprintf("%s (%s)", ev.GPUID, ev.GPUName)
	}
	body := fmt.Sprintf("Xid %d on GPU %s; health %s", ev.Code, where, ev.HealthHint)
	a := lr.Attributes()
	a.PutStr("hw.id", ev.GPUID)
	a.PutStr("hw.vendor", "nvidia")
	a.PutStr("hw.type", "gpu")
	a.PutStr("hw.state", ev.HealthHint)
	a.PutStr("nvidia.gpu.xid", fmt.Sprint(ev.Code))
	if ev.GPUName != "" {
		a.PutStr("hw.name", ev.GPUName)
	}
	if ev.GPUIndex != "" {
		a.PutStr("nvidia.gpu.index", ev.GPUIndex)
	}
	switch len(ev.Processes) {
	case 0:
	case 1:
		// The only process on the GPU: the one the error hit.
		p := ev.Processes[0]
		a.PutStr("process.pid", p.PID)
		putIfSet(a, "process.executable.name", p.Executable)
		putIfSet(a, "inference.server.name", p.Server)
		if p.Server != "" {
			body += "; process " + p.PID + " of model server " + p.Server
		}
	default:
		// NVML does not say which of them: all are listed.
		pids := a.PutEmptySlice("nvidia.gpu.processes")
		var servers []string
		for _, p := range ev.Processes {
			pids.AppendEmpty().SetStr(p.PID)
			if p.Server != "" {
				servers = append(servers, p.Server)
			}
		}
		if len(servers) > 0 {
			body += "; model servers on the GPU: " + strings.Join(servers, ", ")
		}
	}
	lr.Body().SetStr(body)
	if err := x.next.ConsumeLogs(context.Background(), ld); err != nil {
		x.logger.Warn("Cannot send an Xid log record", zap.Error(err))
	}
}
