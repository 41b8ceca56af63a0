//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package ratioprocessor derives windowed ratios (error rate and others) from counters across batches.
// It is stateful: every point of a series must reach the same collector (behind a load balancer, route
// by stream with the loadbalancing exporter).
package ratioprocessor // import "github.com/otel-inference/collector/processor/ratioprocessor"
