//go:build ignore

// This file is copied into the targets package of the Prometheus remote-write sender compliance
// suite (prometheus/compliance, remotewrite/sender) by run-rw-sender.sh; it is not built here.

package targets

import (
	"fmt"
	"os"
)

// RunOtelcolInference runs otelcol-inference (OTELCOL_INFERENCE_BIN): the inference receiver scrapes
// the target (flavor prometheus, every series passed through) and remote_write sends remote write 2.0.
func RunOtelcolInference(opts TargetOptions) error {
	bin := os.Getenv("OTELCOL_INFERENCE_BIN")
	if bin == "" {
		return fmt.Errorf("OTELCOL_INFERENCE_BIN is not set")
	}
	cfg := fmt.Sprintf(`receivers:
  inference:
    collection_interval: 1s
    initial_delay: 0s
    gpu: {enabled: false}
    servers:
      - {name: test, endpoint: "%s/metrics", flavor: prometheus, passthrough: all}
exporters:
  remote_write:
    endpoint: "%s"
    protocol: v2
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s}
service:
  pipelines:
    metrics: {receivers: [inference], exporters: [remote_write]}
  telemetry:
    metrics: {level: none}
`, opts.ScrapeTarget, opts.ReceiveEndpoint)
	name, err := writeTempFile(cfg, "otelcol-inference-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(name)
	return runCommand(bin, opts.Timeout, "--config="+name)
}
