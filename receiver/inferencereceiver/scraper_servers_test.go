package inferencereceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/internal/replay"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// payloadDir holds the recorded real payloads shared by unit and e2e tests (provenance in SOURCES.md).
const payloadDir = "../../testdata/modelservers"

// serveFile serves one recorded payload as a Prometheus text endpoint and counts the requests.
func serveFile(t *testing.T, path string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func serverConfig(name, endpoint, flavor string) ServerConfig {
	return ServerConfig{ClientConfig: confighttp.ClientConfig{Endpoint: endpoint}, Name: name, Flavor: flavor}
}

// startGroup makes the servers of cfg and starts their HTTP clients; the test's end shuts them down.
func startGroup(t *testing.T, cfg *Config, set receiver.Settings) *serverGroup {
	t.Helper()
	g, err := newServerGroup(cfg, set)
	require.NoError(t, err)
	for _, tg := range g.targets {
		require.NoError(t, tg.start(context.Background(), componenttest.NewNopHost()))
	}
	t.Cleanup(func() {
		g.shutdown()
		for _, tg := range g.targets {
			require.NoError(t, tg.shutdown(context.Background()))
		}
		g.close()
	})
	return g
}

// scrapeAll scrapes every server of g once, in configuration order, each within its timeout as its
// controller would, and joins what they return.
func scrapeAll(g *serverGroup) (pmetric.Metrics, error) {
	out := pmetric.NewMetrics()
	var errs []error
	for _, tg := range g.targets {
		ctx, cancel := context.WithTimeout(context.Background(), tg.timeout)
		md, err := tg.scrape(ctx)
		cancel()
		md.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// scrapeOnce starts the servers of cfg, scrapes each once and shuts them down.
func scrapeOnce(t *testing.T, cfg *Config) (pmetric.Metrics, error) {
	t.Helper()
	return scrapeAll(startGroup(t, cfg, receivertest.NewNopSettings(metadata.Type)))
}

func testConfig(servers ...ServerConfig) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Servers = servers
	return cfg
}

func compareGolden(t *testing.T, goldenName string, actual pmetric.Metrics) {
	t.Helper()
	path := filepath.Join("testdata", "golden", goldenName)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, golden.WriteMetrics(t, path, actual))
	}
	expected, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(expected, actual,
		pmetrictest.IgnoreTimestamp(),
		pmetrictest.IgnoreMetricDataPointsOrder(),
		pmetrictest.IgnoreMetricsOrder(),
		pmetrictest.IgnoreStartTimestamp(),
		pmetrictest.IgnoreResourceAttributeValue("server.port"),
		pmetrictest.IgnoreResourceAttributeValue("service.instance.id"),
		pmetrictest.IgnoreMetricValues("inference.server.scrape.duration"),
	))
}

// route is one path a replayed server answers.
type route = replay.Route

// serveRoutes serves recorded files on their paths; anything else is a 404.
func serveRoutes(t *testing.T, routes map[string]route) *httptest.Server {
	t.Helper()
	h, err := replay.Files(routes)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

const textPlain = "text/plain; version=0.0.4; charset=utf-8"

func metricsRoute(file string) map[string]route {
	return map[string]route{"/metrics": {File: file, ContentType: textPlain}}
}

// goldenCase is one recorded (or documented) payload, the server configuration that reads it, and
// the flavor auto-detection must find ("" where the flavor cannot be detected).
type goldenCase struct {
	name     string
	routes   map[string]route
	path     string
	server   ServerConfig
	detected string
}

func goldenCases() []goldenCase {
	appMappings := []MappingConfig{
		{From: "reranker_requests_total", To: "inference.requests", Labels: map[string]string{"model": "gen_ai.request.model"}, Attributes: map[string]string{"inference.outcome": "success"}},
		{From: "reranker_errors_total", To: "inference.requests", Labels: map[string]string{"model": "gen_ai.request.model", "reason": "error.type"}, Attributes: map[string]string{"inference.outcome": "error"}},
		{From: "reranker_score_distribution", To: "inference.score", Labels: map[string]string{"model": "gen_ai.request.model"}},
	}
	return []goldenCase{
		{name: "vllm", routes: metricsRoute(payloadDir + "/vllm/datadog-vllm_metrics.txt"), path: "/metrics", server: ServerConfig{Flavor: "vllm"}, detected: "vllm"},
		{name: "ray_vllm", routes: metricsRoute(payloadDir + "/ray/datadog-ray_vllm_metrics.txt"), path: "/metrics", server: ServerConfig{Flavor: "vllm"}, detected: "vllm"},
		{name: "nim", routes: map[string]route{"/v1/metrics": {File: payloadDir + "/nim/datadog-nim_metrics.txt", ContentType: textPlain}}, path: "/v1/metrics", server: ServerConfig{Flavor: "nim"}, detected: "nim"},
		{name: "sglang", routes: metricsRoute(payloadDir + "/sglang/datadog-sglang_metrics.txt"), path: "/metrics", server: ServerConfig{Flavor: "sglang"}, detected: "sglang"},
		{name: "sglang_docs", routes: metricsRoute(payloadDir + "/sglang/sglang-docs-production_metrics-example.txt"), path: "/metrics", server: ServerConfig{Flavor: "sglang"}, detected: "sglang"},
		{name: "tgi", routes: map[string]route{
			"/metrics": {File: payloadDir + "/tgi/datadog-tgi_payload.txt", ContentType: textPlain},
			"/info":    {File: "testdata/payloads/tgi-info.json", ContentType: "application/json"},
		}, path: "/metrics", server: ServerConfig{Flavor: "tgi"}, detected: "tgi"},
		{name: "tei", routes: metricsRoute("testdata/payloads/tei.txt"), path: "/metrics", server: ServerConfig{Flavor: "tei"}, detected: "tei"},
		{name: "triton", routes: metricsRoute(payloadDir + "/triton/datadog-triton_metrics.txt"), path: "/metrics", server: ServerConfig{Flavor: "triton"}, detected: "triton"},
		{name: "dcgm", routes: metricsRoute(payloadDir + "/dcgm/datadog-dcgm_metrics.txt"), path: "/metrics", server: ServerConfig{Flavor: "dcgm"}, detected: "dcgm"},
		{name: "dcgm_t4", routes: metricsRoute("../../testdata/gpu/dcgm-exporter-datadog-t4.txt"), path: "/metrics", server: ServerConfig{Flavor: "dcgm"}, detected: "dcgm"},
		{name: "llamacpp", routes: metricsRoute("testdata/payloads/llamacpp.txt"), path: "/metrics", server: ServerConfig{Flavor: "llamacpp"}, detected: "llamacpp"},
		{name: "app", routes: metricsRoute("testdata/payloads/app.txt"), path: "/metrics", server: ServerConfig{Flavor: "prometheus", Mappings: appMappings}, detected: "prometheus"},
		{name: "ollama", routes: map[string]route{
			"/api/ps":      {File: payloadDir + "/ollama/ollama-docs-api_ps-example.json", ContentType: "application/json"},
			"/api/version": {File: payloadDir + "/ollama/ollama-docs-api_version-example.json", ContentType: "application/json"},
		}, path: "", server: ServerConfig{Flavor: "ollama"}},
		{name: "json", routes: map[string]route{"/stats": {File: "testdata/payloads/stats.json", ContentType: "application/json"}}, path: "/stats", server: ServerConfig{Flavor: "json", Fields: []FieldConfig{
			{Field: "requests", Metric: "embedder.requests", Type: "sum", Unit: "{request}"},
			{Field: "errors", Metric: "inference.requests", Type: "sum", Unit: "{request}", Attributes: map[string]string{"inference.outcome": "error"}},
			{Field: "duration_ms", Metric: "embedder.duration", Unit: "s", Scale: 0.001},
			{Field: "queue.depth", Metric: "inference.requests.queued", Unit: "{request}"},
			{Field: "queue.busy", Metric: "embedder.busy", Unit: "1"},
			{Field: "workers.1.inflight", Metric: "inference.requests.running", Unit: "{request}", Attributes: map[string]string{"worker": "1"}},
			{Field: "absent.field", Metric: "embedder.absent"},
		}}},
	}
}

// serve replays the case's payloads and returns its server's configuration, named as the case.
func (tc goldenCase) serve(t *testing.T) ServerConfig {
	t.Helper()
	srv := serveRoutes(t, tc.routes)
	sc := tc.server
	sc.Name = tc.name
	sc.Endpoint = srv.URL + tc.path
	return sc
}

func TestGoldenPerFlavor(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			md, err := scrapeOnce(t, testConfig(tc.serve(t)))
			require.NoError(t, err)
			compareGolden(t, tc.name+".yaml", md)
		})
	}
}

// TestAutoDetection: with flavor omitted, every recorded payload is recognized, and gives the same
// output as with its flavor set.
func TestAutoDetection(t *testing.T) {
	for _, tc := range goldenCases() {
		if tc.detected == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			sc := tc.serve(t)
			sc.Flavor = ""
			md, err := scrapeOnce(t, testConfig(sc))
			require.NoError(t, err)
			flavor, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get("inference.server.flavor")
			assert.Equal(t, tc.detected, flavor.Str())
			if os.Getenv("UPDATE_GOLDEN") == "" {
				compareGolden(t, tc.name+".yaml", md)
			}
		})
	}
}

// TestScrapeVLLMSemantics pins the mapping facts a person checked in the golden file, so that a
// regenerated golden file cannot silently change them.
func TestScrapeVLLMSemantics(t *testing.T) {
	srv, _ := serveFile(t, filepath.Join(payloadDir, "vllm", "datadog-vllm_metrics.txt"))
	md, err := scrapeOnce(t, testConfig(serverConfig("vllm-a", srv.URL+"/metrics", "vllm")))
	require.NoError(t, err)
	require.Equal(t, 1, md.ResourceMetrics().Len())
	rm := md.ResourceMetrics().At(0)
	res := rm.Resource().Attributes().AsRaw()
	assert.Equal(t, "vllm", res["inference.server.flavor"])
	assert.Equal(t, "vllm-a", res["inference.server.name"])
	assert.Equal(t, "127.0.0.1", res["server.address"])
	// job and instance, as a Prometheus scrape would label them.
	assert.Equal(t, "vllm-a", res["service.name"])
	assert.Equal(t, srv.Listener.Addr().String(), res["service.instance.id"])

	metrics := byName(rm)
	// v1 names win over their v0 forerunners, which pass through under their own names.
	tpot := metrics["gen_ai.server.time_per_output_token"]
	require.Equal(t, pmetric.MetricTypeHistogram, tpot.Type())
	assert.Equal(t, "s", tpot.Unit())
	assert.Contains(t, metrics, "inference.inter_token.duration")
	assert.Contains(t, metrics, "vllm:time_per_output_token_seconds")
	assert.NotContains(t, metrics, "vllm:inter_token_latency_seconds")
	assert.Contains(t, metrics, "vllm:gpu_cache_usage_perc")
	assert.NotContains(t, metrics, "vllm:kv_cache_usage_perc")

	req := metrics["inference.requests"]
	require.Equal(t, pmetric.MetricTypeSum, req.Type())
	assert.True(t, req.Sum().IsMonotonic())
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, req.Sum().AggregationTemporality())
	require.Equal(t, 1, req.Sum().DataPoints().Len())
	dp := req.Sum().DataPoints().At(0)
	assert.Equal(t, map[string]any{
		"gen_ai.request.model":    "facebook/opt-125m",
		"inference.outcome":       "success",
		"inference.finish_reason": "length",
	}, dp.Attributes().AsRaw())
	assert.InDelta(t, 1.0, dp.DoubleValue(), 0)

	tokens := metrics["inference.tokens"].Sum().DataPoints()
	require.Equal(t, 2, tokens.Len())
	got := map[string]float64{}
	for i := 0; i < tokens.Len(); i++ {
		tt, _ := tokens.At(i).Attributes().Get("gen_ai.token.type")
		got[tt.Str()] = tokens.At(i).DoubleValue()
	}
	assert.Equal(t, map[string]float64{"input": 5, "output": 7}, got)

	// Every histogram's per-bucket counts add up to its count, with one more count than bounds.
	for name, m := range metrics {
		if m.Type() != pmetric.MetricTypeHistogram {
			continue
		}
		for i := 0; i < m.Histogram().DataPoints().Len(); i++ {
			h := m.Histogram().DataPoints().At(i)
			if h.BucketCounts().Len() == 0 {
				continue
			}
			assert.Equal(t, h.ExplicitBounds().Len()+1, h.BucketCounts().Len(), name)
			var total uint64
			for _, c := range h.BucketCounts().AsRaw() {
				total += c
			}
			assert.Equal(t, h.Count(), total, name)
		}
	}
	up := metrics["inference.server.up"].Gauge().DataPoints().At(0)
	assert.Equal(t, int64(1), up.IntValue())
	// Counters start when the process started (process_start_time_seconds 1.7181405583e+09).
	assert.Equal(t, pcommon.Timestamp(1718140558300*1e6), dp.StartTimestamp())
}

func byName(rm pmetric.ResourceMetrics) map[string]pmetric.Metric {
	out := map[string]pmetric.Metric{}
	for i := 0; i < rm.ScopeMetrics().Len(); i++ {
		ms := rm.ScopeMetrics().At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			out[ms.At(j).Name()] = ms.At(j)
		}
	}
	return out
}

func TestScrapeOneServerDownOthersFlow(t *testing.T) {
	good, _ := serveFile(t, filepath.Join(payloadDir, "vllm", "datadog-vllm_metrics.txt"))
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusUnauthorized)
	}))
	defer bad.Close()
	md, err := scrapeOnce(t, testConfig(
		serverConfig("good", good.URL+"/metrics", "vllm"),
		serverConfig("locked", bad.URL+"/metrics", "vllm"),
	))
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err))
	assert.Contains(t, err.Error(), `server "locked"`)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.Contains(t, err.Error(), "check auth")
	require.Equal(t, 2, md.ResourceMetrics().Len())

	goodMetrics := byName(md.ResourceMetrics().At(0))
	assert.Contains(t, goodMetrics, "inference.requests")
	assert.Equal(t, int64(1), goodMetrics["inference.server.up"].Gauge().DataPoints().At(0).IntValue())
	lockedMetrics := byName(md.ResourceMetrics().At(1))
	assert.Len(t, lockedMetrics, 3, "a failed server reports only up, its error counts and scrape duration")
	assert.Equal(t, int64(0), lockedMetrics["inference.server.up"].Gauge().DataPoints().At(0).IntValue())
}

func TestScrapeUnreachableAndGarbage(t *testing.T) {
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("<html>this is not metrics{{{\n"))
	}))
	defer garbage.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	md, err := scrapeOnce(t, testConfig(
		serverConfig("html", garbage.URL+"/", "vllm"),
		serverConfig("gone", closedURL+"/metrics", "prometheus"),
	))
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `server "html"`)
	assert.Contains(t, msg, "parse error")
	assert.Contains(t, msg, `server "gone"`)
	assert.Contains(t, msg, "nothing answers there")
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		up := byName(md.ResourceMetrics().At(i))["inference.server.up"]
		assert.Equal(t, int64(0), up.Gauge().DataPoints().At(0).IntValue())
	}
}

func TestPassthroughModes(t *testing.T) {
	srv, _ := serveFile(t, filepath.Join(payloadDir, "vllm", "datadog-vllm_metrics.txt"))
	names := func(mode string) map[string]pmetric.Metric {
		sc := serverConfig("", srv.URL+"/metrics", "vllm")
		sc.Passthrough = mode
		md, err := scrapeOnce(t, testConfig(sc))
		require.NoError(t, err)
		return byName(md.ResourceMetrics().At(0))
	}
	unmapped, all, none := names(""), names("all"), names("none")
	assert.Contains(t, unmapped, "vllm:num_preemptions_total")
	assert.NotContains(t, unmapped, "vllm:request_success_total")
	assert.Contains(t, all, "vllm:request_success_total")
	assert.Contains(t, all, "inference.requests")
	assert.NotContains(t, none, "vllm:num_preemptions_total")
	assert.Contains(t, none, "inference.requests")
	for name := range none {
		assert.False(t, strings.HasPrefix(name, "vllm:") || strings.HasPrefix(name, "python_"), name)
	}
}

func TestGzipBodySizeAndSeriesCap(t *testing.T) {
	body, err := os.ReadFile(filepath.Join(payloadDir, "vllm", "datadog-vllm_metrics.txt"))
	require.NoError(t, err)
	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	_, _ = zw.Write(body)
	require.NoError(t, zw.Close())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Contains(t, r.Header.Get("Accept-Encoding"), "gzip")
		w.Header().Set("Content-Type", textPlain)
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gzipped.Bytes())
	}))
	defer srv.Close()

	// gzip is accepted and decoded.
	md, err := scrapeOnce(t, testConfig(serverConfig("gz", srv.URL+"/metrics", "vllm")))
	require.NoError(t, err)
	assert.Contains(t, byName(md.ResourceMetrics().At(0)), "inference.requests")

	// A body over max_body_size fails that server only, saying what to change.
	small := serverConfig("small", srv.URL+"/metrics", "vllm")
	small.MaxBodySize = 1000
	_, err = scrapeOnce(t, testConfig(small))
	require.ErrorContains(t, err, "larger than max_body_size (1000 bytes)")

	// Over max_series the whole scrape fails, as a Prometheus scrape over sample_limit does: up 0,
	// nothing of the payload, the reason counted.
	capped := serverConfig("capped", srv.URL+"/metrics", "vllm")
	capped.MaxSeries = 10
	md, err = scrapeOnce(t, testConfig(capped))
	require.ErrorContains(t, err, "more than 10 series (max_series)")
	metrics := byName(md.ResourceMetrics().At(0))
	for name := range metrics {
		assert.True(t, strings.HasPrefix(name, "inference.server."), name)
	}
	assert.Equal(t, int64(0), metrics["inference.server.up"].Gauge().DataPoints().At(0).IntValue())
	errType, _ := metrics["inference.server.scrape.errors"].Sum().DataPoints().At(0).Attributes().Get("error.type")
	assert.Equal(t, "too_many_series", errType.Str())
}

// TestTGIModelReadAgainAfterFailure: the model comes from /info; while /info fails the metrics still
// flow without it, and it is read once it answers.
func TestTGIModelReadAgainAfterFailure(t *testing.T) {
	payload, err := os.ReadFile(filepath.Join(payloadDir, "tgi", "datadog-tgi_payload.txt"))
	require.NoError(t, err)
	var infoUp atomic.Bool
	var infoHits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", textPlain)
			_, _ = w.Write(payload)
		case "/info":
			infoHits.Add(1)
			if !infoUp.Load() {
				http.Error(w, "starting", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte(`{"model_id":"org/model-a"}`))
		}
	}))
	defer srv.Close()
	g := startGroup(t, testConfig(serverConfig("tgi", srv.URL+"/metrics", "tgi")), receivertest.NewNopSettings(metadata.Type))
	model := func() (string, bool) {
		md, err := scrapeAll(g)
		require.NoError(t, err)
		dp := byName(md.ResourceMetrics().At(0))["inference.requests"].Sum().DataPoints().At(0)
		v, ok := dp.Attributes().Get("gen_ai.request.model")
		return v.Str(), ok
	}
	_, ok := model()
	assert.False(t, ok)
	infoUp.Store(true)
	m, ok := model()
	assert.True(t, ok)
	assert.Equal(t, "org/model-a", m)
	hits := infoHits.Load()
	_, _ = model()
	assert.Equal(t, hits, infoHits.Load(), "/info is read once it answered, not every scrape")
}

// A server that stays down is an error every scrape (scraperhelper counts each one), logged once per
// kind of failure, and counted by kind in inference.server.scrape.errors.
func TestRepeatedFailureLoggedOncePerKind(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := int(status.Load()); code != http.StatusOK {
			// A redirect-like changing text must not make a new log line.
			http.Error(w, r.URL.String()+time.Now().String(), code)
			return
		}
		w.Header().Set("Content-Type", textPlain)
		_, _ = w.Write([]byte("# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 1\n"))
	}))
	defer srv.Close()
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	g := startGroup(t, testConfig(serverConfig("flaky", srv.URL+"/metrics", "vllm")), set)

	errorCounts := func(md pmetric.Metrics) map[string]int64 {
		out := map[string]int64{}
		dps := byName(md.ResourceMetrics().At(0))["inference.server.scrape.errors"].Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			k, _ := dps.At(i).Attributes().Get("error.type")
			out[k.Str()] = dps.At(i).IntValue()
		}
		return out
	}
	for i := 0; i < 3; i++ {
		md, err := scrapeAll(g)
		require.Error(t, err, "every failed scrape is returned")
		assert.True(t, scrapererror.IsPartialScrapeError(err))
		assert.Equal(t, int64(0), byName(md.ResourceMetrics().At(0))["inference.server.up"].Gauge().DataPoints().At(0).IntValue())
		assert.Equal(t, map[string]int64{"503": int64(i + 1)}, errorCounts(md))
	}
	status.Store(http.StatusNotFound)
	md, err := scrapeAll(g)
	require.Error(t, err)
	assert.Equal(t, map[string]int64{"503": 3, "404": 1}, errorCounts(md))
	status.Store(http.StatusOK)
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"503": 3, "404": 1}, errorCounts(md), "the counts stay, cumulative")

	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warns, 2, "one line per kind of failure")
	assert.Contains(t, warns[0].Message, `"flaky"`, "the server is in the message, which log sampling keys on")
	assert.Equal(t, "503", warns[0].ContextMap()["error.type"])
	assert.Equal(t, "404", warns[1].ContextMap()["error.type"])
	assert.Len(t, logs.FilterMessageSnippet("answering again").All(), 1)
}
