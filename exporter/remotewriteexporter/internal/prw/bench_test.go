package prw

import (
	"fmt"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func benchPayload(b *testing.B, flavor string) (pmetric.Metrics, int) {
	md, err := golden.ReadMetrics("../../../../receiver/inferencereceiver/testdata/golden/" + flavor + ".yaml")
	if err != nil {
		b.Fatal(err)
	}
	e := New(Settings{AddMetricSuffixes: true})
	if err := e.Add(md); err != nil {
		b.Fatal(err)
	}
	return md, e.Pending()
}

// BenchmarkEncoder: pdata → encoded remote-write request (uncompressed), steady state, per sample.
func BenchmarkEncoder(b *testing.B) {
	for _, flavor := range []string{"tgi", "vllm"} {
		for _, p := range []Protocol{V1, V2} {
			b.Run(fmt.Sprintf("%s/v%d", flavor, p+1), func(b *testing.B) {
				md, samples := benchPayload(b, flavor)
				e := New(Settings{AddMetricSuffixes: true})
				size := 0
				b.ReportAllocs()
				for b.Loop() {
					_ = e.Add(md)
					e.Flush(p, 2000, func(raw []byte, _ int) bool { size += len(raw); return true })
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
				b.ReportMetric(float64(size)/float64(b.N*samples), "bytes/sample")
			})
		}
	}
}

// BenchmarkTranslator: the same with contrib's translator and prompb's marshaling.
func BenchmarkTranslator(b *testing.B) {
	for _, flavor := range []string{"tgi", "vllm"} {
		b.Run(flavor, func(b *testing.B) {
			md, samples := benchPayload(b, flavor)
			set := prometheusremotewrite.Settings{AddMetricSuffixes: true}
			b.ReportAllocs()
			for b.Loop() {
				tsMap, _ := prometheusremotewrite.FromMetrics(md, set)
				req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(tsMap))}
				for _, ts := range tsMap {
					req.Timeseries = append(req.Timeseries, *ts)
				}
				if _, err := req.Marshal(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*samples), "ns/sample")
		})
	}
}
