package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/otel-inference/collector/internal/testbed"
)

// hugeSeries is the size of the hostile target of the memory run.
const hugeSeries = 1_000_000

// hugePayload is a gauge family of n series (≈ 40 bytes a line).
func hugePayload(n int) []byte {
	var b strings.Builder
	b.Grow(n * 40)
	b.WriteString("# TYPE huge_series gauge\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "huge_series{id=\"%07d\",shard=\"s%d\"} %d\n", i, i%16, i)
	}
	return []byte(b.String())
}

// runHuge measures what a target exposing a million series costs the collector with the default
// max_series (50,000): peak RSS of the collector scraping one vLLM alone, against the same with the
// huge target beside it (max_body_size raised so that the body is read and parsed up to the cap), in
// alternated pairs. Each binary in bins is measured the same way.
func runHuge(w io.Writer, bins []string, vllm []byte, pairs int, interval, warmup, measure time.Duration) error {
	body := hugePayload(hugeSeries)
	good, err := testbed.NewReplay(vllm, 1)
	if err != nil {
		return err
	}
	defer good.Close()
	huge, err := testbed.NewReplay(body, 1)
	if err != nil {
		return err
	}
	defer huge.Close()
	config := func(withHuge bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, "receivers:\n  inference:\n    collection_interval: %s\n    gpu: {enabled: false}\n    servers:\n", interval)
		fmt.Fprintf(&b, "      - {name: good, endpoint: \"http://%s/metrics\", flavor: vllm}\n", good.Addrs[0])
		if withHuge {
			fmt.Fprintf(&b, "      - {name: huge, endpoint: \"http://%s/metrics\", flavor: prometheus, max_body_size: 268435456, timeout: %s}\n", huge.Addrs[0], interval)
		}
		fmt.Fprintf(&b, commonTail, "inference")
		return b.String()
	}
	fmt.Fprintf(w, "A target with %d series (%.1f MiB) beside one vLLM, default max_series (50,000), max_body_size 256 MiB, every %s; %s warm-up, %s measured; %d pairs alternated (without, with).\n\n",
		hugeSeries, mib(int64(len(body))), interval, warmup, measure, pairs)
	fmt.Fprintln(w, "| binary | peak RSS without | peak RSS with | ratio | peak anon RSS without | with | anon ratio | huge target scraped |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, bin := range bins {
		var without, with []measurement
		var hugeHits int64
		for i := 0; i < pairs; i++ {
			m, err := runOnce(bin, config(false), &good.Hits, warmup, measure)
			if err != nil {
				return fmt.Errorf("%s without the huge target: %w", bin, err)
			}
			without = append(without, m)
			h0 := huge.Hits.Load()
			m, err = runOnce(bin, config(true), &good.Hits, warmup, measure)
			if err != nil {
				return fmt.Errorf("%s with the huge target: %w", bin, err)
			}
			hugeHits += huge.Hits.Load() - h0
			with = append(with, m)
		}
		a, b := median(rssOf(without, false))/(1<<20), median(rssOf(with, false))/(1<<20)
		aa, ba := median(rssOf(without, true))/(1<<20), median(rssOf(with, true))/(1<<20)
		fmt.Fprintf(w, "| %s | %.0f MiB | %.0f MiB | %.2f | %.0f MiB | %.0f MiB | %.2f | %d times |\n", bin, a, b, b/a, aa, ba, ba/aa, hugeHits)
	}
	fmt.Fprintln(w)
	return nil
}
