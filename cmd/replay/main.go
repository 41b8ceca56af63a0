// Command replay serves the recorded vLLM payload over HTTP with its request counters advancing on
// every scrape (about 1 in 10 requests failing, 1 in 20 aborted), for `make demo` and manual checks.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/otel-inference/collector/internal/replay"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "address to serve /metrics on")
	payload := flag.String("payload", "testdata/modelservers/vllm/datadog-vllm_metrics.txt", "recorded vLLM payload")
	model := flag.String("model", "facebook/opt-125m", "model_name label")
	flag.Parse()

	tmpl, err := os.ReadFile(*payload)
	if err != nil {
		log.Fatalf("replay: %v (run from the repository root, or pass -payload)", err)
	}
	var (
		mu   sync.Mutex
		step int
		c    replay.Counts
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		step++
		c.Length += float64(14 + step%5)
		c.Stop += 3
		c.Abort += float64(step % 2)
		c.Error += float64(step%3 + 1)
		body := replay.VLLM(tmpl, *model, step, c)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body)
	})
	log.Printf("replay: serving the recorded vLLM payload on http://%s/metrics", *listen)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
