package inferencereceiver

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/internal/errkind"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// hungServer accepts connections and never answers; Close releases what it holds.
func hungServer(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv.URL
}

// scrapesByServer counts, in what the sink received, the resources of each server name and their
// up values.
func scrapesByServer(sink *consumertest.MetricsSink) (count map[string]int, up map[string][]int64) {
	count, up = map[string]int{}, map[string][]int64{}
	for _, md := range sink.AllMetrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			name, ok := rm.Resource().Attributes().Get("inference.server.name")
			if !ok {
				continue
			}
			count[name.Str()]++
			if m, ok := byName(rm)["inference.server.up"]; ok {
				up[name.Str()] = append(up[name.Str()], m.Gauge().DataPoints().At(0).IntValue())
			}
		}
	}
	return count, up
}

// A server that accepts and never answers costs its own scrapes and nothing else: with no timeout
// configured, the others are scraped every interval, the hung one times out each interval (up 0),
// and Shutdown returns at once even with its scrape in flight.
func TestHungServerDoesNotStopTheOthers(t *testing.T) {
	good, hits := serveFile(t, payloadDir+"/vllm/datadog-vllm_metrics.txt")
	cfg := testConfig(
		serverConfig("hung", hungServer(t)+"/metrics", "vllm"),
		serverConfig("good", good.URL+"/metrics", "vllm"),
	)
	cfg.GPU.Enabled = false
	cfg.CollectionInterval = 200 * time.Millisecond
	cfg.InitialDelay = 0
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(2 * time.Second)

	count, up := scrapesByServer(sink)
	// 2 s at 200 ms: 11 scrapes on time; a loaded machine may lose a few, never most.
	assert.GreaterOrEqual(t, count["good"], 7, "the good server is scraped every interval")
	assert.GreaterOrEqual(t, hits.Load(), int64(7))
	assert.GreaterOrEqual(t, count["hung"], 5, "the hung server's scrapes time out within the interval, each reported")
	for _, v := range up["hung"] {
		assert.Equal(t, int64(0), v)
	}
	for _, v := range up["good"] {
		assert.Equal(t, int64(1), v)
	}

	began := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Less(t, time.Since(began), 2*time.Second)
}

// Shutdown cancels a scrape in flight instead of waiting for its timeout.
func TestShutdownCancelsScrapesInFlight(t *testing.T) {
	cfg := testConfig(serverConfig("hung", hungServer(t)+"/metrics", "vllm"))
	cfg.GPU.Enabled = false
	cfg.CollectionInterval = time.Minute // timeout: min(1m, 10s) = 10s
	cfg.InitialDelay = 0
	r, err := NewFactory().CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(300 * time.Millisecond) // the first scrape is in flight
	began := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Less(t, time.Since(began), 2*time.Second)
}

// scraperhelper's own "Error scraping metrics" (error level, stack trace, every scrape) is not
// logged for servers: each logs its failure once per kind, at warn.
func TestScrapeErrorsLoggedOnceWithoutScraperhelperNoise(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	cfg := testConfig(serverConfig("gone", url+"/metrics", "vllm"))
	cfg.GPU.Enabled = false
	cfg.CollectionInterval = 100 * time.Millisecond
	cfg.InitialDelay = 0
	core, logs := observer.New(zapcore.DebugLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, new(consumertest.MetricsSink))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(600 * time.Millisecond)
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Empty(t, logs.FilterMessage(scrapeErrorMessage).All())
	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, warns, 1)
	assert.Equal(t, errkind.Refused, warns[0].ContextMap()["error.type"])
	assert.Contains(t, warns[0].ContextMap()["error"], "nothing answers there")
}

// swapServer serves whatever payload is set, as text.
type swapServer struct {
	mu          sync.Mutex
	body        []byte
	contentType string
	header      http.Header
}

func (s *swapServer) set(body []byte, contentType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.contentType = body, contentType
}

func (s *swapServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", s.contentType)
	_, _ = w.Write(s.body)
}

func newSwapServer(t *testing.T, body string) (*swapServer, string) {
	t.Helper()
	s := &swapServer{body: []byte(body), contentType: textPlain, header: http.Header{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func flavorOf(md pmetric.Metrics) string {
	v, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get("inference.server.flavor")
	return v.Str()
}

// A TGI that has served nothing exposes one gauge: its prefix is enough to recognize it. A server
// that exposes nothing of its own yet (a vLLM whose engine is still loading) reads as generic, and
// is recognized once its metrics appear.
func TestDetectionOfServersThatStartedEmpty(t *testing.T) {
	_, url := newSwapServer(t, "# TYPE tgi_batch_max_total_tokens gauge\ntgi_batch_max_total_tokens 16000\n")
	md, err := scrapeOnce(t, testConfig(serverConfig("tgi", url+"/metrics", "")))
	require.NoError(t, err)
	assert.Equal(t, "tgi", flavorOf(md))

	swap, url := newSwapServer(t, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n")
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	g := startGroup(t, testConfig(serverConfig("late", url+"/metrics", "")), set)
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, "prometheus", flavorOf(md))
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, "prometheus", flavorOf(md))

	payload, err := os.ReadFile(payloadDir + "/vllm/datadog-vllm_metrics.txt")
	require.NoError(t, err)
	swap.set(payload, textPlain)
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, "vllm", flavorOf(md))
	assert.Contains(t, byName(md.ResourceMetrics().At(0)), "inference.requests", "mapped from the scrape it was recognized in")
	assert.Len(t, logs.FilterMessageSnippet("now exposes the metrics of a known flavor").All(), 1)

	// An explicit flavor never changes.
	_, url = newSwapServer(t, string(payload))
	md, err = scrapeOnce(t, testConfig(serverConfig("fixed", url+"/metrics", "prometheus")))
	require.NoError(t, err)
	assert.Equal(t, "prometheus", flavorOf(md))
}

func upOf(md pmetric.Metrics) int64 {
	return byName(md.ResourceMetrics().At(0))["inference.server.up"].Gauge().DataPoints().At(0).IntValue()
}

// A 200 whose body does not parse is a failed scrape, as Prometheus has it; an empty body is a good
// one.
func TestScrapeVerdict(t *testing.T) {
	swap, url := newSwapServer(t, "\x00\x00\x00\x00vllm:num_requests_running 1\n")
	g := startGroup(t, testConfig(serverConfig("nul", url+"/metrics", "vllm")), receivertest.NewNopSettings(metadata.Type))
	md, err := scrapeAll(g)
	require.ErrorContains(t, err, "NUL byte")
	assert.Equal(t, int64(0), upOf(md))

	swap.set([]byte("# TYPE a gauge\na 1\nb{ 2\n"), textPlain)
	md, err = scrapeAll(g)
	require.ErrorContains(t, err, "parse error at line 3")
	assert.Equal(t, int64(0), upOf(md))
	for name := range byName(md.ResourceMetrics().At(0)) {
		assert.True(t, strings.HasPrefix(name, "inference.server."), "nothing of a payload that failed: %s", name)
	}

	swap.set(nil, textPlain)
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, int64(1), upOf(md))
}

// An invalid histogram is left out, the rest of the scrape flows, and the reason is logged once.
func TestInvalidFamilyLeftOut(t *testing.T) {
	_, url := newSwapServer(t, "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n")
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	g := startGroup(t, testConfig(serverConfig("v", url+"/metrics", "vllm")), set)
	for i := 0; i < 2; i++ {
		md, err := scrapeAll(g)
		require.NoError(t, err)
		metrics := byName(md.ResourceMetrics().At(0))
		assert.NotContains(t, metrics, "h")
		assert.Contains(t, metrics, "inference.requests.running")
		assert.Equal(t, int64(1), upOf(md))
	}
	lines := logs.FilterMessageSnippet("cannot be read").All()
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0].ContextMap()["reason"], `no le="+Inf" bucket`)
}

// Exemplars of an OpenMetrics payload reach the OTLP points, trace and span IDs decoded.
func TestExemplarsCarried(t *testing.T) {
	swap, url := newSwapServer(t, "")
	swap.set([]byte(`# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{le="0.5"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.3 1700000000.5
app_latency_seconds_bucket{le="+Inf"} 2
app_latency_seconds_count 2
app_latency_seconds_sum 1.1
# EOF
`), "application/openmetrics-text; version=1.0.0; charset=utf-8")
	md, err := scrapeOnce(t, testConfig(serverConfig("app", url+"/metrics", "prometheus")))
	require.NoError(t, err)
	dp := byName(md.ResourceMetrics().At(0))["app_latency_seconds"].Histogram().DataPoints().At(0)
	require.Equal(t, 1, dp.Exemplars().Len())
	ex := dp.Exemplars().At(0)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", ex.TraceID().String())
	assert.Equal(t, "00f067aa0ba902b7", ex.SpanID().String())
	assert.InDelta(t, 0.3, ex.DoubleValue(), 0)
	assert.Equal(t, int64(1700000000500), ex.Timestamp().AsTime().UnixMilli())
}

// Credentials in an endpoint never reach a message.
func TestCredentialsRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Redirect(w, &http.Request{}, "http://127.0.0.1:1/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	endpoint := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/metrics"
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	g := startGroup(t, testConfig(serverConfig("", endpoint, "vllm")), set)
	_, err := scrapeAll(g)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NotContains(t, err.Error(), "alice")
	assert.Contains(t, err.Error(), "xxxxx@")
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			assert.NotContains(t, v, "s3cret", k)
			assert.NotContains(t, v, "alice", k)
		}
		assert.NotContains(t, e.Message, "s3cret")
	}
}

// The timeout names itself and the fix; a redirect to a dead port is a connection error.
func TestErrorKinds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	sc := serverConfig("refused", "http://"+addr+"/metrics", "vllm")
	g := startGroup(t, testConfig(sc), receivertest.NewNopSettings(metadata.Type))
	md, err := scrapeAll(g)
	require.Error(t, err)
	assert.Equal(t, errkind.Refused, scrapeErrorKind(md))

	hung := serverConfig("hung", hungServer(t)+"/metrics", "vllm")
	hung.Timeout = 200 * time.Millisecond
	g = startGroup(t, testConfig(hung), receivertest.NewNopSettings(metadata.Type))
	began := time.Now()
	md, err = scrapeAll(g)
	assert.Less(t, time.Since(began), 2*time.Second)
	assert.Equal(t, errkind.Timeout, scrapeErrorKind(md))
	assert.Contains(t, err.Error(), "no answer within the scrape timeout, 200ms")
}

// scrapeErrorKind is the error.type of a server's only failed scrape.
func scrapeErrorKind(md pmetric.Metrics) string {
	v, _ := byName(md.ResourceMetrics().At(0))["inference.server.scrape.errors"].Sum().DataPoints().At(0).Attributes().Get("error.type")
	return v.Str()
}

// A body far over max_series costs the cap, not the payload; the buffer of a huge body is not kept.
func TestHugePayloadBoundedAndReleased(t *testing.T) {
	var b strings.Builder
	b.WriteString("# TYPE g gauge\n")
	for i := 0; i < 200_000; i++ {
		b.WriteString("g{i=\"")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString("\",n=\"")
		b.WriteString(itoa(i))
		b.WriteString("\"} 1\n")
	}
	swap, url := newSwapServer(t, b.String())
	sc := serverConfig("huge", url+"/metrics", "prometheus")
	sc.MaxBodySize = 64 << 20
	g := startGroup(t, testConfig(sc), receivertest.NewNopSettings(metadata.Type))
	md, err := scrapeAll(g)
	require.ErrorContains(t, err, "more than 50000 series")
	assert.Equal(t, int64(0), upOf(md))
	tg := g.targets[0]
	assert.Zero(t, tg.body.Cap(), "the buffer of a failed scrape is let go")
	assert.Zero(t, tg.src.(*promSource).parser.CachedLines(), "nor the lines of a failed payload")

	swap.set([]byte("# TYPE g gauge\ng 1\n"), textPlain)
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, int64(1), upOf(md))
	assert.Less(t, tg.body.Cap(), 1<<20)
}

func itoa(i int) string {
	var buf [20]byte
	n := len(buf)
	for {
		n--
		buf[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(buf[n:])
		}
	}
}

// A server whose OpenMetrics output breaks the standard's rules fails the scrape with the rule and
// the way out, and the way out works: `headers: {Accept: text/plain}` reads its text format.
func TestOpenMetricsRuleBrokenAndTheWayOut(t *testing.T) {
	var lastAccept atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastAccept.Store(r.Header.Get("Accept"))
		if strings.Contains(r.Header.Get("Accept"), "application/openmetrics-text") {
			w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
			_, _ = w.Write([]byte("# TYPE app_requests counter\napp_requests_total NaN\n# EOF\n"))
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("# TYPE app_requests_total counter\napp_requests_total NaN\n"))
	}))
	defer srv.Close()

	md, err := scrapeOnce(t, testConfig(serverConfig("app", srv.URL+"/metrics", "prometheus")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a _total sample is not NaN")
	assert.Contains(t, err.Error(), "headers: {Accept: text/plain}")
	assert.NotContains(t, err.Error(), "is the endpoint a Prometheus metrics path", "it is one")
	assert.Equal(t, "parse_error", scrapeErrorKind(md))

	cfg := serverConfig("app", srv.URL+"/metrics", "prometheus")
	cfg.Headers = configopaque.MapList{{Name: "Accept", Value: "text/plain"}}
	md, err = scrapeOnce(t, testConfig(cfg))
	require.NoError(t, err)
	assert.Equal(t, int64(1), upOf(md))
	assert.Equal(t, "text/plain", lastAccept.Load(), "the configured header replaces the receiver's")
}
