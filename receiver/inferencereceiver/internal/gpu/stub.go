//go:build !(linux && cgo)

package gpu // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

type stub struct{ logger *zap.Logger }

func newReader(_ Options, logger *zap.Logger) Reader { return stub{logger: logger} }

func (s stub) Start(context.Context) error {
	s.logger.Info("GPU metrics are off: this build has no NVML support (it needs Linux and cgo); model servers are still scraped")
	return nil
}

func (stub) Scrape(context.Context, time.Time, pmetric.MetricSlice) error { return nil }

func (stub) Shutdown(context.Context) error { return nil }
