package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigStepServer serves replay_step (counting its requests) and a large recorded payload beside it,
// so that a small disk fills in seconds.
type bigStepServer struct {
	stepServer
	extra []byte
}

func (s *bigStepServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.stepServer.ServeHTTP(w, r)
	_, _ = w.Write(s.extra)
}

// TestDiskFullDuringOutage: the queue is on a 2 MiB tmpfs; the backend answers 500 while the queue
// fills the disk; the backend comes back before the space does; then space returns. New data is
// refused while the disk is full (said once), the sender keeps going rather than stopping for good,
// and once space returns delivery goes on without a restart, in order, nothing stored twice.
func TestDiskFullDuringOutage(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s; the storage double in exporter/remotewriteexporter/faults_test.go covers the same path", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	filler := filepath.Join(dir, "filler")
	require.NoError(t, os.WriteFile(filler, make([]byte, 512<<10), 0o600))

	tgi, err := os.ReadFile("../../testdata/modelservers/tgi/datadog-tgi_payload.txt")
	require.NoError(t, err)
	steps := &bigStepServer{extra: tgi}
	srv := httptest.NewServer(steps)
	defer srv.Close()
	prom := startPrometheus(t, prometheusBin)
	target, _ := url.Parse(prom)
	var down atomic.Bool
	down.Store(true)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "tsdb unavailable", http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	collector := startCollector(t, collectorBin, queuedConfig(dir, "steps", srv.URL, "200ms", "remote_write", front.URL,
		"    sending_queue: {storage: file_storage/queue}\n    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}"))

	waitFor(t, 60*time.Second, "the queue to fill the disk", func() bool {
		collector.requireRunning(t)
		return strings.Contains(collector.output(), "cannot store new data")
	})
	down.Store(false) // the backend is back, the disk still full
	time.Sleep(5 * time.Second)
	collector.requireRunning(t)
	require.NoError(t, os.Remove(filler)) // space returns
	steps.mu.Lock()
	servedAtRecovery := len(steps.servedAt)
	steps.mu.Unlock()

	var stored []int
	waitFor(t, 60*time.Second, "delivery to go on after space returned", func() bool {
		collector.requireRunning(t)
		stored = stepsStored(t, prom)
		return len(stored) > 0 && stored[len(stored)-1] > servedAtRecovery+10
	})
	for i := 1; i < len(stored); i++ {
		require.Less(t, stored[i-1], stored[i], "in order, each once")
	}
	assert.Equal(t, 0, stored[0], "the first scrapes, queued before the disk filled, are delivered")
	out := collector.output()
	assert.Equal(t, 1, strings.Count(out, "cannot store new data"), "said once")
	assert.NotContains(t, out, "panic")
}
