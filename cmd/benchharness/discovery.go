package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/internal/testbed/fakekube"
)

// discoveryRun measures what discovery costs: n replayed vLLM servers, each its own process started
// as `vllm serve MODEL --port N` (cmd/replay), scraped by the collector three ways in rotated
// order: listed statically, found as pods through a Kubernetes API endpoint on loopback (one pod per
// server, matched by its image, probed), and found as processes of this host. CPU per scrape and
// peak RSS of each, and the ratios discovered/static.
func discoveryRun(w io.Writer, bin string, n, pairs int, interval, warmup, measure time.Duration) error {
	dir, err := os.MkdirTemp("", "benchharness-discovery")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fake := filepath.Join(dir, "vllm")
	if out, err := exec.Command("go", "build", "-o", fake, "./cmd/replay").CombinedOutput(); err != nil {
		return fmt.Errorf("building cmd/replay: %w: %s", err, out)
	}
	testdata, err := filepath.Abs("testdata/modelservers")
	if err != nil {
		return err
	}
	procs := make([]*testbed.Process, 0, n)
	defer func() {
		for _, p := range procs {
			p.Stop()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		if ports[i], err = testbed.FreePort(); err != nil {
			return err
		}
		p, err := testbed.StartArgv(fmt.Sprintf("vllm-%d", i), []string{"REPLAY_TESTDATA=" + testdata}, fake,
			[]string{"/usr/bin/python3", "/usr/local/bin/vllm", "serve", "Qwen/Qwen3-0.6B", "--port", strconv.Itoa(ports[i])})
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	hits := func() int64 {
		var total int64
		for _, p := range procs {
			total += int64(strings.Count(p.Output(), "replay: GET /metrics"))
		}
		return total
	}

	api := fakekube.Start()
	defer api.Close()
	for i, port := range ports {
		api.Apply(fakekube.Pod("serving", fmt.Sprintf("vllm-%d", i), fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), "bench-node", "127.0.0.1", corev1.Container{
			Name: "engine", Image: "vllm/vllm-openai:v0.11.0", Args: []string{"Qwen/Qwen3-0.6B", "--port", strconv.Itoa(port)},
		}))
	}
	kubeconfig, err := api.WriteKubeconfig(dir)
	if err != nil {
		return err
	}

	head := fmt.Sprintf("receivers:\n  inference:\n    collection_interval: %s\n    initial_delay: 0s\n    gpu: {enabled: false}\n", interval)
	modes := []struct{ name, config string }{
		{"listed", head + "    servers:\n" + listedServers(ports)},
		{"kubernetes", head + fmt.Sprintf("    discovery:\n      kubernetes: {enabled: true, node: bench-node, auth_type: kubeConfig, kube_config: %q}\n", kubeconfig)},
		{"host", head + "    discovery:\n      host: {enabled: true}\n"},
	}
	results := make([][]measurement, len(modes))
	for pair := 0; pair < pairs; pair++ {
		for k := range modes {
			i := (k + pair) % len(modes) // rotated: no mode always runs first
			var h0, h1 int64
			m, err := runOnceHooks(bin, modes[i].config+fmt.Sprintf(commonTail, "inference"), warmup, measure, func() { h0 = hits() }, func() { h1 = hits() })
			if err == nil {
				m, err = perScrape(m, h1-h0)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", modes[i].name, err)
			}
			expected := float64(n) * measure.Seconds() / interval.Seconds()
			log.Printf("discovery %s (pair %d): %.3f ms/scrape, %.0f MiB RSS (anon %.0f), %d of ~%.0f scrapes", modes[i].name, pair+1, m.cpuPerScrape*1e3, mib(m.rssBytes), mib(m.anonBytes), m.scrapes, expected)
			results[i] = append(results[i], m)
		}
	}
	fmt.Fprintf(w, "Discovery, %d replayed vLLM servers (each its own process), every %s; %s warm-up, %s measured; %d rotated rounds. Discovered/listed ratios are of the medians; min–max of the per-round ratios.\n\n",
		n, interval, warmup, measure, pairs)
	fmt.Fprintln(w, "| servers | CPU/scrape | scrapes seen (of expected) | peak RSS | peak anon RSS | anon RSS per server | CPU ratio to listed (min–max) | anon RSS ratio to listed (min–max) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	expected := float64(n) * measure.Seconds() / interval.Seconds()
	for i, mode := range modes {
		ms := results[i]
		cpu, anon := median(cpuOf(ms)), median(rssOf(ms, true))
		var cpuR, anonR []float64
		for r := range ms {
			cpuR = append(cpuR, ms[r].cpuPerScrape/results[0][r].cpuPerScrape)
			anonR = append(anonR, float64(ms[r].anonBytes)/float64(results[0][r].anonBytes))
		}
		var scrapes []float64
		for _, m := range ms {
			scrapes = append(scrapes, float64(m.scrapes))
		}
		fmt.Fprintf(w, "| %s | %.3f ms | %.0f (%.0f) | %.0f MiB | %.0f MiB | %.0f KiB | %.2f (%.2f–%.2f) | %.2f (%.2f–%.2f) |\n",
			mode.name, cpu*1e3, median(scrapes), expected, median(rssOf(ms, false))/(1<<20), anon/(1<<20), anon/float64(n)/1024,
			median(cpuR), minOf(cpuR), maxOf(cpuR), median(anonR), minOf(anonR), maxOf(anonR))
	}
	return nil
}

func listedServers(ports []int) string {
	var b strings.Builder
	for i, p := range ports {
		fmt.Fprintf(&b, "      - {name: vllm-%d, endpoint: \"http://127.0.0.1:%d/metrics\"}\n", i, p)
	}
	return b.String()
}
