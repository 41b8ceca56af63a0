package remotewriteexporter

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

// tgiMetrics is the recorded TGI payload as the inference receiver emits it (its checked golden
// output).
func tgiMetrics(b *testing.B) (pmetric.Metrics, int) {
	md, err := golden.ReadMetrics("../../receiver/inferencereceiver/testdata/golden/tgi.yaml")
	if err != nil {
		b.Fatal(err)
	}
	tsMap, _ := prometheusremotewrite.FromMetrics(md, prometheusremotewrite.Settings{AddMetricSuffixes: true})
	samples := 0
	for _, ts := range tsMap {
		samples += len(ts.Samples)
	}
	return md, samples
}

func sink() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
}

// BenchmarkOursPerSample: queue encoding, translation, request building, snappy and the HTTP post to a
// local sink, per sample.
func BenchmarkOursPerSample(b *testing.B) {
	md, samples := tgiMetrics(b)
	srv := sink()
	defer srv.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	if err != nil {
		b.Fatal(err)
	}
	e.client = srv.Client()
	e.logger = zap.NewNop()
	b.ReportAllocs()
	for b.Loop() {
		raw, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if !e.deliver(context.Background(), [][]byte{raw}, false) {
			b.Fatal("not delivered")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
}

// BenchmarkContribPerSample: contrib's prometheus_remote_write exporter on the same input, its queue
// off (synchronous), posting to the same kind of sink.
func BenchmarkContribPerSample(b *testing.B) {
	md, samples := tgiMetrics(b)
	srv := sink()
	defer srv.Close()
	f := prometheusremotewriteexporter.NewFactory()
	cfg := f.CreateDefaultConfig().(*prometheusremotewriteexporter.Config)
	cfg.ClientConfig.Endpoint = srv.URL
	cfg.RemoteWriteQueue.Enabled = false
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(component.MustNewType("prometheus_remote_write")), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	b.ReportAllocs()
	for b.Loop() {
		in := pmetric.NewMetrics()
		md.CopyTo(in)
		if err := exp.ConsumeMetrics(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
}
