package inferenceprobereceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/receiver/inferenceprobereceiver/internal/metadata"
)

func probe(name, endpoint, kind string) ProbeConfig {
	p := ProbeConfig{Name: name, ClientConfig: confighttp.NewDefaultClientConfig(), Kind: kind, Input: "What is 2+2? Answer with the number only."}
	p.Endpoint = endpoint
	if kind == KindChat || kind == KindCompletion {
		p.MaxTokens = 16
	}
	return p
}

// mathChat is the chat probe "math" asking model, its answer checked by expect.
func mathChat(endpoint, model string, expect ExpectConfig) ProbeConfig {
	p := probe("math", endpoint, KindChat)
	p.Model, p.Expect = model, expect
	return p
}

func newTestReceiver(t *testing.T, logger *zap.Logger, probes ...ProbeConfig) *probeReceiver {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Probes = probes
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(metadata.Type)
	if logger != nil {
		set.Logger = logger
	}
	r := newProbeReceiver(cfg, set)
	require.NoError(t, r.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, r.shutdown(context.Background())) })
	return r
}

func scrape(t *testing.T, r *probeReceiver) (pmetric.Metrics, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return r.scrape(ctx)
}

// checks are the non-zero inference.probe.checks counts of a probe, by "result" or "error/<type>"
// (the last point of each series).
func checks(md pmetric.Metrics, probe string) map[string]int64 {
	out := map[string]int64{}
	forMetric(md, "inference.probe.checks", func(m pmetric.Metric) {
		for i := 0; i < m.Sum().DataPoints().Len(); i++ {
			dp := m.Sum().DataPoints().At(i)
			a := dp.Attributes().AsRaw()
			if a["inference.probe.name"] != probe {
				continue
			}
			k := a["inference.probe.result"].(string)
			if et, ok := a["error.type"]; ok {
				k += "/" + et.(string)
			}
			if dp.IntValue() == 0 {
				delete(out, k)
				continue
			}
			out[k] = dp.IntValue()
		}
	})
	return out
}

func forMetric(md pmetric.Metrics, name string, f func(pmetric.Metric)) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			if ms.At(j).Name() == name {
				f(ms.At(j))
			}
		}
	}
}

func histPoints(md pmetric.Metrics, name string) []pmetric.HistogramDataPoint {
	var out []pmetric.HistogramDataPoint
	forMetric(md, name, func(m pmetric.Metric) {
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			out = append(out, m.Histogram().DataPoints().At(i))
		}
	})
	return out
}

func attr(dp pmetric.HistogramDataPoint, k string) any {
	v, ok := dp.Attributes().Get(k)
	if !ok {
		return nil
	}
	return v.AsRaw()
}

func TestChatPassWithUsageAndModel(t *testing.T) {
	f := newFakeOpenAI(t)
	r := newTestReceiver(t, nil, mathChat(f.url(), "Qwen/Qwen3-8B", ExpectConfig{Contains: "4"}))
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "math"))
	res := md.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, "math", res["inference.probe.name"])
	assert.Equal(t, "127.0.0.1", res["server.address"])

	dur := histPoints(md, "gen_ai.client.operation.duration")
	require.Len(t, dur, 1)
	assert.EqualValues(t, 1, dur[0].Count())
	assert.Equal(t, "chat", attr(dur[0], "gen_ai.operation.name"))
	assert.Equal(t, "Qwen/Qwen3-8B", attr(dur[0], "gen_ai.request.model"))
	assert.Equal(t, "Qwen/Qwen3-8B", attr(dur[0], "gen_ai.response.model"))
	assert.Nil(t, attr(dur[0], "error.type"))
	assert.Equal(t, dur[0].ExplicitBounds().Len()+1, dur[0].BucketCounts().Len())

	usage := histPoints(md, "gen_ai.client.token.usage")
	require.Len(t, usage, 2)
	for _, u := range usage {
		switch attr(u, "gen_ai.token.type") {
		case "input":
			assert.InDelta(t, 12.0, u.Sum(), 0)
		case "output":
			assert.InDelta(t, 1.0, u.Sum(), 0)
		default:
			t.Fatalf("token type %v", attr(u, "gen_ai.token.type"))
		}
	}
	assert.Empty(t, histPoints(md, "gen_ai.client.operation.time_to_first_chunk"), "not streaming")

	// The request the server saw: small, bounded, the configured model, no key from the environment.
	body := f.lastBody.Load().(map[string]any)
	assert.Equal(t, "Qwen/Qwen3-8B", body["model"])
	assert.InDelta(t, 16.0, body["max_tokens"], 0)
	assert.Empty(t, f.lastAuth.Load())

	// Cumulative: a second scrape counts two.
	md, err = scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 2}, checks(md, "math"))
	assert.EqualValues(t, 2, histPoints(md, "gen_ai.client.operation.duration")[0].Count())
}

func TestEnvironmentKeyNeverSent(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	f := newFakeOpenAI(t)
	p := mathChat(f.url(), "m", ExpectConfig{})
	r := newTestReceiver(t, nil, p)
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "math"))
	assert.Empty(t, f.lastAuth.Load())

	p.APIKey = "sk-configured"
	r = newTestReceiver(t, nil, p)
	_, err = scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, "Bearer sk-configured", f.lastAuth.Load())
}

// Streaming: the time to the first chunk with output is at least the server's delay (the role chunk
// it sends at once does not count), one gap per later chunk, usage from the last chunk.
func TestChatStreamTiming(t *testing.T) {
	f := newFakeOpenAI(t)
	f.set(func(f *fakeOpenAI) {
		f.answer = "The answer is 4"
		f.firstDelay = 150 * time.Millisecond
		f.chunkGap = 20 * time.Millisecond
	})
	p := probe("stream", f.url(), KindChat)
	p.Stream = true
	p.Expect.Regex = `\b4\b`
	r := newTestReceiver(t, nil, p)
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "stream"))
	ttfc := histPoints(md, "gen_ai.client.operation.time_to_first_chunk")
	require.Len(t, ttfc, 1)
	assert.EqualValues(t, 1, ttfc[0].Count())
	assert.GreaterOrEqual(t, ttfc[0].Sum(), 0.150)
	assert.Equal(t, "fake-model", attr(ttfc[0], "gen_ai.request.model"), "the first model the endpoint lists")
	gaps := histPoints(md, "gen_ai.client.operation.time_per_output_chunk")
	require.Len(t, gaps, 1)
	assert.EqualValues(t, 3, gaps[0].Count(), "four content chunks, three gaps")
	assert.GreaterOrEqual(t, gaps[0].Min(), 0.015)
	dur := histPoints(md, "gen_ai.client.operation.duration")
	assert.GreaterOrEqual(t, dur[0].Sum(), 0.150+3*0.020)
	for _, u := range histPoints(md, "gen_ai.client.token.usage") {
		if attr(u, "gen_ai.token.type") == "output" {
			assert.InDelta(t, 4.0, u.Sum(), 0)
		}
	}
	body := f.lastBody.Load().(map[string]any)
	assert.Equal(t, true, body["stream"])
	assert.Equal(t, map[string]any{"include_usage": true}, body["stream_options"])
}

func TestCompletionStreamAndJSONSchema(t *testing.T) {
	f := newFakeOpenAI(t)
	f.set(func(f *fakeOpenAI) { f.answer = "```json\n{\"answer\": 4}\n```" })
	p := probe("json", f.url(), KindCompletion)
	p.Stream = true
	p.Expect.JSONSchema = map[string]any{
		"type": "object", "required": []any{"answer"},
		"properties": map[string]any{"answer": map[string]any{"type": "integer", "const": 4}},
	}
	r := newTestReceiver(t, nil, p)
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "json"))
	assert.Equal(t, "text_completion", attr(histPoints(md, "gen_ai.client.operation.duration")[0], "gen_ai.operation.name"))

	f.set(func(f *fakeOpenAI) { f.answer = `{"answer": 5}` })
	md, err = scrape(t, r)
	require.NoError(t, err, "a wrong answer is a fail, not a scrape error")
	assert.Equal(t, map[string]int64{"pass": 1, "fail": 1}, checks(md, "json"))
	f.set(func(f *fakeOpenAI) { f.answer = `not json at all` })
	md, err = scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1, "fail": 2}, checks(md, "json"))
}

// A wrong answer is a fail, logged once with the answer (truncated) until the probe passes again.
func TestFailLoggedOnce(t *testing.T) {
	f := newFakeOpenAI(t)
	f.set(func(f *fakeOpenAI) { f.answer = "5" + string(make([]byte, 0)) + stringsRepeat("é", 300) })
	core, logs := observer.New(zap.InfoLevel)
	p := probe("math", f.url(), KindChat)
	p.Expect.Equals = "4"
	r := newTestReceiver(t, zap.New(core), p)
	for i := 0; i < 3; i++ {
		_, err := scrape(t, r)
		require.NoError(t, err)
	}
	failed := logs.FilterMessageSnippet("failed its check").All()
	require.Len(t, failed, 1)
	answer := failed[0].ContextMap()["answer"].(string)
	assert.LessOrEqual(t, len(answer), maxLoggedAnswer+len("…"))
	assert.Contains(t, failed[0].Message, `"math"`)
	f.set(func(f *fakeOpenAI) { f.answer = "4" })
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1, "fail": 3}, checks(md, "math"))
	assert.Equal(t, 1, logs.FilterMessageSnippet("passes again").Len())
}

func stringsRepeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

// Every way an endpoint can fail is an error result with its error.type and a partial scrape error,
// never a crash; the other probes' data still flows.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		mode, errType string
		stream        bool
	}{
		{"500", "500", false},
		{"429", "429", false},
		{"malformed", "invalid_response", false},
		{"cut", "stream_incomplete", true},
		{"unfinished", "stream_incomplete", true},
		{"hang", "timeout", false},
		{"hang", "timeout", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			bad := newFakeOpenAI(t)
			bad.set(func(f *fakeOpenAI) { f.mode = tc.mode; f.answer = "the answer is 4" })
			good := newFakeOpenAI(t)
			core, logs := observer.New(zap.InfoLevel)
			pb := probe("bad", bad.url(), KindChat)
			pb.Model = "m"
			pb.Stream = tc.stream
			pb.Timeout = 300 * time.Millisecond
			pg := probe("good", good.url(), KindChat)
			r := newTestReceiver(t, zap.New(core), pb, pg)
			start := time.Now()
			md, err := scrape(t, r)
			require.Error(t, err)
			var pe scrapererror.PartialScrapeError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 1, pe.Failed)
			assert.Contains(t, err.Error(), `probe "bad"`)
			assert.Less(t, time.Since(start), 5*time.Second, "bounded by the probe's timeout")
			assert.Equal(t, map[string]int64{"error/" + tc.errType: 1}, checks(md, "bad"))
			assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "good"))
			for _, dp := range histPoints(md, "gen_ai.client.operation.duration") {
				if attr(dp, "inference.probe.name") == "bad" {
					assert.Equal(t, tc.errType, attr(dp, "error.type"))
				}
			}
			_, _ = scrape(t, r)
			assert.Equal(t, 1, logs.FilterMessageSnippet("got no usable answer").Len(), "logged once")
		})
	}
}

func TestConnectionRefusedAndModelDiscovery(t *testing.T) {
	f := newFakeOpenAI(t)
	url := f.url()
	f.srv.Close()
	p := probe("gone", url, KindChat)
	r := newTestReceiver(t, nil, p)
	md, err := scrape(t, r)
	require.Error(t, err)
	assert.Equal(t, map[string]int64{"error/connection_refused": 1}, checks(md, "gone"))

	empty := newFakeOpenAI(t)
	empty.set(func(f *fakeOpenAI) { f.models = nil })
	r = newTestReceiver(t, nil, probe("nomodel", empty.url(), KindChat))
	md, err = scrape(t, r)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `set "model"`)
	assert.Equal(t, map[string]int64{"error/model_discovery": 1}, checks(md, "nomodel"))
}

func TestRerank(t *testing.T) {
	for _, tei := range []bool{false, true} {
		f := newFakeOpenAI(t)
		f.set(func(f *fakeOpenAI) { f.rerankTEI = tei })
		p := probe("rerank", f.url(), KindRerank)
		p.Model = "BAAI/bge-reranker-v2-m3"
		p.Input = "capital of france"
		p.Documents = []string{"bananas are yellow", "paris is the capital of france"}
		top, minScore := 1, 0.5
		p.Expect.Top, p.Expect.MinScore = &top, &minScore
		r := newTestReceiver(t, nil, p)
		md, err := scrape(t, r)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "rerank"), "TEI format: %v", tei)
		assert.Equal(t, "rerank", attr(histPoints(md, "gen_ai.client.operation.duration")[0], "gen_ai.operation.name"))

		wrong := 0
		p.Expect.Top = &wrong
		r = newTestReceiver(t, nil, p)
		md, err = scrape(t, r)
		require.NoError(t, err)
		assert.Equal(t, map[string]int64{"fail": 1}, checks(md, "rerank"))
	}
}

func TestEmbedding(t *testing.T) {
	f := newFakeOpenAI(t)
	p := probe("embed", f.url(), KindEmbedding)
	p.Input = "hello"
	p.Expect.Dimensions = 3
	p.Expect.Reference = []float64{0.6, 0.8, 0.001}
	r := newTestReceiver(t, nil, p)
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1}, checks(md, "embed"))
	usage := histPoints(md, "gen_ai.client.token.usage")
	require.Len(t, usage, 1, "input tokens only")
	assert.InDelta(t, 2.0, usage[0].Sum(), 0)

	f.set(func(f *fakeOpenAI) { f.embedding = []float64{0.8, -0.6, 0} }) // orthogonal
	md, err = scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1, "fail": 1}, checks(md, "embed"))
	f.set(func(f *fakeOpenAI) { f.embedding = []float64{0.6, 0.8} }) // wrong size
	md, err = scrape(t, r)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"pass": 1, "fail": 2}, checks(md, "embed"))
}

// Probes run concurrently up to max_concurrent, and a probe still running is not started again.
func TestConcurrencyBoundAndNoOverlap(t *testing.T) {
	f := newFakeOpenAI(t)
	f.set(func(f *fakeOpenAI) { f.firstDelay = 100 * time.Millisecond })
	var ps []ProbeConfig
	for _, n := range []string{"a", "b", "c", "d"} {
		p := probe(n, f.url(), KindChat)
		p.Model = "m"
		ps = append(ps, p)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Probes, cfg.MaxConcurrent = ps, 2
	require.NoError(t, cfg.Validate())
	r := newProbeReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, r.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, r.shutdown(context.Background())) }()
	start := time.Now()
	md, err := scrape(t, r)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "four probes of 100 ms, two at a time")
	assert.EqualValues(t, 2, f.maxIn.Load())
	for _, n := range []string{"a", "b", "c", "d"} {
		assert.Equal(t, map[string]int64{"pass": 1}, checks(md, n))
	}

	// A scrape that stops waiting leaves its probes running; the next scrape does not start them again.
	f.set(func(f *fakeOpenAI) { f.firstDelay = 400 * time.Millisecond })
	before := f.requests.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _ = r.scrape(ctx)
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, _ = r.scrape(ctx)
	cancel()
	require.Eventually(t, func() bool { return f.inFlight.Load() == 0 && f.requests.Load()-before == 4 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.EqualValues(t, 4, f.requests.Load()-before, "each probe ran once, not twice")
}

// Shutdown ends probes in flight at once, and counts nothing for them.
func TestShutdownMidProbe(t *testing.T) {
	f := newFakeOpenAI(t)
	f.set(func(f *fakeOpenAI) { f.mode = "hang" })
	p := probe("hang", f.url(), KindChat)
	p.Model = "m"
	p.Timeout = 30 * time.Second
	cfg := createDefaultConfig().(*Config)
	cfg.Probes = []ProbeConfig{p}
	r := newProbeReceiver(cfg, receivertest.NewNopSettings(metadata.Type))
	require.NoError(t, r.start(context.Background(), componenttest.NewNopHost()))
	done := make(chan pmetric.Metrics)
	go func() {
		md, _ := r.scrape(context.Background())
		done <- md
	}()
	require.Eventually(t, func() bool { return f.inFlight.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, r.shutdown(context.Background()))
	select {
	case md := <-done:
		assert.Empty(t, checks(md, "hang"))
	case <-time.After(5 * time.Second):
		t.Fatal("scrape did not return after shutdown")
	}
}

// The timestamps: cumulative since start.
func TestCumulativeStartTime(t *testing.T) {
	f := newFakeOpenAI(t)
	r := newTestReceiver(t, nil, probe("math", f.url(), KindChat))
	md1, err := scrape(t, r)
	require.NoError(t, err)
	md2, err := scrape(t, r)
	require.NoError(t, err)
	start := func(md pmetric.Metrics) pcommon.Timestamp {
		var ts pcommon.Timestamp
		forMetric(md, "inference.probe.checks", func(m pmetric.Metric) { ts = m.Sum().DataPoints().At(0).StartTimestamp() })
		return ts
	}
	assert.Equal(t, start(md1), start(md2))
	assert.NotZero(t, start(md1))
}
