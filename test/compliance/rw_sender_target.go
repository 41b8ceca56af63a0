//go:build ignore

// This file is copied into the targets package of the Prometheus remote-write sender compliance
// suite (prometheus/compliance, remotewrite/sender) by run-rw-sender.sh; it is not built here.

package targets

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
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
    batch_send_deadline: 5s
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
	return runCollector(bin, opts.Timeout, "--config="+name)
}

// runCollector runs the collector for timeout, then interrupts it. The suite's own runCommand stops
// the whole test binary (log.Fatalf) when a sender exits before the timeout, which ours does, as it
// should, on a configuration it refuses (the suite's invalid:// endpoint): its error is returned.
func runCollector(bin string, timeout time.Duration, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if os.Getenv("DEBUG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err // exited by itself: a refused configuration
	case <-time.After(timeout):
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return <-done
	}
}
