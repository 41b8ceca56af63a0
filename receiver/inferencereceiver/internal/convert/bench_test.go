package convert

import (
	"bytes"
	"os"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/exposition"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

var benchPayloads = []struct {
	name, file string
	flavor     *schema.Flavor
}{
	{"vllm", "vllm/datadog-vllm_metrics.txt", &schema.VLLM},
	{"ray_vllm", "ray/datadog-ray_vllm_metrics.txt", &schema.VLLM},
	{"nim", "nim/datadog-nim_metrics.txt", &schema.NIM},
	{"sglang", "sglang/sglang-docs-production_metrics-example.txt", &schema.SGLang},
	{"tgi", "tgi/datadog-tgi_payload.txt", &schema.TGI},
	{"triton", "triton/datadog-triton_metrics.txt", &schema.Triton},
}

// BenchmarkParseConvert is one scrape's work after the HTTP read: parse the payload as the receiver
// does (ParseFrom, a chunk at a time from the body) and build pdata
// with the flavor's table and passthrough of the rest (the default), with a converter kept across
// scrapes as in the receiver.
func BenchmarkParseConvert(b *testing.B) {
	for _, p := range benchPayloads {
		body, err := os.ReadFile("../../../../testdata/modelservers/" + p.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.name, func(b *testing.B) {
			c := New(p.flavor, PassthroughUnmapped)
			parser := exposition.NewParser()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				payload, err := parser.ParseFrom(bytes.NewReader(body), "text/plain")
				if err != nil {
					b.Fatal(err)
				}
				ms := pmetric.NewMetricSlice()
				c.Append(payload, int64(1_700_000_000_000+i*1000), ms)
			}
		})
	}
}

// BenchmarkExpfmtParse is a reference point: prometheus/common's expfmt text parser, which builds
// client_model structs per family (no pdata), on the same payloads. It is stricter than the
// Prometheus server's parser: it needs a final newline (added here) and refuses a second HELP line
// (Ray's payload has one, so that case is skipped).
func BenchmarkExpfmtParse(b *testing.B) {
	for _, p := range benchPayloads {
		body, err := os.ReadFile("../../../../testdata/modelservers/" + p.file)
		if err != nil {
			b.Fatal(err)
		}
		body = append(body, '\n')
		b.Run(p.name, func(b *testing.B) {
			parser := expfmt.NewTextParser(model.LegacyValidation)
			if _, err := parser.TextToMetricFamilies(bytes.NewReader(body)); err != nil {
				b.Skipf("expfmt refuses this payload: %v", err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				parser := expfmt.NewTextParser(model.LegacyValidation)
				if _, err := parser.TextToMetricFamilies(bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
