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
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", "1000000000") // a 2.0 receiver says what it wrote (here: all)
		w.WriteHeader(http.StatusNoContent)
	}))
}

// BenchmarkOursPerSample: queue encoding, translation, request building, snappy and the HTTP post to a
// local sink, per sample; remote write 1.0 and 2.0.
func BenchmarkOursPerSample(b *testing.B) {
	md, samples := tgiMetrics(b)
	srv := sink()
	defer srv.Close()
	for _, protocol := range []string{protocolV1, protocolV2} {
		b.Run(protocol, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Endpoint = srv.URL
			cfg.Protocol = protocol
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
			if e.fellBack.Load() {
				b.Fatal("2.0 fell back to 1.0")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
		})
	}
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
