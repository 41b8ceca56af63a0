// Package testbed is what the end-to-end tests and the benchmark harness share to run real parts on
// loopback: free ports, child processes stopped by their PID, a real Prometheus started and waited
// for, its instant and range queries, and replayed model servers; for unit tests, a component's
// section of a configuration file decoded as the collector does, and the points of a sum or gauge.
// Everything returns errors; the tests wrap it with their own require calls.
package testbed // import "github.com/otel-inference/collector/internal/testbed"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Process is a child process in its own process group, killed with its parent (Pdeathsig), whose
// output is kept.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *Process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is what the process wrote to stdout and stderr so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Start runs bin with args and extra environment variables (KEY=value).
func Start(name string, env []string, bin string, args ...string) (*Process, error) {
	return StartArgv(name, env, bin, append([]string{bin}, args...))
}

// StartArgv is Start with the whole argv given, argv[0] included: a process that shows in /proc
// as another program would (the kernel names it after bin's file name; argv is its command line).
func StartArgv(name string, env []string, bin string, argv []string) (*Process, error) {
	p := &Process{Name: name, done: make(chan struct{})}
	p.Cmd = exec.Command(bin) //nolint:gosec // G204: the binaries under test, named by the caller
	p.Cmd.Args = argv
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout = p
	p.Cmd.Stderr = p
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	return p, nil
}

// Done is closed when the process has exited (its state is then in Cmd.ProcessState).
func (p *Process) Done() <-chan struct{} { return p.done }

// Pid is the process's ID.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process group and waits up to limit for the process to exit.
func (p *Process) Signal(sig syscall.Signal, limit time.Duration) bool {
	if p.Exited() {
		return true
	}
	_ = syscall.Kill(-p.Pid(), sig)
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// Kill9 kills the process group with SIGKILL and reaps it: a crash, nothing flushed.
func (p *Process) Kill9() { p.Signal(syscall.SIGKILL, 10*time.Second) }

// Stop asks the process to exit (SIGTERM) and kills it after 10 s.
func (p *Process) Stop() {
	if !p.Signal(syscall.SIGTERM, 10*time.Second) {
		p.Kill9()
	}
}

// Exited says whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Prometheus is a real Prometheus on a loopback port, its remote-write receiver on.
type Prometheus struct {
	URL  string
	Proc *Process
}

// StartPrometheus runs bin on config with its data under dir (and any extra flags, e.g. Prometheus
// 3's --web.enable-otlp-receiver), and waits up to 30 s until it is ready.
func StartPrometheus(bin, dir, config string, flags ...string) (*Prometheus, error) {
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	}, flags...)
	proc, err := Start("prometheus", nil, bin, args...)
	if err != nil {
		return nil, err
	}
	p := &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Proc: proc}
	if err := WaitReady(p.URL, 30*time.Second); err != nil {
		proc.Stop()
		return nil, fmt.Errorf("%w\n%s", err, proc.Output())
	}
	return p, nil
}

// WaitReady waits up to limit for a Prometheus or Alertmanager at base to answer /-/ready with 200.
func WaitReady(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/-/ready"); err == nil { //nolint:gosec // G107: a loopback URL of our own
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", base, limit)
}

// Sample is one stored sample of one series.
type Sample struct {
	Labels map[string]string
	T      float64 // seconds
	V      float64
}

// Query evaluates a PromQL expression now: one sample per series (an instant vector), or every raw
// sample of each series when expr is a range selector such as x[60s] (exact timestamps).
func Query(base, expr string) ([]Sample, error) {
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr)) //nolint:gosec // G107: as above
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("query %s: %s: %s", expr, resp.Status, body)
	}
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	var out []Sample
	for _, series := range r.Data.Result {
		points := series.Values
		if series.Value != nil {
			points = [][]any{series.Value}
		}
		for _, p := range points {
			if len(p) != 2 {
				return nil, fmt.Errorf("query %s: a point of %d fields", expr, len(p))
			}
			ts, _ := p[0].(float64)
			s, _ := p[1].(string)
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("query %s: value %q: %w", expr, s, err)
			}
			out = append(out, Sample{Labels: series.Metric, T: ts, V: v})
		}
	}
	return out, nil
}

// Replay serves one payload on n loopback ports, counting the requests.
type Replay struct {
	Addrs []string
	Hits  atomic.Int64
	srvs  []*http.Server
}

// NewReplay starts n servers answering every request with body (Prometheus text format).
func NewReplay(body []byte, n int) (*Replay, error) {
	r := &Replay{}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.Hits.Add(1)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(body)
	})
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.Close()
			return nil, err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(l) }()
		r.srvs = append(r.srvs, srv)
		r.Addrs = append(r.Addrs, l.Addr().String())
	}
	return r, nil
}

// Close stops the servers.
func (r *Replay) Close() {
	for _, s := range r.srvs {
		_ = s.Close()
	}
}

// Tail is the last n bytes of s (for error messages that carry a process's output).
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
