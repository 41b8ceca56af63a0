package testbed

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func TestReplayServesAndCounts(t *testing.T) {
	r, err := NewReplay([]byte("up 1\n"), 3)
	require.NoError(t, err)
	defer r.Close()
	require.Len(t, r.Addrs, 3)
	for _, a := range r.Addrs {
		resp, err := http.Get("http://" + a + "/metrics")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "up 1\n", string(body))
	}
	assert.Equal(t, int64(3), r.Hits.Load())
}

// TestQuery reads Prometheus's instant vectors and range vectors, and names a failing query.
func TestQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("query") {
		case "up":
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000.5,"1"]}]}}`)
		case "up[1m]":
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"a"},"values":[[1,"1"],[2,"0"]]}]}}`)
		default:
			http.Error(w, `{"status":"error","error":"parse error"}`, http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	got, err := Query(srv.URL, "up")
	require.NoError(t, err)
	assert.Equal(t, []Sample{{Labels: map[string]string{"job": "a"}, T: 1700000000.5, V: 1}}, got)
	got, err = Query(srv.URL, "up[1m]")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.InDelta(t, 0.0, got[1].V, 0)
	assert.InDelta(t, 2.0, got[1].T, 0)
	_, err = Query(srv.URL, "up{")
	require.ErrorContains(t, err, "parse error")
	require.ErrorContains(t, err, "up{")
}

func TestProcessStopAndKill(t *testing.T) {
	p, err := Start("sleeper", []string{"X=1"}, "sleep", "30")
	require.NoError(t, err)
	assert.False(t, p.Exited())
	p.Stop()
	assert.True(t, p.Exited(), "SIGTERM ends it")

	p, err = Start("sleeper", nil, "sleep", "30")
	require.NoError(t, err)
	p.Kill9()
	assert.True(t, p.Exited())
	assert.True(t, p.Signal(syscall.SIGTERM, 0), "signaling an exited process returns at once")

	_, err = Start("missing", nil, "/nonexistent/binary")
	require.ErrorContains(t, err, "missing")
}

func TestWaitReadyGivesUp(t *testing.T) {
	port, err := FreePort()
	require.NoError(t, err)
	start := time.Now()
	err = WaitReady("http://127.0.0.1:"+strconv.Itoa(port), 300*time.Millisecond)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestNumberPoints(t *testing.T) {
	ms := pmetric.NewMetricSlice()
	ms.AppendEmpty().SetEmptySum().DataPoints().AppendEmpty().SetDoubleValue(1)
	ms.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(2)
	ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	assert.InDelta(t, 1.0, NumberPoints(ms.At(0)).At(0).DoubleValue(), 0)
	assert.InDelta(t, 2.0, NumberPoints(ms.At(1)).At(0).DoubleValue(), 0)
	assert.Equal(t, 0, NumberPoints(ms.At(2)).Len())
}

func TestComponentConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		return path
	}
	f := receivertest.NewNopFactory()
	id := component.NewID(f.Type())

	cfg, err := ComponentConfig(write("ok.yaml", "nop:\nnop/other: {}\n"), id, f)
	require.NoError(t, err)
	assert.Equal(t, f.CreateDefaultConfig(), cfg)

	_, err = ComponentConfig(write("unknown.yaml", "nop:\n  surprise: 1\n"), id, f)
	require.ErrorContains(t, err, "section nop")
	require.ErrorContains(t, err, "surprise")

	_, err = ComponentConfig(filepath.Join(dir, "missing.yaml"), id, f)
	require.Error(t, err)
}

func TestOpenMetricsCases(t *testing.T) {
	cases, err := OpenMetricsCases("../../testdata/openmetrics/parsers")
	require.NoError(t, err)
	require.Len(t, cases, 211, "testdata/openmetrics/SOURCES.md")
	good := 0
	for _, c := range cases {
		if c.ShouldParse {
			good++
		}
		assert.NotEmpty(t, c.Name)
	}
	assert.Equal(t, 44, good)
	assert.Equal(t, "bad_blank_line", cases[0].Name, "in name order")
	assert.Equal(t, "a 1\n\n# EOF\n", string(cases[0].Body))

	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "x"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x", "test.json"), []byte(`{"type":"proto","file":"m"}`), 0o600))
	_, err = OpenMetricsCases(dir)
	require.ErrorContains(t, err, `a "proto" case`)
}
