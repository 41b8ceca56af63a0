package exposition

import (
	"bytes"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const textPayload = `# HELP reqs_total Requests.
# TYPE reqs_total counter
reqs_total{code="200"} 10
reqs_total{code="500"} 2 1700000000000
# TYPE temp gauge
temp 21.5
# TYPE lat histogram
lat_bucket{le="0.1",m="a"} 1
lat_bucket{le="1",m="a"} 3
lat_bucket{le="+Inf",m="a"} 4
lat_sum{m="a"} 2.5
lat_count{m="a"} 4
# TYPE q summary
q{quantile="0.5"} 0.2
q{quantile="0.99"} 0.9
q_sum 12
q_count 40
untyped_thing{x="y"} 7
`

func TestParseText(t *testing.T) {
	p, err := Parse([]byte(textPayload), "text/plain; version=0.0.4")
	require.NoError(t, err)
	require.Len(t, p.Families, 5)

	reqs := p.Family("reqs_total")
	require.NotNil(t, reqs)
	assert.Equal(t, Counter, reqs.Kind)
	assert.Equal(t, "Requests.", reqs.Help)
	require.Len(t, reqs.Series, 2)
	assert.Equal(t, "500", reqs.Series[1].Labels.Get("code"))
	assert.Equal(t, int64(1700000000000), reqs.Series[1].TimestampMs)
	assert.InDelta(t, 2.0, reqs.Series[1].Value, 0)

	lat := p.Family("lat")
	require.NotNil(t, lat)
	require.Len(t, lat.Series, 1, "buckets, sum and count are one series")
	s := lat.Series[0]
	assert.Equal(t, "a", s.Labels.Get("m"))
	assert.Empty(t, s.Labels.Get("le"))
	assert.Equal(t, []Bucket{{0.1, 1}, {1, 3}, {math.Inf(1), 4}}, s.Buckets)
	assert.True(t, s.HasSum && s.HasCount)
	assert.InDelta(t, 4.0, s.Count, 0)

	q := p.Family("q")
	require.Len(t, q.Series, 1)
	assert.Equal(t, []Quantile{{0.5, 0.2}, {0.99, 0.9}}, q.Series[0].Quantiles)
	assert.InDelta(t, 40.0, q.Series[0].Count, 0)

	u := p.Family("untyped_thing")
	require.NotNil(t, u)
	assert.Equal(t, Unknown, u.Kind)
	assert.Equal(t, 6, p.SeriesCount()-0) // 2 + 1 + 1 + 1 + 1
}

const openMetricsPayload = `# TYPE reqs counter
# HELP reqs Requests.
reqs_total{code="200"} 10
reqs_created{code="200"} 1700000000.5
# TYPE lat_seconds histogram
# UNIT lat_seconds seconds
lat_seconds_bucket{le="1.0"} 3
lat_seconds_bucket{le="+Inf"} 4
lat_seconds_count 4
lat_seconds_sum 2.0
# EOF
`

func TestParseOpenMetricsNormalisesCounterNames(t *testing.T) {
	p, err := Parse([]byte(openMetricsPayload), "application/openmetrics-text; version=1.0.0; charset=utf-8")
	require.NoError(t, err)
	reqs := p.Family("reqs_total")
	require.NotNil(t, reqs, "OpenMetrics counter family named as in the text format")
	assert.Nil(t, p.Family("reqs"))
	require.Len(t, reqs.Series, 1)
	assert.InDelta(t, 10.0, reqs.Series[0].Value, 0)
	assert.Equal(t, int64(1700000000500), reqs.Series[0].CreatedMs)
	lat := p.Family("lat_seconds")
	require.NotNil(t, lat)
	assert.Equal(t, "seconds", lat.Unit)
	require.Len(t, lat.Series, 1)
	assert.Len(t, lat.Series[0].Buckets, 2)
}

func TestParseErrorsNameTheProblem(t *testing.T) {
	_, err := Parse([]byte("<html><body>login</body></html>\n"), "text/html")
	require.Error(t, err)
	_, err = Parse([]byte("ok 1\nbroken{ 2\n"), "text/plain")
	require.ErrorContains(t, err, "parse error")
	_, err = Parse([]byte("x 1\n"), "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily")
	require.ErrorContains(t, err, "protobuf")
}

func TestParseRecordedVLLM(t *testing.T) {
	b, err := os.ReadFile("../../../../testdata/modelservers/vllm/datadog-vllm_metrics.txt")
	require.NoError(t, err)
	p, err := Parse(b, "")
	require.NoError(t, err)
	f := p.Family("vllm:e2e_request_latency_seconds")
	require.NotNil(t, f)
	assert.Equal(t, Histogram, f.Kind)
	assert.Equal(t, "facebook/opt-125m", f.Series[0].Labels.Get("model_name"))
}

// FuzzParse: no input may panic the parser or the grouping.
func FuzzParse(f *testing.F) {
	f.Add([]byte(textPayload), "text/plain")
	f.Add([]byte(openMetricsPayload), "application/openmetrics-text")
	f.Add([]byte("# TYPE a histogram\na_bucket 1\na_sum 2\n"), "text/plain")
	f.Add([]byte("# TYPE s summary\ns 1\n"), "")
	if b, err := os.ReadFile("../../../../testdata/modelservers/vllm/datadog-vllm_metrics.txt"); err == nil {
		f.Add(b, "text/plain")
	}
	f.Fuzz(func(t *testing.T, b []byte, contentType string) {
		p, err := Parse(b, contentType)
		require.NotNil(t, p)
		_ = p.SeriesCount()
		// Streamed, the same verdict and the same series.
		q, err2 := NewParser().ParseFrom(bytes.NewReader(b), contentType)
		require.NotNil(t, q)
		require.Equal(t, err == nil, err2 == nil, "Parse: %v, ParseFrom: %v", err, err2)
		require.Equal(t, p.SeriesCount(), q.SeriesCount())
	})
}
