package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedirectsAndAuthFailures runs the built binary against hostile and broken endpoints:
//   - a scrape target that redirects to another host (127.0.0.1 → 127.0.0.2) is not followed: the
//     other host gets no request, so neither the configured header; one that redirects within its
//     own host is followed and scraped;
//   - a remote-write endpoint that only redirects (its GET answers 200) gets nothing delivered: the
//     failures are retries with reason redirect, never samples sent;
//   - with on_auth_failure: hold, an endpoint that answers 401 and then starts accepting (a renewed
//     token) keeps every sample: Prometheus has each step the server served.
func TestRedirectsAndAuthFailures(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not a loopback address here: %v", err)
	}
	var elsewhere atomic.Int64
	other := &httptest.Server{Listener: l, Config: &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) })}}
	other.Start()
	defer other.Close()
	cross := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/metrics", http.StatusFound)
	}))
	defer cross.Close()
	_, steps := replayedSequence(t)
	same := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/metrics", http.StatusMovedPermanently)
			return
		}
		steps.ServeHTTP(w, r)
	}))
	defer same.Close()

	var gets atomic.Int64
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, "/moved", http.StatusFound)
	}))
	defer redirecting.Close()

	prom := startPrometheus(t, prometheusBin)
	target, err := url.Parse(prom)
	require.NoError(t, err)
	var accept atomic.Bool
	var refused atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	lapsed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			refused.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			http.Error(w, "token expired", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer lapsed.Close()

	telemetry := freePort(t)
	collector := startCollector(t, collectorBin, fmt.Sprintf(`receivers:
  inference:
    collection_interval: 500ms
    initial_delay: 0s
    gpu: {enabled: false}
    servers:
      - {name: cross, endpoint: "%s/metrics", flavor: vllm, headers: {X-Token: s3cret}}
      - {name: same, endpoint: "%s/old", flavor: vllm, headers: {X-Token: s3cret}}
exporters:
  remote_write/redirect:
    endpoint: "%s/api/v1/write"
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms}
  remote_write/hold:
    endpoint: "%s/api/v1/write"
    on_auth_failure: hold
    resource_to_telemetry_conversion: {enabled: true}
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms}
service:
  pipelines:
    metrics:
      receivers: [inference]
      exporters: [remote_write/redirect, remote_write/hold]
  telemetry:
    metrics:
      readers:
        - pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}
`, cross.URL, same.URL, redirecting.URL, lapsed.URL, telemetry))

	waitFor(t, 30*time.Second, "the held endpoint refusing a while", func() bool {
		collector.requireRunning(t)
		return refused.Load() >= 5 && steps.Served() >= 5
	})
	servedWhileRefused := steps.Served()
	accept.Store(true) // the token was renewed
	var got []sample
	waitFor(t, 60*time.Second, "every step served while the token was refused, in Prometheus", func() bool {
		collector.requireRunning(t)
		got = queryRange(t, prom, `replay_step{inference_server_name="same"}`, 10*time.Minute)
		return len(got) >= servedWhileRefused
	})
	seen := map[float64]bool{}
	for _, s := range got {
		seen[s.v] = true
	}
	for k := 0; k < servedWhileRefused; k++ {
		assert.True(t, seen[float64(k)], "step %d was lost", k)
	}

	assert.Zero(t, elsewhere.Load(), "the other host got no request, so no header")
	self := readTelemetry(t, telemetry)
	assert.Contains(t, self, `reason="redirect"`, "the redirected sends are retries")
	for _, line := range strings.Split(self, "\n") {
		if strings.HasPrefix(line, "otelcol_exporter_remote_write_samples_sent") && strings.Contains(line, `exporter="remote_write/redirect"`) {
			t.Errorf("a redirected send counted as delivered: %s", line)
		}
	}
	assert.Zero(t, gets.Load(), "the remote-write redirect is not followed")
	up := instantQuery(t, prom, `inference_server_up`)
	byName := map[string]float64{}
	for _, s := range up {
		byName[s.labels["inference_server_name"]] = s.v
	}
	assert.Equal(t, map[string]float64{"cross": 0, "same": 1}, byName)
	refusedKinds := instantQuery(t, prom, `inference_server_scrape_errors_total{inference_server_name="cross"}`)
	require.NotEmpty(t, refusedKinds)
	assert.Equal(t, "redirect_refused", refusedKinds[0].labels["error_type"])
}

func readTelemetry(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
