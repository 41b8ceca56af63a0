package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openAIServer answers chat completions by model: "right" always "4", "wrong" always "5", "flaky"
// "4" and "5" in turn, "broken" a 500.
func openAIServer(t *testing.T) *httptest.Server {
	t.Helper()
	var flaky atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Model string `json:"model"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		answer := "4"
		switch body.Model {
		case "wrong":
			answer = "5"
		case "flaky":
			if flaky.Add(1)%2 == 0 {
				answer = "5"
			}
		case "broken":
			http.Error(w, `{"error":{"message":"engine dead"}}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "c1", "object": "chat.completion", "created": 1, "model": body.Model,
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}},
			"usage":   map[string]any{"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
		})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestProbePassRatio: the built distribution probes an OpenAI-compatible server every second (four
// probes: always right, always wrong, right every other time, a 500), the ratio processor's default
// rule derives inference.probe.pass_ratio, and remote_write stores it in Prometheus: 1, 0 and 0 for
// the constant probes, and for the flaky one every stored sample equals passes over all checks since
// the first report, read from the stored counters at the same timestamp.
func TestProbePassRatio(t *testing.T) {
	collector, prometheus := binaries(t)
	prom := startPrometheus(t, prometheus)
	api := openAIServer(t)
	var probes strings.Builder
	for _, m := range []string{"right", "wrong", "flaky", "broken"} {
		fmt.Fprintf(&probes, "      - {name: %s, endpoint: %s/v1, kind: chat, model: %s, input: \"2+2?\", max_tokens: 4, timeout: 900ms, expect: {equals: \"4\"}}\n", m, api.URL, m)
	}
	cfg := "receivers:\n  inference_probe:\n    collection_interval: 1s\n    probes:\n" + probes.String() +
		"processors:\n  ratio:\n    window: 10m\n" +
		strings.Replace(pipelineTail("remote_write", prom, true, noTelemetry, "ratio"), "receivers: [inference]", "receivers: [inference_probe]", 1)
	c := startCollector(t, collector, cfg)

	ratios := func() map[string]float64 {
		out := map[string]float64{}
		for _, s := range instantQuery(t, prom, "inference_probe_pass_ratio") {
			out[s.labels["inference_probe_name"]] = s.v
		}
		return out
	}
	waitFor(t, 60*time.Second, "pass ratios of the four probes", func() bool {
		n := len(queryRange(t, prom, `inference_probe_pass_ratio{inference_probe_name="flaky"}`, 5*time.Minute))
		return len(ratios()) == 4 && n >= 6
	})
	c.requireRunning(t)
	got := ratios()
	assert.InDelta(t, 1.0, got["right"], 0)
	assert.InDelta(t, 0.0, got["wrong"], 0)
	assert.InDelta(t, 0.0, got["broken"], 0)

	// The flaky probe, sample by sample, against the stored counters.
	checks := map[string]map[float64]float64{} // result → time → count
	for _, s := range queryRange(t, prom, `inference_probe_checks_total{inference_probe_name="flaky"}`, 5*time.Minute) {
		r := s.labels["inference_probe_result"]
		if checks[r] == nil {
			checks[r] = map[float64]float64{}
		}
		checks[r][s.t] = s.v
	}
	require.Contains(t, checks, "pass")
	require.Contains(t, checks, "fail")
	var times []float64
	for ts := range checks["pass"] {
		times = append(times, ts)
	}
	sort.Float64s(times)
	t0 := times[0]
	all := func(ts float64) float64 { return checks["pass"][ts] + checks["fail"][ts] }
	samples := queryRange(t, prom, `inference_probe_pass_ratio{inference_probe_name="flaky"}`, 5*time.Minute)
	require.GreaterOrEqual(t, len(samples), 6)
	seen := map[float64]bool{}
	for _, s := range samples {
		_, ok := checks["pass"][s.t]
		require.True(t, ok, "a ratio at %v without checks at that time", s.t)
		want := (checks["pass"][s.t] - checks["pass"][t0]) / (all(s.t) - all(t0))
		assert.InDelta(t, want, s.v, 1e-12, "pass ratio at %v", s.t)
		seen[s.v] = true
	}
	assert.Greater(t, len(seen), 1, "the flaky probe's ratio moves")

	// The broken probe's errors carry their HTTP status.
	errs := instantQuery(t, prom, `inference_probe_checks_total{inference_probe_name="broken",inference_probe_result="error"}`)
	require.Len(t, errs, 1)
	assert.Equal(t, "500", errs[0].labels["error_type"])
	assert.Positive(t, errs[0].v)
	// GenAI client latency, per probe.
	assert.NotEmpty(t, instantQuery(t, prom, `gen_ai_client_operation_duration_seconds_count{inference_probe_name="right"}`))
}

// TestProbeConfigErrorsAtValidate: `otelcol-inference validate` names each mistake of a probe.
func TestProbeConfigErrorsAtValidate(t *testing.T) {
	collector, _ := binaries(t)
	cfg := `receivers:
  inference_probe:
    probes:
      - {name: a, endpoint: http://127.0.0.1:1/v1, kind: chatt, input: x}
      - {name: b, endpoint: http://127.0.0.1:1/v1, kind: chat, input: x}
      - {name: c, endpoint: http://127.0.0.1:1/v1, kind: chat, input: x, max_tokens: 4, expect: {regex: "("}}
      - {name: d, endpoint: http://127.0.0.1:1/v1, kind: embedding, input: x, expect: {top: 1}}
      - {name: e, endpoint: http://127.0.0.1:1/v1, kind: chat, input: x, max_tokens: 4, expect: {json_schema: {type: objekt}}}
exporters:
  debug: {}
service:
  pipelines:
    metrics: {receivers: [inference_probe], exporters: [debug]}
`
	out, err := validate(t, collector, cfg)
	require.Error(t, err)
	for _, want := range []string{
		`probe "a": "kind" "chatt" is not one of chat, completion, embedding, rerank`,
		`probe "b": "max_tokens" must be set for a chat probe`,
		`probe "c": "expect.regex" does not compile`,
		`probe "d": "expect.top" and "expect.min_score" check a rerank answer`,
		`probe "e": "expect.json_schema" is not a valid JSON schema`,
	} {
		assert.Contains(t, out, want)
	}
}
