//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package remotewriteexporter writes metrics with Prometheus remote write 1.0, durably and in order:
// the collector's sending queue (persistent with a storage extension) feeds one consumer, so the
// samples of every series reach the backend in the order they were received, across retries and
// restarts.
package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"
