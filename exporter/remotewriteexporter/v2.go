package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"
)

// The protocols of `protocol`.
const (
	protocolV1 = "v1"
	protocolV2 = "v2"
)

// contentTypeV2 is remote write 2.0's content type.
const contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

// request is one remote-write request, encoded (before snappy), with the samples it carries.
type request struct {
	raw     []byte
	body    []byte // raw, compressed
	samples int
	v2      bool
}

// unsupportedV2 is a receiver that does not take remote write 2.0.
type unsupportedV2 struct{ status, msg string }

func (u unsupportedV2) Error() string {
	return "the receiver does not accept remote write 2.0: " + u.status + ": " + u.msg
}

// deliverV2 sends some queued batches as remote write 2.0 requests (interned symbols; type, unit and
// help per series) of at most max_samples_per_request samples. It returns unsupportedV2 when the
// receiver does not take 2.0 (then nothing of these batches counts as sent, and deliver sends them as
// 1.0).
func (e *rwExporter) deliverV2(ctx context.Context, items [][]byte, resumed bool) (bool, error) {
	e.addItems(ctx, items)
	var sendErr error
	ok := e.encoder.Flush(prw.V2, e.cfg.MaxSamplesPerRequest, func(raw []byte, samples int) bool {
		ok, err := e.sendWithRetry(ctx, request{raw: raw, samples: samples, v2: true}, resumed)
		sendErr = err
		return ok && err == nil
	})
	if sendErr != nil {
		return true, sendErr
	}
	return ok, nil
}

// writtenV2 reads a 2.0 receiver's account of what it wrote (X-Prometheus-Remote-Write-Samples-Written
// and -Histograms-Written): samples it took the request for but did not write are dropped, counted
// and logged once. Without the headers (a receiver that does not say), all were written.
func (e *rwExporter) writtenV2(ctx context.Context, h http.Header, sent int64) int64 {
	s, okS := headerInt(h, "X-Prometheus-Remote-Write-Samples-Written")
	hist, okH := headerInt(h, "X-Prometheus-Remote-Write-Histograms-Written")
	if !okS && !okH {
		return sent
	}
	written := s + hist
	if written < sent {
		e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, sent-written, metric.WithAttributes(attribute.String("reason", "not_written")))
		e.logOnce("not_written", "The remote-write 2.0 receiver accepted a request but wrote fewer samples than it carried; the rest are dropped (counted in otelcol_exporter_remote_write_samples_dropped{reason=\"not_written\"})",
			zap.Int64("sent", sent), zap.Int64("written", written))
		return written
	}
	return sent
}

func headerInt(h http.Header, key string) (int64, bool) {
	v := h.Get(key)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// hasWrittenHeaders: the response carries a 2.0 receiver's written counts.
func hasWrittenHeaders(h http.Header) bool {
	return h.Get("X-Prometheus-Remote-Write-Samples-Written") != "" || h.Get("X-Prometheus-Remote-Write-Histograms-Written") != ""
}
