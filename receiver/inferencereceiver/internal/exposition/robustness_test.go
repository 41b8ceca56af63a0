package exposition

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prometheus_client's classic text format writes a _created gauge beside each counter and
// histogram: they become the start times of those series, not families of their own.
func TestCreatedGaugesBecomeStartTimes(t *testing.T) {
	payload := `# HELP vllm:request_success_total Count.
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="m"} 5.0
vllm:request_success_total{finished_reason="length",model_name="m"} 1.0
# HELP vllm:request_success_created Count.
# TYPE vllm:request_success_created gauge
vllm:request_success_created{finished_reason="stop",model_name="m"} 1.7e+09
vllm:request_success_created{finished_reason="length",model_name="m"} 1.7000000015e+09
# TYPE lat histogram
lat_bucket{le="1.0"} 1.0
lat_bucket{le="+Inf"} 2.0
lat_count 2.0
lat_sum 1.5
# TYPE lat_created gauge
lat_created 1.6e+09
# TYPE orphan_created gauge
orphan_created 3.0
`
	p, err := Parse([]byte(payload), "text/plain; version=0.0.4")
	require.NoError(t, err)
	assert.Nil(t, p.Family("vllm:request_success_created"))
	assert.Nil(t, p.Family("lat_created"))
	require.NotNil(t, p.Family("orphan_created"), "a _created gauge with nothing to start is kept")
	reqs := p.Family("vllm:request_success_total").Series
	assert.Equal(t, int64(1_700_000_000_000), reqs[0].CreatedMs)
	assert.Equal(t, int64(1_700_000_001_500), reqs[1].CreatedMs)
	assert.Equal(t, int64(1_600_000_000_000), p.Family("lat").Series[0].CreatedMs)
	assert.Len(t, p.Families, 3)
}

// Prometheus treats a label with an empty value as absent: {priority=""} is the same series as {}.
func TestEmptyLabelValueIsAbsent(t *testing.T) {
	p, err := Parse([]byte("# TYPE g gauge\ng{priority=\"\",model_name=\"m\"} 3\ng{priority=\"1\",model_name=\"m\"} 2\n"), "")
	require.NoError(t, err)
	s := p.Family("g").Series
	require.Len(t, s, 2)
	assert.Equal(t, 1, s[0].Labels.Len())
	assert.False(t, s[0].Labels.Has("priority"))
	assert.Equal(t, "1", s[1].Labels.Get("priority"))
}

func TestDuplicateLinesKeepTheFirst(t *testing.T) {
	p, err := Parse([]byte("# TYPE c_total counter\nc_total{a=\"x\"} 1\nc_total{a=\"x\"} 9\nc_total{a=\"x\",b=\"\"} 7\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.5\"} 2\ns_count 3\ns_count 4\n"), "")
	require.NoError(t, err)
	assert.InDelta(t, 1.0, p.Family("c_total").Series[0].Value, 0)
	assert.Equal(t, []Quantile{{0.5, 1}}, p.Family("s").Series[0].Quantiles)
	assert.InDelta(t, 3.0, p.Family("s").Series[0].Count, 0)
	assert.Equal(t, 4, p.Duplicates)
}

func TestInvalidHistogramShapes(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"no +Inf":          {"h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", `no le="+Inf" bucket`},
		"no buckets":       {"h_sum 1\nh_count 1\n", `no le="+Inf" bucket`},
		"duplicate le":     {"h_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n", `le="1" appears twice`},
		"decreasing le":    {"h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n", `le="1" comes after le="2"`},
		"decreasing count": {"h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\nh_bucket{le=\"+Inf\"} 5\n", "lower than"},
		"NaN count":        {"h_bucket{le=\"1\"} NaN\nh_bucket{le=\"+Inf\"} 5\n", "has count NaN"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := Parse([]byte("# TYPE h histogram\n"+tc.body+"# TYPE ok gauge\nok 1\n"), "")
			require.NoError(t, err, "an invalid family is not a failed scrape")
			assert.Contains(t, p.Family("h").Invalid, tc.want)
			assert.Empty(t, p.Family("ok").Invalid)
		})
	}
	p, err := Parse([]byte("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"), "")
	require.NoError(t, err)
	assert.Empty(t, p.Family("h").Invalid, "no _count or _sum is valid: the +Inf bucket is the count")
}

func TestMaxSeriesStopsParsing(t *testing.T) {
	var b strings.Builder
	b.WriteString("# TYPE g gauge\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "g{i=\"%d\"} 1\n", i)
	}
	ps := NewParser()
	ps.MaxSeries = 100
	p, err := ps.Parse([]byte(b.String()), "")
	var tooMany *TooManySeriesError
	require.ErrorAs(t, err, &tooMany)
	assert.Equal(t, 100, tooMany.Limit)
	assert.Empty(t, p.Families, "nothing of a payload over the cap is kept")
	assert.Empty(t, ps.cache, "nor remembered")
	ps.MaxSeries = 1000
	p, err = ps.Parse([]byte(b.String()), "")
	require.NoError(t, err)
	assert.Equal(t, 1000, p.SeriesCount())
}

func TestSyntaxErrorsNameTheLine(t *testing.T) {
	_, err := Parse([]byte("# TYPE a gauge\na 1\n# a comment\nb{x=\"1\"} 2\nbroken{ 3\nc 4\n"), "")
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 5, se.Line)
	assert.Contains(t, err.Error(), "parse error at line 5")

	_, err = Parse([]byte("\x00\x00\x00\x00vllm:x 1\n"), "text/plain")
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "NUL byte")
	_, err = Parse([]byte("a 1\nb 2\n\x00"), "text/plain")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 3, se.Line)

	p, err := Parse(nil, "text/plain")
	require.NoError(t, err, "an empty body is a valid, empty payload")
	assert.Empty(t, p.Families)

	_, err = Parse([]byte("# TYPE a counter\na_total 1\n"), "application/openmetrics-text; version=1.0.0")
	require.ErrorContains(t, err, "parse error", "OpenMetrics without # EOF is cut short")
}

func TestExemplarsAreKept(t *testing.T) {
	payload := `# TYPE lat histogram
lat_bucket{le="0.5"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.3 1700000000.123
lat_bucket{le="+Inf"} 2 # {trace_id="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} 0.9
lat_count 2
lat_sum 1.2
# TYPE reqs counter
reqs_total 5 # {user="a"} 1
# EOF
`
	p, err := Parse([]byte(payload), "application/openmetrics-text; version=1.0.0")
	require.NoError(t, err)
	ex := p.Family("lat").Series[0].Exemplars
	require.Len(t, ex, 2)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", ex[0].Labels.Get("trace_id"))
	assert.InDelta(t, 0.3, ex[0].Value, 0)
	assert.Equal(t, int64(1700000000123), ex[0].TimestampMs)
	assert.Equal(t, int64(0), ex[1].TimestampMs)
	rex := p.Family("reqs_total").Series[0].Exemplars
	require.Len(t, rex, 1)
	assert.Equal(t, "a", rex[0].Labels.Get("user"))
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// ParseFrom, chunk by chunk, reads what Parse reads: on a recorded payload larger than a chunk, with
// lines longer than a chunk, and with a syntax error far into the payload (its line counted across
// chunks).
func TestParseFromEqualsParse(t *testing.T) {
	tgi, err := os.ReadFile("../../../../testdata/modelservers/tgi/datadog-tgi_payload.txt")
	require.NoError(t, err)
	require.Greater(t, len(tgi), chunkSize)
	long := "# TYPE l gauge\nl{v=\"" + strings.Repeat("x", 3*chunkSize) + "\"} 1\nm 2\n"
	for name, body := range map[string]string{"tgi": string(tgi), "long line": long} {
		want, err := Parse([]byte(body), "text/plain")
		require.NoError(t, err)
		// A reader that hands out a few bytes at a time, to cut lines anywhere.
		got, err := NewParser().ParseFrom(iotest.HalfReader(strings.NewReader(body)), "text/plain; version=0.0.4")
		require.NoError(t, err, name)
		require.Len(t, got.Families, len(want.Families), name)
		for i, f := range want.Families {
			g := got.Families[i]
			assert.Equal(t, f.Name, g.Name)
			assert.Equal(t, f.Kind, g.Kind)
			require.Len(t, g.Series, len(f.Series), f.Name)
			for j := range f.Series {
				assert.Equal(t, f.Series[j].Labels, g.Series[j].Labels)
				assert.Equal(t, f.Series[j].Value, g.Series[j].Value) //nolint:testifylint // the same text must parse to the same bits
				assert.Equal(t, f.Series[j].Buckets, g.Series[j].Buckets)
			}
		}
	}

	var b strings.Builder
	b.WriteString("# TYPE g gauge\n")
	for i := 0; i < 20_000; i++ {
		fmt.Fprintf(&b, "g{i=\"%d\"} 1\n", i)
	}
	b.WriteString("g{ broken\n")
	_, err = NewParser().ParseFrom(strings.NewReader(b.String()), "")
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 20_002, se.Line)
}

// Over MaxSeries, ParseFrom stops reading: a million-series body costs a few chunks.
func TestParseFromStopsAtTheCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("# TYPE g gauge\n")
	for i := 0; i < 1_000_000; i++ {
		fmt.Fprintf(&b, "g{i=\"%d\"} 1\n", i)
	}
	cr := &countingReader{r: strings.NewReader(b.String())}
	ps := NewParser()
	ps.MaxSeries = 1000
	_, err := ps.ParseFrom(cr, "text/plain")
	var tooMany *TooManySeriesError
	require.ErrorAs(t, err, &tooMany)
	assert.LessOrEqual(t, cr.n, 2*chunkSize, "read %d of %d bytes", cr.n, b.Len())

	// A read error is returned as it is.
	_, err = NewParser().ParseFrom(iotest.ErrReader(io.ErrUnexpectedEOF), "")
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// A chunk that ends exactly with a newline is parsed whole, and nothing is cut.
func TestParseFromChunkEndsOnNewline(t *testing.T) {
	line := "g{i=\"" + strings.Repeat("y", 50) + "\"} 1\n" // 59 bytes
	var b strings.Builder
	b.WriteString("# TYPE g gauge\n") // 15 bytes
	for b.Len()+len(line) <= chunkSize {
		b.WriteString(line)
	}
	b.WriteString(strings.Repeat("#", chunkSize-b.Len()-1) + "\n") // a comment up to the chunk's end
	b.WriteString("h 2\n")
	require.Equal(t, chunkSize+4, b.Len())
	p, err := NewParser().ParseFrom(strings.NewReader(b.String()), "")
	require.NoError(t, err)
	require.NotNil(t, p.Family("h"))
	assert.InDelta(t, 2.0, p.Family("h").Series[0].Value, 0)
}

// TestBoundLabelErrors: a bucket without le, or with an le or quantile that is not a number, is a
// syntax error naming the family, the line and the value.
func TestBoundLabelErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"# TYPE h histogram\nh_bucket 1\n", `line 2: histogram "h": a _bucket sample has no le label`},
		{"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", `line 2: histogram "h": bad le="x"`},
		{"# TYPE s summary\ns 1\n", `line 2: summary "s": a sample has no quantile label`},
		{"# TYPE s summary\ns{quantile=\"half\"} 1\n", `line 2: summary "s": bad quantile="half"`},
		{"a 1\nb 2\n", ""},
	} {
		_, err := Parse([]byte(tc.body), ContentTypeText)
		if tc.want == "" {
			require.NoError(t, err)
			continue
		}
		var se *SyntaxError
		require.ErrorAs(t, err, &se, tc.body)
		assert.Contains(t, err.Error(), tc.want)
	}
	// A NUL byte is allowed in HELP text (any UTF-8), nowhere else.
	_, err := Parse([]byte("# HELP a he\x00lp\n# TYPE a gauge\na 1\n"), ContentTypeText)
	require.NoError(t, err)
	_, err = Parse([]byte("# HELP a help\na\x00 1\n"), ContentTypeText)
	require.ErrorContains(t, err, "NUL byte")
}
