//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package remotewriteexporter writes metrics with Prometheus remote write 1.0 (or 2.0, `protocol: v2`,
// falling back to 1.0 for receivers without it), durably and in order:
// its own strict FIFO queue (internal/fifo; on a storage extension such as file_storage, or in memory)
// feeds one sender, so the samples of every series reach the backend in the order they were received,
// across retries and restarts. Series are encoded by internal/prw (contrib's translator's naming, each
// stream's labels encoded once and kept while it lives). Without storage the queue holds the pushes
// themselves (nothing is encoded for it); on storage they are encoded, and read back to send. It does not use exporterhelper's sending queue, whose persistent form
// puts the batch in flight at a crash back at the end of the queue (see RELIABILITY.md).
package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"
