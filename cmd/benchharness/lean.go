package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otel-inference/collector/internal/testbed"
)

// leanRun is one run of a build as an agent: replayed servers scraped and sent over OTLP/HTTP to a
// sink.
type leanRun struct {
	startup      time.Duration // exec to health_check answering
	readyRSS     int64         // resident memory when ready (before the first scrape's work)
	cpuPerScrape float64
	peakRSS      int64
}

// leanCompare alternates the full and the lean build in the agent role on the same payload and
// targets: binary size, start-up time, RSS when ready, CPU per scrape and peak RSS, medians and
// ratios (lean / full).
func leanCompare(w io.Writer, bins []string, p payload, pairs, targets int, interval, warmup, measure time.Duration) error {
	rep, err := testbed.NewReplay(p.body, targets)
	if err != nil {
		return err
	}
	defer rep.Close()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()
	runs := make([][]leanRun, len(bins))
	for i := 0; i < pairs; i++ {
		for j := range bins {
			k := j
			if i%2 == 1 {
				k = len(bins) - 1 - j // alternate which build goes first
			}
			r, err := leanOnce(bins[k], p, rep, sink.URL, interval, warmup, measure)
			if err != nil {
				return fmt.Errorf("%s: %w", bins[k], err)
			}
			runs[k] = append(runs[k], r)
		}
	}
	fmt.Fprintf(w, "Agent role, %s payload, %d targets every %s, inference → memory_limiter → otlp_http to a local sink; %d runs of each build alternated; medians.\n\n", p.name, targets, interval, pairs)
	fmt.Fprintln(w, "| build | binary | start-up (exec → health) | RSS when ready | CPU per scrape | peak RSS |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	med := make([][4]float64, len(bins))
	for k, b := range bins {
		st, _ := os.Stat(b)
		var s, ready, cpu, peak []float64
		for _, r := range runs[k] {
			s = append(s, r.startup.Seconds())
			ready = append(ready, float64(r.readyRSS))
			cpu = append(cpu, r.cpuPerScrape)
			peak = append(peak, float64(r.peakRSS))
		}
		med[k] = [4]float64{median(s), median(ready), median(cpu), median(peak)}
		fmt.Fprintf(w, "| %s | %.0f MiB | %.0f ms | %.0f MiB | %.3f ms | %.0f MiB |\n", filepath.Base(b), mib(st.Size()),
			med[k][0]*1e3, med[k][1]/(1<<20), med[k][2]*1e3, med[k][3]/(1<<20))
	}
	if len(bins) == 2 {
		a, _ := os.Stat(bins[0])
		b, _ := os.Stat(bins[1])
		fmt.Fprintf(w, "| ratio (second / first) | %.2f | %.2f | %.2f | %.2f | %.2f |\n", float64(b.Size())/float64(a.Size()),
			med[1][0]/med[0][0], med[1][1]/med[0][1], med[1][2]/med[0][2], med[1][3]/med[0][3])
	}
	return nil
}

func leanConfig(p payload, addrs []string, sink string, health int, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  inference:\n    collection_interval: %s\n    gpu: {enabled: false}\n    servers:\n", interval)
	for _, a := range addrs {
		fmt.Fprintf(&b, "      - {endpoint: \"http://%s/metrics\", flavor: %s}\n", a, p.flavor)
	}
	fmt.Fprintf(&b, `processors:
  memory_limiter: {check_interval: 1s, limit_percentage: 80, spike_limit_percentage: 20}
exporters:
  otlp_http:
    endpoint: %s
    sending_queue: {enabled: true, num_consumers: 1}
extensions:
  health_check: {endpoint: "127.0.0.1:%d"}
service:
  extensions: [health_check]
  pipelines:
    metrics: {receivers: [inference], processors: [memory_limiter], exporters: [otlp_http]}
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
`, sink, health)
	return b.String()
}

func leanOnce(bin string, p payload, rep *testbed.Replay, sink string, interval, warmup, measure time.Duration) (leanRun, error) {
	var r leanRun
	health, err := testbed.FreePort()
	if err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp("", "benchharness-lean")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(leanConfig(p, rep.Addrs, sink, health, interval)), 0o600); err != nil {
		return r, err
	}
	t0 := time.Now()
	// Start-up: exec to health_check answering; the RSS then, before the scrapes' work.
	ready := func(pid int) error {
		url := fmt.Sprintf("http://127.0.0.1:%d/", health)
		for {
			resp, err := http.Get(url) //nolint:gosec,noctx // G107: loopback health check of the process started here
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(t0) > 30*time.Second {
				return errors.New("not ready in 30 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.startup = time.Since(t0)
		r.readyRSS, err = statusField(pid, "VmRSS:")
		return err
	}
	var h0, h1 int64
	m, err := runProcessHooks([]string{bin, "--config=" + path}, ready, warmup, measure,
		func() { h0 = rep.Hits.Load() }, func() { h1 = rep.Hits.Load() })
	if err != nil {
		return r, err
	}
	if m, err = perScrape(m, h1-h0); err != nil {
		return r, err
	}
	r.cpuPerScrape, r.peakRSS = m.cpuPerScrape, m.rssBytes
	return r, nil
}
