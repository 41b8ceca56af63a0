package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otel-inference/collector/internal/replay"
)

// webhookAlert is the part of Alertmanager's webhook payload the test reads.
type webhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// TestErrorAlertDeliveredToWebhook stages a failure and follows it to a pager: a replayed vLLM
// answers healthy for ten scrapes, then its error counter jumps; the collector's ratio processor
// turns that into inference_requests_error_ratio, the shipped InferenceHighErrorRate rule (its `for`
// cut from 10m to 5s, nothing else changed) goes pending then firing in a real Prometheus, and
// Debian's Alertmanager delivers it to a webhook on 127.0.0.1 with the model and the server in its
// labels. A second server that stays healthy raises nothing.
func TestErrorAlertDeliveredToWebhook(t *testing.T) {
	collectorBin, prometheusBin := binaries(t)
	amBin := alertmanagerProgram.path(t)

	// The shipped rules, with the error alert's hold time shortened so the test ends in seconds.
	src, err := os.ReadFile("../../deploy/prometheus/inference-rules.yaml")
	require.NoError(t, err)
	text := string(src)
	at := strings.Index(text, "alert: InferenceHighErrorRate")
	require.GreaterOrEqual(t, at, 0, "the shipped rules have InferenceHighErrorRate")
	hold := strings.Index(text[at:], "for: 10m")
	require.GreaterOrEqual(t, hold, 0, "InferenceHighErrorRate holds for 10m")
	text = text[:at+hold] + "for: 5s" + text[at+hold+len("for: 10m"):]
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(text), 0o600))

	// The webhook: what Alertmanager delivers.
	var mu sync.Mutex
	var delivered []webhookAlert
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct {
			Alerts []webhookAlert `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		delivered = append(delivered, msg.Alerts...)
		mu.Unlock()
	}))
	defer hook.Close()

	amPort := freePort(t)
	amConfig := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(amConfig, []byte(fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, job, gen_ai_request_model]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %s/alerts
        send_resolved: false
`, hook.URL)), 0o600))
	startProcess(t, "alertmanager", amBin,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(amPort),
		"--cluster.listen-address=", // no gossip port: a single instance
		"--log.level=warn",
	)
	amBase := fmt.Sprintf("http://127.0.0.1:%d", amPort)
	waitReady(t, "Alertmanager", amBase)

	healthy := func(k int) replay.Counts {
		return replay.Counts{Length: float64(100 + 5*k), Stop: float64(50 + 2*k), Abort: 3, Error: 7}
	}
	failingSrv := replayedVLLM(t, 60, func(k int) replay.Counts {
		c := healthy(k)
		if k >= 10 {
			c.Error += float64(40 * (k - 9)) // the staged failure: 40 failed requests a scrape
		}
		return c
	})
	healthySrv := replayedVLLM(t, 60, healthy)

	prom := startPrometheusWith(t, prometheusBin, fmt.Sprintf(`global:
  scrape_interval: 1m
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:%d"]}]
`, rules, amPort))
	collector := startCollector(t, collectorBin, inferenceServers(
		fmt.Sprintf("      - {name: vllm-failing, endpoint: %s/metrics, flavor: vllm}\n", failingSrv.URL),
		fmt.Sprintf("      - {name: vllm-healthy, endpoint: %s/metrics, flavor: vllm}\n", healthySrv.URL),
	)+ratioToRemoteWrite(prom, noTelemetry))

	alertState := func() map[string]string {
		states := map[string]string{}
		for _, s := range instantQuery(t, prom, `ALERTS{alertname="InferenceHighErrorRate"}`) {
			states[s.labels["job"]] = s.labels["alertstate"]
		}
		return states
	}
	waitFor(t, 60*time.Second, "InferenceHighErrorRate pending for vllm-failing", func() bool {
		collector.requireRunning(t)
		return alertState()["vllm-failing"] == "pending"
	})
	waitFor(t, 30*time.Second, "InferenceHighErrorRate firing for vllm-failing", func() bool {
		return alertState()["vllm-failing"] == "firing"
	})
	firingAt := time.Now()
	waitFor(t, 30*time.Second, "the webhook to receive InferenceHighErrorRate", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range delivered {
			if a.Labels["alertname"] == "InferenceHighErrorRate" {
				return true
			}
		}
		return false
	})
	t.Logf("delivered %s after the alert fired", time.Since(firingAt).Round(100*time.Millisecond))

	mu.Lock()
	defer mu.Unlock()
	for _, a := range delivered {
		assert.Equal(t, "InferenceHighErrorRate", a.Labels["alertname"], "only the staged alert is delivered: %v", a.Labels)
		assert.Equal(t, "firing", a.Status)
		assert.Equal(t, "vllm-failing", a.Labels["job"], "the healthy server raises nothing")
		assert.Equal(t, "vllm-failing", a.Labels["inference_server_name"])
		assert.Equal(t, model, a.Labels["gen_ai_request_model"])
		assert.Equal(t, "critical", a.Labels["severity"])
		assert.Contains(t, a.Annotations["summary"], model)
		assert.Contains(t, a.Annotations["summary"], "vllm-failing")
		assert.NotEmpty(t, a.Annotations["runbook"])
	}
	_, healthyAlert := alertState()["vllm-healthy"]
	assert.False(t, healthyAlert, "the healthy server's error ratio stays at 0")
}
