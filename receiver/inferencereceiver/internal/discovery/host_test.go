package discovery

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery/discoverytest"
)

// metricsServer is a loopback server answering GETs of path with a small Prometheus payload (else
// 404), counting its requests.
func metricsServer(t *testing.T, path string) (int, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\"} 1\n"))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return p, &hits
}

func newTestHost(t *testing.T, root string, logger *zap.Logger) *Host {
	t.Helper()
	h, err := NewHost(HostOptions{
		ProcRoot: root, Rules: Builtin(), Interval: time.Second, Logger: logger,
		Prober: &Prober{Client: &http.Client{}, Timeout: time.Second},
	})
	require.NoError(t, err)
	return h
}

// The host source finds a vLLM process by its command line and its listening socket, confirmed by
// a probe of /metrics; it does not scrape a process that is not a model server even when it serves
// metrics; it says once why a recognized server that serves no metrics is not scraped (with the
// flag that turns them on), and probes it again only after a back-off; a server that stops is gone
// from the next scan.
func TestHostFindsModelServerProcesses(t *testing.T) {
	f := discoverytest.NewProc(t)
	vllmPort, _ := metricsServer(t, "/metrics")
	plainPort, plainHits := metricsServer(t, "/metrics")
	sglangPort, sglangHits := metricsServer(t, "/nothing-here")
	f.Add(discoverytest.Process{
		PID: 100, PPID: 1, Comm: "vllm", Argv: []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "Qwen/Qwen3-0.6B", "--port", strconv.Itoa(vllmPort)},
		Sockets: []uint64{f.Listen(vllmPort, true)},
	})
	f.Add(discoverytest.Process{
		PID: 200, PPID: 1, Comm: "python3", Argv: []string{"python3", "-m", "http.server", strconv.Itoa(plainPort)},
		Sockets: []uint64{f.Listen(plainPort, false)},
	})
	f.Add(discoverytest.Process{
		PID: 300, PPID: 1, Comm: "python3", Argv: []string{"python3", "-m", "sglang.launch_server", "--model-path", "m", "--port", strconv.Itoa(sglangPort)},
		Sockets: []uint64{f.Listen(sglangPort, false)},
	})

	core, logs := observer.New(zap.InfoLevel)
	h := newTestHost(t, f.Root, zap.New(core))
	now := time.Now()
	eps, err := h.Scan(context.Background(), now)
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.Equal(t, Endpoint{
		URL: fmt.Sprintf("http://127.0.0.1:%d/metrics", vllmPort), Name: fmt.Sprintf("vllm-%d", vllmPort),
		Source: SourceHost, Rule: "vllm", PIDs: []int{100},
		Resource: map[string]string{"process.executable.name": "vllm", "process.pid": "100"},
	}, eps[0])
	assert.Zero(t, plainHits.Load(), "a process that is not a model server is never probed")
	assert.Equal(t, int64(1), sglangHits.Load())
	said := logs.FilterMessageSnippet("Process 300 looks like a model server (sglang) but is not scraped").All()
	require.Len(t, said, 1)
	assert.Contains(t, said[0].Message, "404 Not Found")
	assert.Contains(t, said[0].Message, "start SGLang with --enable-metrics")

	// Within the back-off: the SGLang process is not probed again, and nothing is said again.
	eps, err = h.Scan(context.Background(), now.Add(500*time.Millisecond))
	require.NoError(t, err)
	assert.Len(t, eps, 1)
	assert.Equal(t, int64(1), sglangHits.Load())
	// After it: probed again, still said once.
	_, err = h.Scan(context.Background(), now.Add(1100*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, int64(2), sglangHits.Load())
	assert.Len(t, logs.FilterMessageSnippet("Process 300").All(), 1)

	f.Remove(100)
	eps, err = h.Scan(context.Background(), now.Add(2*time.Second))
	require.NoError(t, err)
	assert.Empty(t, eps)
}

// A server that is still loading (recognized, not listening yet) is found once it listens, and is
// not probed again while it lives; one restarted on another port is found there.
func TestHostFindsAServerOnceItListens(t *testing.T) {
	f := discoverytest.NewProc(t)
	port, hits := metricsServer(t, "/metrics")
	argv := []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m", "--port", strconv.Itoa(port)}
	f.Add(discoverytest.Process{PID: 100, PPID: 1, Comm: "vllm", Argv: argv})
	h := newTestHost(t, f.Root, zap.NewNop())
	now := time.Now()
	eps, err := h.Scan(context.Background(), now)
	require.NoError(t, err)
	assert.Empty(t, eps)
	assert.Zero(t, hits.Load(), "nothing to probe before it listens")

	f.Remove(100)
	f.Add(discoverytest.Process{PID: 100, PPID: 1, Comm: "vllm", Argv: argv, Sockets: []uint64{f.Listen(port, true)}})
	eps, err = h.Scan(context.Background(), now.Add(100*time.Millisecond))
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), eps[0].URL)

	// A found endpoint is not probed again while its process listens there.
	_, err = h.Scan(context.Background(), now.Add(200*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, int64(1), hits.Load())

	port2, _ := metricsServer(t, "/metrics")
	f.Remove(100)
	f.Add(discoverytest.Process{PID: 101, PPID: 1, Comm: "vllm", Argv: argv, Sockets: []uint64{f.Listen(port2, true)}})
	eps, err = h.Scan(context.Background(), now.Add(300*time.Millisecond))
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port2), eps[0].URL, "found on the port it listens on now")
}

// Processes sharing one listening socket (vLLM's API servers, forked workers) are one server; a
// process in another network namespace (a container) is not scraped from the host; Ollama's
// llama-server children are Ollama's, not llama.cpp servers of their own.
func TestHostSharedSocketsNamespacesAndChildren(t *testing.T) {
	f := discoverytest.NewProc(t)
	port, _ := metricsServer(t, "/metrics")
	podPort, podHits := metricsServer(t, "/metrics")
	childPort, childHits := metricsServer(t, "/metrics")
	inode := f.Listen(port, true)
	argv := []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m", "--port", strconv.Itoa(port)}
	f.Add(discoverytest.Process{PID: 100, PPID: 1, Comm: "vllm", Argv: argv, Sockets: []uint64{inode}})
	f.Add(discoverytest.Process{PID: 101, PPID: 100, Comm: "vllm", Argv: argv, Sockets: []uint64{inode}})
	f.Add(discoverytest.Process{PID: 102, PPID: 100, Comm: "VLLM::EngineCor", Argv: []string{"VLLM::EngineCore"}, Sockets: []uint64{inode}})
	f.Add(discoverytest.Process{
		PID: 400, PPID: 1, Comm: "vllm", Argv: []string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m", "--port", strconv.Itoa(podPort)},
		Sockets: []uint64{f.Listen(podPort, true)}, NetNS: "net:[4026532999]",
	})
	f.Add(discoverytest.Process{PID: 500, PPID: 1, Comm: "ollama", Argv: []string{"/usr/local/bin/ollama", "serve"}})
	f.Add(discoverytest.Process{
		PID: 501, PPID: 500, Comm: "llama-server", Argv: []string{"/usr/local/lib/ollama/llama-server", "--model", "/root/.ollama/models/blobs/sha256-0", "--port", strconv.Itoa(childPort), "--host", "127.0.0.1", "--no-webui"},
		Sockets: []uint64{f.Listen(childPort, false)},
	})

	h := newTestHost(t, f.Root, zap.NewNop())
	eps, err := h.Scan(context.Background(), time.Now())
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.Equal(t, []int{100, 101}, eps[0].PIDs)
	assert.Equal(t, "100", eps[0].Resource["process.pid"])
	assert.Zero(t, podHits.Load(), "a container's process is not probed from the host")
	assert.Zero(t, childHits.Load(), "Ollama's llama-server children are not probed")
}

// Without access to a process's file descriptors (the collector is not root), its port is read from
// its command line (or its rule's default) and counts when something listens there.
func TestHostReadsPortsFromTheCommandLineWithoutFDs(t *testing.T) {
	f := discoverytest.NewProc(t)
	port, _ := metricsServer(t, "/metrics")
	f.Listen(port, false)
	f.Add(discoverytest.Process{
		PID: 100, PPID: 1, Comm: "llama-server", Argv: []string{"llama-server", "-m", "m.gguf", "--metrics"},
		Env: []string{"LLAMA_ARG_PORT=" + strconv.Itoa(port)}, NoFD: true,
	})
	f.Add(discoverytest.Process{PID: 200, PPID: 1, Comm: "tritonserver", Argv: []string{"tritonserver", "--model-repository=/models", "--metrics-port=1"}, NoFD: true})
	h := newTestHost(t, f.Root, zap.NewNop())
	eps, err := h.Scan(context.Background(), time.Now())
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), eps[0].URL)
	assert.Equal(t, "llamacpp", eps[0].Rule)
}

// Ollama is probed at its API and scraped at its base URL (the receiver reads /api/ps).
func TestHostFindsOllamaThroughItsAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/ps" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"models":[]}`))
	}))
	defer srv.Close()
	_, portText, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)
	f := discoverytest.NewProc(t)
	f.Add(discoverytest.Process{
		PID: 100, PPID: 1, Comm: "ollama", Argv: []string{"/usr/local/bin/ollama", "serve"}, Env: []string{"OLLAMA_HOST=127.0.0.1:" + portText},
		Sockets: []uint64{f.Listen(port, false)},
	})
	h := newTestHost(t, f.Root, zap.NewNop())
	eps, err := h.Scan(context.Background(), time.Now())
	require.NoError(t, err)
	require.Len(t, eps, 1)
	assert.Equal(t, fmt.Sprintf("http://127.0.0.1:%d", port), eps[0].URL)
	assert.Equal(t, FlavorOllama, eps[0].Flavor)
}

// A probe tells metrics from the rest: a Prometheus payload; credentials asked for (a server to
// report, with its 401); a 404, an HTML page, a JSON document, a port that does not speak HTTP; and
// nothing listening (tried again at the next scan).
func TestProbeResults(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE up gauge\nup 1\n"))
	})
	mux.HandleFunc("/auth", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html><body>hello</body></html>"))
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"iteration": 1}`)) })
	mux.HandleFunc("/empty", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer raw.Close()
	go func() {
		for {
			c, err := raw.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("\xff\x00\x01 not http\r\n\r\n"))
			_ = c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	require.NoError(t, closed.Close())

	p := &Prober{Client: &http.Client{}, Timeout: time.Second}
	for url, want := range map[string]probeResult{
		srv.URL + "/metrics":            probeMetrics,
		srv.URL + "/auth":               probeAuth,
		srv.URL + "/missing":            probeNotMetrics,
		srv.URL + "/html":               probeNotMetrics,
		srv.URL + "/json":               probeNotMetrics,
		srv.URL + "/empty":              probeNotMetrics,
		"http://" + raw.Addr().String(): probeNotMetrics,
		"http://" + closedAddr:          probeUnreachable,
	} {
		got, err := p.probe(context.Background(), url, "")
		assert.Equal(t, want, got, "%s: %v", url, err)
	}
}
