// Command replay serves a recorded model-server payload over HTTP with its request counters
// advancing on every scrape (about 1 in 10 requests failing, 1 in 20 aborted), for `make demo`,
// manual checks and the discovery tests.
//
// Started with a model server's command line it stands in for that server, as `ps` shows it:
//
//	vllm serve MODEL [--port N] [--host H]                                     the vLLM payload
//	python3 -m sglang.launch_server --model-path MODEL [--port N] [--host H]   the SGLang payload
//
// (run it through a link named vllm or python3: the kernel names a process after the file it runs).
// Otherwise it reads its flags (-listen, -payload, -model). Each request is logged on stderr.
// REPLAY_TESTDATA is the folder of the recorded payloads (default testdata/modelservers).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/otel-inference/collector/internal/replay"
)

// imitation is what a command line asks to stand in for.
type imitation struct {
	listen, payload, model string
	vllm                   bool // the vLLM payload, its success counters advancing
}

// imitate reads a model server's command line; ok is false for any other.
func imitate(args []string, testdata string) (imitation, bool) {
	flagValue := func(name, def string) string {
		for i, a := range args {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
		return def
	}
	listen := func(port string) string {
		return net.JoinHostPort(flagValue("--host", "127.0.0.1"), flagValue("--port", port))
	}
	for i, a := range args {
		switch {
		case path.Base(a) == "vllm" && i+1 < len(args) && args[i+1] == "serve":
			model := "facebook/opt-125m"
			if i+2 < len(args) && !strings.HasPrefix(args[i+2], "-") {
				model = args[i+2]
			}
			return imitation{listen: listen("8000"), payload: filepath.Join(testdata, "vllm", "datadog-vllm_metrics.txt"), model: model, vllm: true}, true
		case a == "-m" && i+1 < len(args) && args[i+1] == "sglang.launch_server":
			return imitation{listen: listen("30000"), payload: filepath.Join(testdata, "sglang", "datadog-sglang_metrics.txt"), model: flagValue("--model-path", "Qwen/Qwen3-8B")}, true
		}
	}
	return imitation{}, false
}

var modelLabel = regexp.MustCompile(`model_name="[^"]*"`)

func main() {
	testdata := os.Getenv("REPLAY_TESTDATA")
	if testdata == "" {
		testdata = "testdata/modelservers"
	}
	im, ok := imitate(os.Args, testdata)
	if !ok {
		listen := flag.String("listen", "127.0.0.1:8000", "address to serve /metrics on")
		payload := flag.String("payload", filepath.Join(testdata, "vllm", "datadog-vllm_metrics.txt"), "recorded vLLM payload")
		model := flag.String("model", "facebook/opt-125m", "model_name label")
		flag.Parse()
		im = imitation{listen: *listen, payload: *payload, model: *model, vllm: true}
	}
	tmpl, err := os.ReadFile(im.payload)
	if err != nil {
		log.Fatalf("replay: %v (run from the repository root, set REPLAY_TESTDATA, or pass -payload)", err)
	}
	tmpl = modelLabel.ReplaceAll(tmpl, []byte(`model_name="`+im.model+`"`))
	var (
		mu   sync.Mutex
		step int
		c    replay.Counts
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("replay: GET %q from %s", r.URL.Path, r.RemoteAddr) //nolint:gosec // G706: quoted
		body := tmpl
		if im.vllm {
			mu.Lock()
			step++
			c.Length += float64(14 + step%5)
			c.Stop += 3
			c.Abort += float64(step % 2)
			c.Error += float64(step%3 + 1)
			body = replay.VLLM(tmpl, im.model, step, c)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body) //nolint:gosec // G705: a recorded metrics payload, served as text/plain
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("replay: GET %q from %s", r.URL.Path, r.RemoteAddr) //nolint:gosec // G706: quoted
		http.NotFound(w, r)
	})
	log.Printf("replay: serving %s (model %s) on http://%s/metrics", im.payload, im.model, im.listen)
	srv := &http.Server{Addr: im.listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
