// Package replay serves recorded model-server payloads over real HTTP, standing in for servers that
// cannot run here (no model weights). A Sequence of vLLM request counts can be spliced into the
// recorded vLLM payload so that counters advance by known amounts, restart, and so on; each request
// serves the next step, and the last step is served again once the sequence is over.
package replay // import "github.com/otel-inference/collector/internal/replay"

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
)

// Counts are vLLM's finished-request counters of one step, by finished_reason.
type Counts struct {
	Length, Stop, Abort, Error float64
}

// Total is every finished request.
func (c Counts) Total() float64 { return c.Length + c.Stop + c.Abort + c.Error }

// StepFamily is the gauge a replayed payload carries with the index of the step served, so that a
// test can tell which step a stored sample came from.
const StepFamily = "replay_step"

const successFamily = "vllm:request_success_total"

// VLLM renders the recorded vLLM payload with its request_success_total samples replaced by c (for
// model), and a replay_step gauge appended.
func VLLM(template []byte, model string, step int, c Counts) []byte {
	var out bytes.Buffer
	out.Grow(len(template) + 512)
	for _, line := range strings.SplitAfter(string(template), "\n") {
		if strings.HasPrefix(line, successFamily+"{") || strings.HasPrefix(line, successFamily+" ") {
			continue // the recorded samples; ours follow the TYPE line
		}
		out.WriteString(line)
		if strings.HasPrefix(line, "# TYPE "+successFamily+" ") {
			for _, r := range []struct {
				reason string
				v      float64
			}{{"length", c.Length}, {"stop", c.Stop}, {"abort", c.Abort}, {"error", c.Error}} {
				fmt.Fprintf(&out, "%s{finished_reason=%q,model_name=%q} %g\n", successFamily, r.reason, model, r.v)
			}
		}
	}
	if out.Len() > 0 && out.Bytes()[out.Len()-1] != '\n' {
		out.WriteByte('\n')
	}
	fmt.Fprintf(&out, "# HELP %s Index of the replayed step.\n# TYPE %s gauge\n%s %d\n", StepFamily, StepFamily, StepFamily, step)
	return out.Bytes()
}

// Handler serves payloads[0], payloads[1], ... one per request, then the last one forever.
type Handler struct {
	mu       sync.Mutex
	payloads [][]byte
	next     int
}

// NewHandler serves the given payloads in order.
func NewHandler(payloads [][]byte) *Handler { return &Handler{payloads: payloads} }

// Served is how many requests were answered.
func (h *Handler) Served() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	i := min(h.next, len(h.payloads)-1)
	h.next++
	body := h.payloads[i]
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(body)
}

// Route is a recorded file served on one path, with its Content-Type ("" leaves Go's default).
type Route struct {
	File        string
	ContentType string
}

// Files serves recorded files on their paths, read once here; any other path is a 404.
func Files(routes map[string]Route) (http.Handler, error) {
	bodies := make(map[string][]byte, len(routes))
	for path, r := range routes {
		b, err := os.ReadFile(r.File)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", path, err)
		}
		bodies[path] = b
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if ct := routes[r.URL.Path].ContentType; ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		_, _ = w.Write(b)
	}), nil
}
