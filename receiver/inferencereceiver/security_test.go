package inferencereceiver

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
)

// A scrape target that answers 302 to another host (127.0.0.1 → 127.0.0.2) is not followed: the
// other host gets no request, so neither the configured header nor any credential; the scrape fails
// as redirect_refused, saying where it pointed. A redirect within the same host is followed, with
// the header (the server's own).
func TestScrapeRedirectsStayOnTheirHost(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 is not a loopback address here: %v", err)
	}
	var elsewhere atomic.Int64
	other := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) })}}
	other.Start()
	defer other.Close()
	payload := "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\"} 1\n"
	var token atomic.Value
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cross":
			http.Redirect(w, r, other.URL+"/metrics?token=stolen", http.StatusFound)
		case "/same":
			http.Redirect(w, r, "/metrics", http.StatusMovedPermanently)
		case "/metrics":
			token.Store(r.Header.Get("X-Token"))
			_, _ = w.Write([]byte(payload))
		}
	}))
	defer origin.Close()
	withToken := func(name, path string) ServerConfig {
		sc := serverConfig(name, origin.URL+path, "vllm")
		sc.Headers = configopaque.MapList{{Name: "X-Token", Value: "s3cret"}}
		return sc
	}
	g := startGroup(t, testConfig(withToken("cross", "/cross")), receivertest.NewNopSettings(metadata.Type))
	md, err := scrapeAll(g)
	require.Error(t, err)
	assert.Zero(t, elsewhere.Load(), "the other host is never asked")
	assert.Equal(t, kindRedirect, scrapeErrorKind(md))
	assert.Contains(t, err.Error(), "redirected to another host, "+other.URL)
	assert.NotContains(t, err.Error(), "stolen", "the Location's token is hidden")

	g = startGroup(t, testConfig(withToken("same", "/same")), receivertest.NewNopSettings(metadata.Type))
	md, err = scrapeAll(g)
	require.NoError(t, err)
	assert.Equal(t, int64(1), upOf(md))
	assert.Equal(t, "s3cret", token.Load(), "a same-host redirect keeps the server's header")
}

// An unnamed server is named by its endpoint in the GPU join (inference.server.name on GPU process
// points, and in Prometheus): with its credentials hidden.
func TestJoinNamesHideCredentials(t *testing.T) {
	for _, sc := range []ServerConfig{
		serverConfig("", "http://reader:hunter2@127.0.0.1:8000/metrics", "vllm"),
		serverConfig("", "http://127.0.0.1:8001/metrics?token=hunter2", "vllm"),
	} {
		joined := localServers([]ServerConfig{sc}, nil)
		require.Len(t, joined, 1)
		assert.NotContains(t, joined[0].Name, "hunter2")
		assert.NotContains(t, joined[0].Name, "reader")
		g := startGroup(t, testConfig(sc), receivertest.NewNopSettings(metadata.Type))
		assert.Equal(t, joined[0].Name, g.targets[0].joinName(), "the target and the GPU join name it alike")
	}
	var errs []string
	for _, endpoint := range []string{"ftp://reader:hunter2@host/metrics", "http://reader:hunter2@host:bad/metrics"} {
		err := testConfig(serverConfig("x", endpoint, "vllm")).Validate()
		require.Error(t, err, endpoint)
		errs = append(errs, err.Error())
	}
	assert.NotContains(t, strings.Join(errs, "\n"), "hunter2")
}
