package exposition

import (
	"bytes"
	"os"
	"sort"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// BenchmarkParseFormats is one scrape's parse of a recorded payload (parser cache warm, as across
// scrapes), in the text format it was recorded in and re-encoded as OpenMetrics by the Prometheus Go
// library (where the OpenMetrics rules are checked too).
func BenchmarkParseFormats(b *testing.B) {
	for _, p := range []struct{ name, file string }{
		{"vllm", "vllm/datadog-vllm_metrics.txt"},
		{"tgi", "tgi/datadog-tgi_payload.txt"},
		{"triton", "triton/datadog-triton_metrics.txt"},
	} {
		text, err := os.ReadFile("../../../../testdata/modelservers/" + p.file)
		if err != nil {
			b.Fatal(err)
		}
		text = append(text, '\n')
		tp := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := tp.TextToMetricFamilies(bytes.NewReader(text))
		if err != nil {
			b.Fatal(err)
		}
		names := make([]string, 0, len(mfs))
		for n := range mfs {
			names = append(names, n)
		}
		sort.Strings(names)
		var om bytes.Buffer
		enc := expfmt.NewEncoder(&om, expfmt.NewFormat(expfmt.TypeOpenMetrics))
		for _, n := range names {
			if err := enc.Encode(mfs[n]); err != nil {
				b.Fatal(err)
			}
		}
		if err := enc.(expfmt.Closer).Close(); err != nil {
			b.Fatal(err)
		}
		for _, f := range []struct {
			name, contentType string
			body              []byte
		}{{"text", "text/plain", text}, {"openmetrics", omContentType, om.Bytes()}} {
			b.Run(p.name+"/"+f.name, func(b *testing.B) {
				ps := NewParser()
				b.SetBytes(int64(len(f.body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ps.ParseFrom(bytes.NewReader(f.body), f.contentType); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
