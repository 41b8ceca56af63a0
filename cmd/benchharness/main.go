// Command benchharness compares, as whole processes, the collector's own `inference` receiver with
// contrib's `prometheus` receiver on the same recorded payloads: same targets (replayed over real HTTP
// on loopback), same interval, same exporters, runs alternated A B A B …. It reports CPU seconds per
// scrape (from /proc/PID/stat) and peak RSS (VmHWM) per run, and per payload the medians and the ratio
// ours/theirs with the min and max of the per-pair ratios. With -scale it also runs 1,000 servers.
//
// It exits non-zero only when it could not measure; a missed target is reported, not failed.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otel-inference/collector/internal/testbed"
)

type payload struct {
	name, flavor string
	body         []byte
}

func main() {
	bin := flag.String("bin", "build/otelcol-inference", "the otelcol-inference binary")
	names := flag.String("payloads", "tgi,vllm,triton,sglang,synthetic10k", "payloads to compare")
	pairs := flag.Int("pairs", 5, "A/B pairs per payload")
	targets := flag.Int("targets", 20, "replayed servers per run")
	interval := flag.Duration("interval", time.Second, "scrape interval")
	warmup := flag.Duration("warmup", 4*time.Second, "time before measuring")
	measure := flag.Duration("measure", 12*time.Second, "measured time per run")
	scale := flag.Bool("scale", false, "also run 1,000 servers at 10 s (ours), alone and with ratio + remote write")
	scaleServers := flag.Int("scale-servers", 1000, "servers in the scale run")
	scaleMeasure := flag.Duration("scale-measure", 60*time.Second, "measured time of each scale run")
	prometheus := flag.String("prometheus", "prometheus", "Prometheus binary for the scale run's remote write")
	out := flag.String("out", "", "also write the report (markdown) to this file")
	huge := flag.Bool("huge", false, "also measure peak RSS with a 1,000,000-series target beside one vLLM (default max_series)")
	hugeBins := flag.String("huge-bins", "", "binaries to compare in the huge-target run (comma-separated; default -bin)")
	hugePairs := flag.Int("huge-pairs", 3, "pairs per binary in the huge-target run")
	leanBins := flag.String("lean-bins", "", "compare builds in the agent role (comma-separated: full,lean), on -lean-payload")
	leanPayload := flag.String("lean-payload", "vllm", "payload of the -lean-bins run")
	vmagent := flag.String("vmagent", "", "vmagent binary (make vmagent): compare -vm-bins with it end to end into -prometheus, on -vm-payloads")
	vmBins := flag.String("vm-bins", "build/otelcol-inference,build/otelcol-inference-agent", "our builds in the vmagent comparison")
	vmPayloads := flag.String("vm-payloads", "tgi,vllm", "payloads of the vmagent comparison")
	discoveryServers := flag.Int("discovery", 0, "also compare n servers listed, found as Kubernetes pods and found as host processes")
	discoveryPairs := flag.Int("discovery-pairs", 3, "rotated rounds of the discovery comparison")
	flag.Parse()

	var report bytes.Buffer
	w := io.MultiWriter(os.Stdout, &report)
	fmt.Fprintf(w, "Machine: %d cores, %s, %s; collector release v0.158.0\n", runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Fprintf(w, "Command: %s\n\n", strings.Join(os.Args, " "))

	var ps []payload
	for _, n := range strings.Split(*names, ",") {
		if strings.TrimSpace(n) == "" {
			continue
		}
		p, err := loadPayload(strings.TrimSpace(n))
		if err != nil {
			log.Fatalf("benchharness: %v", err)
		}
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		fmt.Fprintf(w, "%d targets per run, every %s, batch + debug exporter; %s warm-up, %s measured; %d pairs (ours, contrib) alternated.\n\n",
			*targets, *interval, *warmup, *measure, *pairs)
		fmt.Fprintln(w, "Peak RSS counts the binary's mapped pages (both runs use the same 156 MiB binary, ≈125 MiB of it resident); peak anonymous RSS (heap and stacks, sampled every 100 ms) is what the work itself costs, and its ratio is the memory comparison.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| payload | bytes | ours CPU/scrape | contrib CPU/scrape | CPU ratio (median) | CPU ratio min–max | ours peak RSS (anon) | contrib peak RSS (anon) | anon RSS ratio (median) | min–max |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	}
	for _, p := range ps {
		res, err := comparePayload(*bin, p, *pairs, *targets, *interval, *warmup, *measure)
		if err != nil {
			log.Fatalf("benchharness: %s: %v", p.name, err)
		}
		fmt.Fprintln(w, res)
	}
	if *huge {
		bins := []string{*bin}
		if *hugeBins != "" {
			bins = strings.Split(*hugeBins, ",")
		}
		vllm, err := loadPayload("vllm")
		if err != nil {
			log.Fatalf("benchharness: %v", err)
		}
		fmt.Fprintln(w)
		if err := runHuge(w, bins, vllm.body, *hugePairs, 5*time.Second, 12*time.Second, 20*time.Second); err != nil {
			log.Fatalf("benchharness: huge-target run: %v", err)
		}
	}
	if *vmagent != "" {
		var vps []payload
		for _, n := range strings.Split(*vmPayloads, ",") {
			p, err := loadPayload(strings.TrimSpace(n))
			if err != nil {
				log.Fatalf("benchharness: %v", err)
			}
			vps = append(vps, p)
		}
		fmt.Fprintln(w)
		if err := vmagentCompare(w, strings.Split(*vmBins, ","), *vmagent, *prometheus, vps, *pairs, *targets, *interval, *warmup, *measure); err != nil {
			log.Fatalf("benchharness: vmagent run: %v", err)
		}
	}
	if *leanBins != "" {
		p, err := loadPayload(*leanPayload)
		if err != nil {
			log.Fatalf("benchharness: %v", err)
		}
		fmt.Fprintln(w)
		if err := leanCompare(w, strings.Split(*leanBins, ","), p, *pairs, *targets, *interval, *warmup, *measure); err != nil {
			log.Fatalf("benchharness: lean run: %v", err)
		}
	}
	if *discoveryServers > 0 {
		fmt.Fprintln(w)
		if err := discoveryRun(w, *bin, *discoveryServers, *discoveryPairs, *interval, 20*time.Second, 30*time.Second); err != nil {
			log.Fatalf("benchharness: discovery run: %v", err)
		}
	}
	if *scale {
		fmt.Fprintln(w)
		if err := scaleRun(w, *bin, *prometheus, *scaleServers, *scaleMeasure); err != nil {
			log.Fatalf("benchharness: scale run: %v", err)
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, report.Bytes(), 0o644); err != nil {
			log.Fatalf("benchharness: %v", err)
		}
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

var recorded = map[string]struct{ file, flavor string }{
	"tgi":    {"testdata/modelservers/tgi/datadog-tgi_payload.txt", "tgi"},
	"vllm":   {"testdata/modelservers/vllm/datadog-vllm_metrics.txt", "vllm"},
	"triton": {"testdata/modelservers/triton/datadog-triton_metrics.txt", "triton"},
	"sglang": {"testdata/modelservers/sglang/sglang-docs-production_metrics-example.txt", "sglang"},
	"nim":    {"testdata/modelservers/nim/datadog-nim_metrics.txt", "nim"},
}

func loadPayload(name string) (payload, error) {
	if name == "synthetic10k" {
		return payload{name: name, flavor: "prometheus", body: synthetic(10_000)}, nil
	}
	r, ok := recorded[name]
	if !ok {
		return payload{}, fmt.Errorf("unknown payload %q", name)
	}
	b, err := os.ReadFile(r.file)
	if err != nil {
		return payload{}, fmt.Errorf("%w (run from the repository root)", err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n') // contrib's parser wants a final newline; ours does not care
	}
	return payload{name: name, flavor: r.flavor, body: b}, nil
}

// synthetic is an app exporter with n series: counters and gauges over 100 models × n/200 routes.
func synthetic(n int) []byte {
	var b bytes.Buffer
	half := n / 2
	b.WriteString("# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\n")
	for i := 0; i < half; i++ {
		fmt.Fprintf(&b, "app_requests_total{model=\"m%d\",route=\"/r%d\"} %d\n", i%100, i/100, 1000+i)
	}
	b.WriteString("# HELP app_inflight Requests in flight.\n# TYPE app_inflight gauge\n")
	for i := 0; i < n-half; i++ {
		fmt.Fprintf(&b, "app_inflight{model=\"m%d\",route=\"/r%d\"} %d\n", i%100, i/100, i%7)
	}
	return b.Bytes()
}

// replay serves one payload on n loopback ports and counts the requests.
const commonTail = `processors:
  batch: {}
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    metrics:
      receivers: [%s]
      processors: [batch]
      exporters: [debug]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
`

func oursConfig(p payload, addrs []string, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  inference:\n    collection_interval: %s\n    servers:\n", interval)
	for _, a := range addrs {
		fmt.Fprintf(&b, "      - {endpoint: \"http://%s/metrics\", flavor: %s, passthrough: all}\n", a, p.flavor)
	}
	fmt.Fprintf(&b, commonTail, "inference")
	return b.String()
}

func contribConfig(addrs []string, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "receivers:\n  prometheus:\n    config:\n      scrape_configs:\n        - job_name: bench\n          scrape_interval: %s\n          static_configs:\n            - targets: [", interval)
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", a)
	}
	b.WriteString("]\n")
	fmt.Fprintf(&b, commonTail, "prometheus")
	return b.String()
}

type measurement struct {
	cpu          float64 // CPU seconds in the measured window
	cpuPerScrape float64 // seconds
	rssBytes     int64   // peak RSS (VmHWM)
	anonBytes    int64   // peak anonymous RSS, sampled
	scrapes      int64
	cores        float64
}

// runOnce starts the collector on config, waits warmup, measures CPU and the scrapes the replayed
// servers answered over measure, and stops it.
func runOnce(bin, config string, hits *atomic.Int64, warmup, measure time.Duration) (measurement, error) {
	var h0, h1 int64
	m, err := runOnceHooks(bin, config, warmup, measure, func() { h0 = hits.Load() }, func() { h1 = hits.Load() })
	if err != nil {
		return m, err
	}
	return perScrape(m, h1-h0)
}

// perScrape divides a run's CPU by the scrapes the replayed servers answered.
func perScrape(m measurement, scrapes int64) (measurement, error) {
	m.scrapes = scrapes
	if scrapes <= 0 {
		return m, errors.New("no scrape reached the replayed servers")
	}
	m.cpuPerScrape = m.cpu / float64(scrapes)
	return m, nil
}

// cpuSeconds is utime + stime of a process, from /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	// After the command name: state is field 3 of the man page, utime 14 and stime 15.
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// statusField reads a kB field of /proc/PID/status (VmHWM:, RssAnon:), in bytes.
func statusField(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func comparePayload(bin string, p payload, pairs, targets int, interval, warmup, measure time.Duration) (string, error) {
	rep, err := testbed.NewReplay(p.body, targets)
	if err != nil {
		return "", err
	}
	defer rep.Close()
	var ours, theirs []measurement
	var ratios, rssRatios []float64
	for i := 0; i < pairs; i++ {
		a, err := runOnce(bin, oursConfig(p, rep.Addrs, interval), &rep.Hits, warmup, measure)
		if err != nil {
			return "", fmt.Errorf("ours: %w", err)
		}
		b, err := runOnce(bin, contribConfig(rep.Addrs, interval), &rep.Hits, warmup, measure)
		if err != nil {
			return "", fmt.Errorf("contrib: %w", err)
		}
		ours, theirs = append(ours, a), append(theirs, b)
		ratios = append(ratios, a.cpuPerScrape/b.cpuPerScrape)
		rssRatios = append(rssRatios, float64(a.anonBytes)/float64(b.anonBytes))
		log.Printf("%s pair %d: ours %.3f ms/scrape %.0f MiB (anon %.0f), contrib %.3f ms/scrape %.0f MiB (anon %.0f)",
			p.name, i+1, a.cpuPerScrape*1e3, mib(a.rssBytes), mib(a.anonBytes), b.cpuPerScrape*1e3, mib(b.rssBytes), mib(b.anonBytes))
	}
	cpuA, cpuB := median(cpuOf(ours)), median(cpuOf(theirs))
	rssA, rssB := median(rssOf(ours, false)), median(rssOf(theirs, false))
	anonA, anonB := median(rssOf(ours, true)), median(rssOf(theirs, true))
	return fmt.Sprintf("| %s | %d | %.3f ms | %.3f ms | %.2f | %.2f–%.2f | %.0f MiB (%.1f) | %.0f MiB (%.1f) | %.2f | %.2f–%.2f |",
		p.name, len(p.body), cpuA*1e3, cpuB*1e3, median(ratios), minOf(ratios), maxOf(ratios),
		rssA/(1<<20), anonA/(1<<20), rssB/(1<<20), anonB/(1<<20), median(rssRatios), minOf(rssRatios), maxOf(rssRatios)), nil
}

func cpuOf(ms []measurement) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = m.cpuPerScrape
	}
	return out
}

func rssOf(ms []measurement, anon bool) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = float64(m.rssBytes)
		if anon {
			out[i] = float64(m.anonBytes)
		}
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
