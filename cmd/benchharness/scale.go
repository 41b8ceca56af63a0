package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otel-inference/collector/internal/testbed"
)

const scaleInterval = 10 * time.Second

// scaleRun runs n replayed vLLM servers (paths on one loopback port) scraped every 10 s by our
// receiver: once alone (batch + debug), once with the ratio processor and remote write to a local
// Prometheus (through our remote_write exporter). It reports cores used, peak RSS, scrapes missed, samples per second delivered and the
// delay from scrape to queryable.
func scaleRun(w io.Writer, bin, prometheusBin string, n int, measure time.Duration) error {
	p, err := loadPayload("vllm")
	if err != nil {
		return err
	}
	hits := make([]atomic.Int64, n)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// /s/<i>/metrics
		parts := strings.Split(r.URL.Path, "/")
		if len(parts) == 4 {
			if i, err := strconv.Atoi(parts[2]); err == nil && i >= 0 && i < n {
				hits[i].Add(1)
			}
		}
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = rw.Write(p.body)
		// When this scrape was served: the delay to queryable is measured against it.
		_, _ = fmt.Fprintf(rw, "# TYPE bench_served_ms gauge\nbench_served_ms %d\n", time.Now().UnixMilli())
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	base := "http://" + l.Addr().String()

	var servers strings.Builder
	for i := 0; i < n; i++ {
		// Named: the servers share one host and port here, so the name is what tells their series apart.
		fmt.Fprintf(&servers, "      - {name: s%d, endpoint: \"%s/s/%d/metrics\", flavor: vllm}\n", i, base, i)
	}
	fmt.Fprintf(w, "Scale run: %d replayed vLLM servers (%d bytes each) on loopback, every %s; %s warm-up, %s measured.\n\n",
		n, len(p.body), scaleInterval, 2*scaleInterval, measure)
	fmt.Fprintln(w, "| pipeline | cores used | peak RSS (anonymous) | scrapes missed | samples/s delivered | scrape → queryable (median, max) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")

	// 1. The receiver alone.
	alone := fmt.Sprintf("receivers:\n  inference:\n    collection_interval: %s\n    servers:\n%s", scaleInterval, servers.String()) +
		fmt.Sprintf(commonTail, "inference")
	m, missed, err := runScale(bin, alone, hits, measure)
	if err != nil {
		return fmt.Errorf("receiver alone: %w", err)
	}
	fmt.Fprintf(w, "| inference → batch → debug | %.3f | %.0f MiB (%.0f MiB) | %d | – | – |\n", m.cores, mib(m.rssBytes), mib(m.anonBytes), missed)

	// 2. With ratio and remote write to a real Prometheus.
	promURL, stop, err := startPrometheus(prometheusBin)
	if err != nil {
		return err
	}
	defer stop()
	full := fmt.Sprintf(`receivers:
  inference:
    collection_interval: %s
    servers:
%sprocessors:
  ratio:
    window: 5m
exporters:
  remote_write:
    endpoint: %s/api/v1/write
    resource_to_telemetry_conversion:
      enabled: true
service:
  pipelines:
    metrics:
      receivers: [inference]
      processors: [ratio]
      exporters: [remote_write]
  telemetry:
    logs:
      level: warn
    metrics:
      level: none
`, scaleInterval, servers.String(), promURL)
	var delays []float64
	stopPoll := make(chan struct{})
	polled := make(chan struct{})
	var samples0, samples1 float64
	var t0, t1 time.Time
	go func() {
		defer close(polled)
		last := 0.0
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopPoll:
				return
			case now := <-tick.C:
				v, ok := queryScalar(promURL, "max(bench_served_ms)")
				if ok && v > last {
					if last > 0 {
						delays = append(delays, float64(now.UnixMilli())-v)
					}
					last = v
				}
			}
		}
	}()
	m, missed, err = runScaleHooks(bin, full, hits, measure, func() {
		samples0, _ = promCounter(promURL, "prometheus_tsdb_head_samples_appended_total")
		t0 = time.Now()
	}, func() {
		samples1, _ = promCounter(promURL, "prometheus_tsdb_head_samples_appended_total")
		t1 = time.Now()
	})
	close(stopPoll)
	<-polled
	if err != nil {
		return fmt.Errorf("with ratio and remote write: %w", err)
	}
	rate := (samples1 - samples0) / t1.Sub(t0).Seconds()
	fmt.Fprintf(w, "| inference → ratio → remote_write (ours, in-memory queue) → Prometheus | %.3f | %.0f MiB (%.0f MiB) | %d | %.0f | %.2f s, %.2f s |\n",
		m.cores, mib(m.rssBytes), mib(m.anonBytes), missed, rate, median(delays)/1000, maxOrZero(delays)/1000)
	fmt.Fprintln(w, "\nThe delay is measured from the moment the replayed server answered to the first poll (every 250 ms) at which Prometheus returned that sample; it includes up to 250 ms of polling.")
	return nil
}

func maxOrZero(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return maxOf(xs)
}

func runScale(bin, config string, hits []atomic.Int64, measure time.Duration) (measurement, int, error) {
	return runScaleHooks(bin, config, hits, measure, func() {}, func() {})
}

// runScaleHooks is runOnce for the scale run: it also counts, per server, the scrapes that did not
// happen in the measured window (expected: one per interval).
func runScaleHooks(bin, config string, hits []atomic.Int64, measure time.Duration, atStart, atEnd func()) (measurement, int, error) {
	before := make([]int64, len(hits))
	m, err := runOnceHooks(bin, config, 2*scaleInterval, measure, func() {
		for i := range hits {
			before[i] = hits[i].Load()
		}
		atStart()
	}, atEnd)
	if err != nil {
		return m, 0, err
	}
	expected := int64(measure/scaleInterval) - 1 // the window's edges may cut one scrape
	missed := 0
	for i := range hits {
		if got := hits[i].Load() - before[i]; got < expected {
			missed += int(expected - got)
		}
	}
	return m, missed, nil
}

// runOnceHooks starts the collector on config, waits warmup, calls atStart, measures CPU over measure,
// calls atEnd, reads the peak RSS and stops the collector. A collector that exits early is an error
// with the end of what it printed.
func runOnceHooks(bin, config string, warmup, measure time.Duration, atStart, atEnd func()) (measurement, error) {
	dir, err := os.MkdirTemp("", "benchharness")
	if err != nil {
		return measurement{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return measurement{}, err
	}
	return runProcessHooks([]string{bin, "--config=" + path}, nil, warmup, measure, atStart, atEnd)
}

// runProcessHooks is runOnceHooks for any command line (vmagent's flags); started, when set, is
// called with the process's PID right after it starts (before the warm-up), and may fail the run.
func runProcessHooks(argv []string, started func(pid int) error, warmup, measure time.Duration, atStart, atEnd func()) (measurement, error) {
	proc, err := testbed.Start(filepath.Base(argv[0]), nil, argv[0], argv[1:]...)
	if err != nil {
		return measurement{}, err
	}
	defer proc.Stop()
	wait := func(d time.Duration) error {
		select {
		case <-proc.Done():
			return fmt.Errorf("collector exited: %s: %s", proc.Cmd.ProcessState, testbed.Tail(proc.Output(), 2000))
		case <-time.After(d):
			return nil
		}
	}
	if started != nil {
		if err := started(proc.Pid()); err != nil {
			return measurement{}, fmt.Errorf("%w: %s", err, testbed.Tail(proc.Output(), 2000))
		}
	}
	if err := wait(warmup); err != nil {
		return measurement{}, err
	}
	cpu0, err := cpuSeconds(proc.Pid())
	if err != nil {
		return measurement{}, err
	}
	atStart()
	t0 := time.Now()
	// Anonymous memory (heap, stacks) is what the work costs: both receivers run the same binary,
	// whose mapped file pages are most of the RSS. Sampled every 100 ms for its peak.
	var peakAnon int64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v, err := statusField(proc.Pid(), "RssAnon:"); err == nil {
				peakAnon = max(peakAnon, v)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	err = wait(measure)
	close(stopSampling)
	<-sampled
	if err != nil {
		return measurement{}, err
	}
	cpu1, err := cpuSeconds(proc.Pid())
	if err != nil {
		return measurement{}, err
	}
	atEnd()
	elapsed := time.Since(t0)
	rss, _ := statusField(proc.Pid(), "VmHWM:")
	return measurement{cpu: cpu1 - cpu0, rssBytes: rss, anonBytes: peakAnon, cores: (cpu1 - cpu0) / elapsed.Seconds()}, nil
}

// queryScalar is the value of the first series an instant query returns.
func queryScalar(base, expr string) (float64, bool) {
	got, err := testbed.Query(base, expr)
	if err != nil || len(got) == 0 {
		return 0, false
	}
	return got[0].V, true
}

// promCounter reads a counter from Prometheus's own /metrics, summed over its label sets.
func promCounter(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	total, found := 0.0, false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, err
		}
		total, found = total+v, true
	}
	if !found {
		return 0, fmt.Errorf("%s not found", name)
	}
	return total, nil
}

// startPrometheus starts a Prometheus (remote-write receiver on) on a free loopback port with its
// data in a temporary folder; stop kills it and removes the folder.
func startPrometheus(bin string) (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "benchprom")
	if err != nil {
		return "", nil, err
	}
	prom, err := testbed.StartPrometheus(bin, dir, "global:\n  scrape_interval: 1m\n")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return prom.URL, func() { prom.Proc.Kill9(); os.RemoveAll(dir) }, nil
}
