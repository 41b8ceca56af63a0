package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otel-inference/collector/internal/testbed"
)

// vmagentCompare runs each of our builds (inference → remote_write, memory queue, every exposed
// series passed through) and vmagent (scrape → remote write) on the same replayed targets into one
// real Prometheus, alternated, and reports CPU per scrape and peak RSS, medians and ratios to vmagent.
func vmagentCompare(w io.Writer, ours []string, vmagent, prometheusBin string, ps []payload, pairs, targets int, interval, warmup, measure time.Duration) error {
	promURL, stop, err := startPrometheus(prometheusBin)
	if err != nil {
		return err
	}
	defer stop()
	names := make([]string, 0, len(ours)+1)
	for _, b := range ours {
		names = append(names, filepath.Base(b))
	}
	names = append(names, "vmagent")
	fmt.Fprintf(w, "Scrape → remote write into one local Prometheus (Debian 2.42), %d replayed targets every %s; %s warm-up, %s measured; %d rounds, the order rotated each round; medians (ratio to vmagent).\n\n",
		targets, interval, warmup, measure, pairs)
	fmt.Fprintf(w, "| payload | %s |\n|---|%s\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
	for _, p := range ps {
		rep, err := testbed.NewReplay(p.body, targets)
		if err != nil {
			return err
		}
		runs := make([][]measurement, len(names))
		for i := 0; i < pairs; i++ {
			for j := range names {
				k := (i + j) % len(names) // rotate who goes first
				var m measurement
				if k < len(ours) {
					m, err = runOnce(ours[k], remoteWriteConfig(p, rep.Addrs, interval, promURL), &rep.Hits, warmup, measure)
				} else {
					m, err = runVMAgent(vmagent, rep, interval, promURL, warmup, measure)
				}
				if err != nil {
					rep.Close()
					return fmt.Errorf("%s on %s: %w", names[k], p.name, err)
				}
				log.Printf("%s round %d %s: %.3f ms/scrape, peak RSS %.0f MiB", p.name, i+1, names[k], m.cpuPerScrape*1e3, mib(m.rssBytes))
				runs[k] = append(runs[k], m)
			}
		}
		rep.Close()
		vmCPU, vmRSS := median(cpuOf(runs[len(ours)])), median(rssOf(runs[len(ours)], false))
		cells := make([]string, len(names))
		for k := range names {
			c, r := median(cpuOf(runs[k])), median(rssOf(runs[k], false))
			cells[k] = fmt.Sprintf("%.2f ms, %.0f MiB (%.2f, %.2f)", c*1e3, r/(1<<20), c/vmCPU, r/vmRSS)
		}
		fmt.Fprintf(w, "| %s (%d bytes) | %s |\n", p.name, len(p.body), strings.Join(cells, " | "))
	}
	return nil
}

func remoteWriteConfig(p payload, addrs []string, interval time.Duration, promURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  inference:\n    collection_interval: %s\n    gpu: {enabled: false}\n    servers:\n", interval)
	for _, a := range addrs {
		fmt.Fprintf(&b, "      - {endpoint: \"http://%s/metrics\", flavor: %s, passthrough: all}\n", a, p.flavor)
	}
	fmt.Fprintf(&b, `exporters:
  remote_write:
    endpoint: %s/api/v1/write
service:
  pipelines:
    metrics: {receivers: [inference], exporters: [remote_write]}
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
`, promURL)
	return b.String()
}

// runVMAgent measures vmagent scraping the replayed targets and remote-writing to promURL.
func runVMAgent(bin string, rep *testbed.Replay, interval time.Duration, promURL string, warmup, measure time.Duration) (measurement, error) {
	dir, err := os.MkdirTemp("", "benchvmagent")
	if err != nil {
		return measurement{}, err
	}
	defer os.RemoveAll(dir)
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\nscrape_configs:\n  - job_name: bench\n    static_configs:\n      - targets: [", interval)
	for i, a := range rep.Addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", a)
	}
	b.WriteString("]\n")
	cfg := filepath.Join(dir, "scrape.yml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return measurement{}, err
	}
	port, err := testbed.FreePort()
	if err != nil {
		return measurement{}, err
	}
	var h0, h1 int64
	m, err := runProcessHooks([]string{
		bin, "-promscrape.config=" + cfg, "-remoteWrite.url=" + promURL + "/api/v1/write",
		"-remoteWrite.tmpDataPath=" + filepath.Join(dir, "queue"), fmt.Sprintf("-httpListenAddr=127.0.0.1:%d", port), "-loggerLevel=WARN",
	}, nil,
		warmup, measure, func() { h0 = rep.Hits.Load() }, func() { h1 = rep.Hits.Load() })
	if err != nil {
		return m, err
	}
	return perScrape(m, h1-h0)
}
