package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

// NewFactory creates the factory of the remote_write exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithMetrics(createMetrics, metadata.MetricsStability))
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	// Above a busy backend's usual latency: a request that times out is sent again although the
	// backend may have stored it.
	client.Timeout = 30 * time.Second
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0 // keep trying: the queue, not a deadline, bounds what waits
	return &Config{
		ClientConfig:         client,
		QueueConfig:          QueueConfig{QueueSize: 10_000},
		BackOffConfig:        retry,
		MaxSamplesPerRequest: 2_000,
		Protocol:             protocolV1,
		MaxRetryAfter:        5 * time.Minute,
		AddMetricSuffixes:    true,
		TargetInfo:           TargetInfo{Enabled: true},
	}
}

func createMetrics(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	c := cfg.(*Config)
	e, err := newExporter(c, set)
	if err != nil {
		return nil, err
	}
	// exporterhelper gives the standard exporter telemetry; queueing and retries are the exporter's own
	// (see internal/fifo for why), so its queue and retry are off.
	exp, err := exporterhelper.NewMetrics(ctx, set, cfg, e.enqueue,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	)
	if err != nil {
		return nil, err
	}
	// resource_to_telemetry_conversion is the encoder's (it reads the resource's attributes as labels of
	// its points instead of copying them into every point, as contrib's wrapper does).
	return exp, nil
}
