package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/kubepod"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// The scrapers' names in the scrape telemetry.
var (
	serversScraperType = component.MustNewType("servers")
	gpuScraperType     = component.MustNewType("gpu")
)

// NewFactory creates the factory of the inference receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(
		metadata.Type,
		createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability),
		receiver.WithLogs(createLogs, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.CollectionInterval = 10 * time.Second
	return &Config{
		ControllerConfig:     cc,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		GPU:                  GPUConfig{Enabled: true, Processes: true, PodResourcesSocket: kubepod.DefaultSocket}, // devices unset: all
		Discovery:            DiscoveryConfig{Kubernetes: KubernetesDiscoveryConfig{Annotations: true}},
	}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newInferenceReceiver(cfg.(*Config), set, next)
}
