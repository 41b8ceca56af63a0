package remotewriteexporter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

// watched is an exporter started with its telemetry and logs kept for the test.
type watched struct {
	e    *rwExporter
	tel  *componenttest.Telemetry
	logs *observer.ObservedLogs
}

func startWatched(t *testing.T, endpoint string, mutate func(*Config)) *watched {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Endpoint = endpoint
	cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 20 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.DebugLevel)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core) // after: the telemetry settings carry a logger of their own
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	e.warnAfter = 50 * time.Millisecond
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return &watched{e: e, tel: tel, logs: logs}
}

// count sums a counter's points whose attributes include want (all points when want is empty).
func (w *watched) count(name string, want ...attribute.KeyValue) int64 {
	m, err := w.tel.GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for _, kv := range want {
			if v, found := dp.Attributes.Value(kv.Key); !found || v != kv.Value {
				ok = false
			}
		}
		if ok {
			n += dp.Value
		}
	}
	return n
}

func (w *watched) queueLength() int64 {
	return int64(w.e.q().Len())
}

// An endpoint that only redirects (a POST turned into a GET that answers 200 would look delivered)
// is never followed: nothing counts as sent, the batch stays queued, the failures are retries with
// reason redirect, and the Location is in the log.
func TestRedirectIsAFailedSendNeverADelivery(t *testing.T) {
	var gets, posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
			w.WriteHeader(http.StatusOK)
			return
		}
		posts.Add(1)
		http.Redirect(w, r, "/moved", http.StatusFound)
	}))
	defer srv.Close()
	w := startWatched(t, srv.URL+"/api/v1/write", nil)
	require.NoError(t, w.e.enqueue(context.Background(), gauge(1, 1, 3)))
	require.Eventually(t, func() bool {
		return w.count("otelcol_exporter_remote_write_retries", attribute.String("reason", "redirect")) >= 3
	}, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, w.count("otelcol_exporter_remote_write_samples_sent"), "a redirect is never a delivery")
	assert.Zero(t, w.count("otelcol_exporter_remote_write_samples_dropped"))
	assert.Zero(t, gets.Load(), "the redirect is not followed")
	assert.Equal(t, int64(1), w.queueLength(), "the batch is kept")
	said := w.logs.FilterMessageSnippet("answers with a redirect").All()
	require.Len(t, said, 1)
	assert.Equal(t, "/moved", said[0].ContextMap()["location"])
}

// A 401 follows the remote-write spec by default (that request is not retried), but not quietly:
// the samples are dropped with their own reason and an error names the credential to fix.
func TestUnauthorizedIsDroppedLoudly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "invalid token", http.StatusUnauthorized)
	}))
	defer srv.Close()
	w := startWatched(t, srv.URL+"/api/v1/write", func(c *Config) {
		c.Headers = configopaque.MapList{{Name: "Authorization", Value: "Bearer expired"}}
	})
	require.NoError(t, w.e.enqueue(context.Background(), gauge(1, 1, 3)))
	require.Eventually(t, func() bool {
		return w.count("otelcol_exporter_remote_write_samples_dropped", attribute.String("reason", "unauthorized")) == 3
	}, 5*time.Second, 10*time.Millisecond)
	errs := w.logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("refuses our credentials").All()
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].ContextMap()["credential"], "Authorization header")
	assert.Zero(t, w.count("otelcol_exporter_remote_write_retries"), "not retried")
}

// With on_auth_failure: hold a 401 endpoint that starts accepting keeps every sample.
func TestOnAuthFailureHoldKeepsEverySample(t *testing.T) {
	var accept atomic.Bool
	b := &backend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			http.Error(w, "token expired", http.StatusForbidden)
			return
		}
		b.ServeHTTP(w, r)
	}))
	defer srv.Close()
	w := startWatched(t, srv.URL+"/api/v1/write", func(c *Config) { c.OnAuthFailure = "hold" })
	for i := 0; i < 5; i++ {
		require.NoError(t, w.e.enqueue(context.Background(), gauge(int64(i), float64(i), 1)))
	}
	require.Eventually(t, func() bool {
		return w.count("otelcol_exporter_remote_write_retries", attribute.String("reason", "auth")) >= 3
	}, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, w.count("otelcol_exporter_remote_write_samples_dropped"))
	held := w.logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("the queue is held").All()
	require.Len(t, held, 1)
	assert.Contains(t, held[0].ContextMap()["credential"], "no credential is configured")
	accept.Store(true) // the token was renewed
	require.Eventually(t, func() bool { return len(b.stepsOf()) == 5 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []float64{0, 1, 2, 3, 4}, b.stepsOf(), "every sample, in order")
	assert.Zero(t, w.count("otelcol_exporter_remote_write_samples_dropped"))
}

// No log line carries the password (or the token) of the endpoint: not at start, not when the
// backend is unreachable, refuses, redirects or takes the data.
func TestEndpointCredentialsNeverLogged(t *testing.T) {
	var n atomic.Int64
	b := &backend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			http.Redirect(w, r, "http://other.example/?token=leaked-too", http.StatusTemporaryRedirect)
		case 2:
			http.Error(w, "tsdb busy", http.StatusServiceUnavailable)
		case 3:
			http.Error(w, "who are you", http.StatusUnauthorized)
		default:
			b.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	endpoint := strings.Replace(srv.URL, "http://", "http://writer:hunter2@", 1) + "/api/v1/write?api_key=s3cr3t"
	w := startWatched(t, endpoint, func(c *Config) { c.OnAuthFailure = "hold" })
	require.NoError(t, w.e.enqueue(context.Background(), gauge(1, 1, 1)))
	require.Eventually(t, func() bool { return len(b.stepsOf()) == 1 }, 5*time.Second, 10*time.Millisecond)

	// Unreachable: the transport's own error carries the URL.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	w2 := startWatched(t, strings.Replace(closed.URL, "http://", "http://writer:hunter2@", 1)+"/w?api_key=s3cr3t", nil)
	require.NoError(t, w2.e.enqueue(context.Background(), gauge(1, 1, 1)))
	require.Eventually(t, func() bool { return w2.logs.FilterMessageSnippet("Cannot deliver").Len() == 1 }, 5*time.Second, 10*time.Millisecond)

	var lines int
	for _, logs := range []*observer.ObservedLogs{w.logs, w2.logs} {
		for _, e := range logs.All() {
			lines++
			text := e.Message
			for k, v := range e.ContextMap() {
				text += " " + k + "=" + toString(v)
			}
			for _, secret := range []string{"hunter2", "writer", "s3cr3t", "leaked-too"} {
				assert.NotContains(t, text, secret, "log line %q", e.Message)
			}
		}
	}
	assert.Greater(t, lines, 3, "the failures were logged")
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Endpoint = "ftp://writer:hunter2@host/w"
	err := cfg.Validate()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

// With batch_send_deadline the sender waits for more pushes before it sends, as Prometheus does:
// five pushes 40 ms apart go in one request, all of them, in order.
func TestBatchSendDeadlineMergesPushes(t *testing.T) {
	b := &backend{}
	srv := httptest.NewServer(b)
	defer srv.Close()
	w := startWatched(t, srv.URL+"/api/v1/write", func(c *Config) { c.BatchSendDeadline = time.Second })
	for i := 0; i < 5; i++ {
		require.NoError(t, w.e.enqueue(context.Background(), gauge(int64(i), float64(i), 1)))
		time.Sleep(40 * time.Millisecond)
	}
	require.Eventually(t, func() bool { return len(b.stepsOf()) == 5 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []float64{0, 1, 2, 3, 4}, b.stepsOf())
	b.mu.Lock()
	requests := len(b.requests)
	b.mu.Unlock()
	assert.Equal(t, 1, requests, "one request for the five pushes")
}
