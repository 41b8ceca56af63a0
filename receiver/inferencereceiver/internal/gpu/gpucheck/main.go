// Command gpucheck runs the receiver's GPU reader against the real NVIDIA driver for a few scrapes and
// prints what it read, the per-process join for a given PID, and the CPU time per scrape. It is what
// `make gpu-check` runs on a machine with a GPU; it needs no collector.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/testbed"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
)

func main() {
	scrapes := flag.Int("scrapes", 5, "scrapes to run")
	interval := flag.Duration("interval", time.Second, "time between scrapes")
	port := flag.Int("server-port", 0, "a local port a model server (or the workload) listens on, to show the join")
	pcie := flag.Bool("pcie", false, "also read PCIe throughput")
	flag.Parse()

	logger, _ := zap.NewDevelopment()
	var servers []gpu.Server
	if *port > 0 {
		servers = []gpu.Server{{Name: "workload", Port: *port}}
	}
	r := gpu.New(gpu.Options{Processes: true, PCIe: *pcie, Servers: func() []gpu.Server { return servers }}, logger)
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = r.Shutdown(ctx) }()

	var cpu time.Duration
	var last pmetric.MetricSlice
	for i := 0; i < *scrapes; i++ {
		ms := pmetric.NewMetricSlice()
		before := cpuTime()
		if err := r.Scrape(ctx, time.Now(), ms); err != nil {
			log.Printf("scrape %d: %v", i, err)
		}
		cpu += cpuTime() - before
		last = ms
		time.Sleep(*interval)
	}
	gpus := map[string]bool{}
	var lines []string
	for i := 0; i < last.Len(); i++ {
		m := last.At(i)
		dps := testbed.NumberPoints(m)
		for j := 0; j < dps.Len(); j++ {
			attrs := dps.At(j).Attributes().AsRaw()
			if id, ok := attrs["hw.id"].(string); ok && attrs["hw.parent"] == nil {
				gpus[id] = true
			}
			lines = append(lines, fmt.Sprintf("%s %v = %g %s", m.Name(), attrs, dps.At(j).DoubleValue(), m.Unit()))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	n := max(len(gpus), 1)
	fmt.Printf("\n%d GPUs, %d scrapes: CPU %.3f ms per scrape, %.3f ms per GPU per scrape (processes on, PCIe %v)\n",
		len(gpus), *scrapes, float64(cpu.Microseconds())/1000/float64(*scrapes), float64(cpu.Microseconds())/1000/float64(*scrapes*n), *pcie)
	if len(gpus) == 0 {
		_ = r.Shutdown(ctx)
		os.Exit(2) //nolint:gocritic // exitAfterDefer: the reader was shut down just above
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
