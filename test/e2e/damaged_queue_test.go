package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDamagedQueueFileStillStarts: the collector is killed with -9 while its remote_write queue holds
// a backlog (the backend answers 503), the queue file is damaged the ways disks and crashes damage
// files, and the collector started again on it: it starts (no crash loop), says once at error level
// where the old file went, and delivers new data to a real Prometheus.
func TestDamagedQueueFileStillStarts(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	damage := map[string]func(path string) error{
		"cut in half": func(path string) error {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			return os.Truncate(path, fi.Size()/2)
		},
		"garbage header": func(path string) error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte(strings.Repeat("\xa5", 8192)), 0)
			return err
		},
		"empty": func(path string) error { return os.Truncate(path, 0) },
	}
	prom := startPrometheus(t, prometheusBin)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "tsdb unavailable", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			steps := &stepServer{}
			srv := httptest.NewServer(steps)
			defer srv.Close()
			dir := t.TempDir()
			config := func(endpoint string) string {
				return queuedConfig(dir, strings.ReplaceAll(name, " ", "_"), srv.URL, "200ms", "remote_write", endpoint,
					"    sending_queue: {storage: file_storage/queue}")
			}
			collector := startCollector(t, collectorBin, config(down.URL))
			path := filepath.Join(dir, "exporter_remote_write__metrics")
			waitFor(t, 30*time.Second, "a backlog in the queue file", func() bool {
				fi, err := os.Stat(path)
				return err == nil && fi.Size() >= 64<<10
			})
			time.Sleep(2 * time.Second)
			collector.kill9()
			require.NoError(t, hurt(path))

			collector = startCollector(t, collectorBin, config(prom))
			job := strings.ReplaceAll(name, " ", "_")
			waitFor(t, 60*time.Second, "new data in Prometheus", func() bool {
				collector.requireRunning(t)
				return len(instantQuery(t, prom, fmt.Sprintf(`replay_step{inference_server_name=%q}`, job))) > 0 ||
					len(instantQuery(t, prom, fmt.Sprintf(`replay_step{job=%q}`, job))) > 0
			})
			out := collector.output()
			assert.Equal(t, 1, strings.Count(out, "The remote_write queue file is"), "said once:\n%s", out)
			assert.Contains(t, out, path)
			if name != "empty" {
				assert.Contains(t, out, path+".corrupt-", "where the old file went")
			}
		})
	}
}
