package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/listening"
)

// Bounds of the host source.
const (
	// maxCandidates bounds the ports of one process probed for metrics.
	maxCandidates = 8
	// maxBackoff is the longest wait before a process that served no metrics is probed again.
	maxBackoff = 5 * time.Minute
	// parallelProbes bounds the processes or containers probed at once.
	parallelProbes = 8
)

// HostOptions configure the host source.
type HostOptions struct {
	// ProcRoot is where /proc is mounted (tests use a tree of their own).
	ProcRoot string
	// Rules recognize model-server processes, the first match wins.
	Rules []Rule
	// Interval is how often the processes are read again.
	Interval time.Duration
	Prober   *Prober
	Logger   *zap.Logger
}

// Host finds the model servers among this host's processes: a process one of the rules recognizes
// (by its command line), in this collector's network namespace, listening on a port where a probe
// finds metrics. A process is probed when it is first seen listening, and again (backing off to
// every 5 minutes) while it serves none; a found endpoint is kept while its process lives (a server
// that stops answering there is reported down by its scrapes).
type Host struct {
	opts  HostOptions
	fs    procfs.FS
	procs map[procKey]*hostProc
	// fdDenied is set once a process's file descriptors could not be read (not root, no
	// CAP_SYS_PTRACE): its ports are then read from its command line.
	fdDenied bool
}

// procKey identifies a process across scans (a PID may be reused: its start time tells).
type procKey struct {
	pid   int
	start uint64
}

// hostProc is what is kept of a recognized process.
type hostProc struct {
	tracked
	comm string
	// ignored is set for a process that is not scraped however long it lives: in another network
	// namespace, or a child its rule is not recognized under (NotUnder).
	ignored bool
}

// NewHost returns the host source.
func NewHost(opts HostOptions) (*Host, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	pfs, err := procfs.NewFS(opts.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("discovery.host: cannot read processes at %s: %w (set discovery.host.proc_root, or turn host discovery off)", opts.ProcRoot, err)
	}
	return &Host{opts: opts, fs: pfs, procs: map[procKey]*hostProc{}}, nil
}

// Run scans at once and then every interval until ctx is done, reporting each scan's endpoints.
func (h *Host) Run(ctx context.Context, report func([]Endpoint)) {
	ticker := time.NewTicker(h.opts.Interval)
	defer ticker.Stop()
	failing := ""
	for {
		eps, err := h.Scan(ctx, time.Now())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if err.Error() != failing {
				h.opts.Logger.Warn("Host discovery cannot read this host's processes; it tries again every interval", zap.Error(err))
				failing = err.Error()
			}
		default:
			failing = ""
			report(eps)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// socket is a listening TCP socket.
type socket struct {
	ip   net.IP
	port int
}

// Scan reads the processes once and returns the endpoints found. Only the command lines are read
// of every process; a recognized one's sockets are read while it has no endpoint yet (reading the
// listening sockets costs about a millisecond however few there are: the kernel walks its whole
// table), and a found endpoint is kept while its process lives.
func (h *Host) Scan(ctx context.Context, now time.Time) ([]Endpoint, error) {
	procs, err := h.fs.AllProcs()
	if err != nil {
		return nil, err
	}
	for _, hp := range h.procs {
		hp.seen = false
	}
	type waiting struct {
		p   procfs.Proc
		hp  *hostProc
		cmd Command
	}
	var due []waiting
	for _, p := range procs {
		argv, err := p.CmdLine()
		if err != nil || len(argv) == 0 {
			continue // a kernel thread, or gone
		}
		comm, _ := p.Comm()
		cmd := Command{Comm: comm, Argv: argv}
		rule := h.match(cmd)
		if rule == nil {
			continue
		}
		st, err := p.Stat()
		if err != nil {
			continue
		}
		key := procKey{pid: p.PID, start: st.Starttime}
		hp := h.procs[key]
		if hp == nil {
			hp = &hostProc{tracked: tracked{rule: rule}, comm: comm}
			hp.ignored = len(rule.NotUnder) > 0 && rule.under(h.comm(st.PPID))
			h.procs[key] = hp
		}
		hp.seen = true
		if hp.ignored || hp.found != nil || now.Before(hp.nextProbe) {
			continue
		}
		due = append(due, waiting{p: p, hp: hp, cmd: cmd})
	}
	for key, hp := range h.procs {
		if !hp.seen {
			delete(h.procs, key)
		}
	}
	if len(due) == 0 {
		return h.endpoints(), nil
	}
	byInode, byPort := h.listening()
	selfNS, _ := os.Readlink(filepath.Join(h.opts.ProcRoot, "self", "ns", "net"))
	var jobs []*probeJob
	for _, w := range due {
		hp, rule, pid := w.hp, w.hp.rule, w.p.PID
		if ns, err := os.Readlink(filepath.Join(h.opts.ProcRoot, strconv.Itoa(pid), "ns", "net")); err == nil && selfNS != "" && ns != selfNS {
			// Another network namespace (a container): its sockets are not reachable at this
			// host's addresses. Pods are found by Kubernetes discovery.
			hp.ignored = true
			h.opts.Logger.Debug("A model-server process runs in another network namespace (a container) and is not scraped from the host; Kubernetes pods are found by discovery.kubernetes",
				zap.Int("process.pid", pid), zap.String("rule", rule.Name))
			continue
		}
		if rule.needsEnv() {
			if env, err := w.p.Environ(); err == nil {
				w.cmd.Env = environ(env)
			}
		}
		cands := h.candidates(w.p, rule, w.cmd, byInode, byPort)
		if hp.update(now, cands) {
			comm := hp.comm
			jobs = append(jobs, &probeJob{t: &hp.tracked, cands: cands, log: func(why string) {
				h.opts.Logger.Info(fmt.Sprintf("Process %d looks like a model server (%s) but is not scraped: %s", pid, rule.Name, why),
					zap.String("rule", rule.Name), zap.String("process.executable.name", comm))
			}})
		}
	}
	h.opts.Prober.probeAll(ctx, now, h.opts.Interval, jobs)
	return h.endpoints(), nil
}

// comm is a process's comm ("" when unknown).
func (h *Host) comm(pid int) string {
	p, err := h.fs.Proc(pid)
	if err != nil {
		return ""
	}
	c, _ := p.Comm()
	return c
}

// match is the first rule that recognizes the command.
func (h *Host) match(c Command) *Rule {
	p := parse(c.Comm, c.Argv)
	for i := range h.opts.Rules {
		if h.opts.Rules[i].matchProgram(p) {
			return &h.opts.Rules[i]
		}
	}
	return nil
}

// listening reads this namespace's listening TCP sockets: by inode, and by port.
func (h *Host) listening() (map[uint64]socket, map[int][]net.IP) {
	byInode := map[uint64]socket{}
	byPort := map[int][]net.IP{}
	for _, l := range listening.Read(h.opts.ProcRoot) {
		s := socket{ip: l.IP, port: l.Port}
		if l.Inode != 0 {
			byInode[l.Inode] = s
		}
		byPort[s.port] = append(byPort[s.port], s.ip)
	}
	return byInode, byPort
}

// candidates are the ports of a process to probe, in order: those its rule names (from its flags,
// environment or the rule's defaults), then the other ports it listens on. With its file
// descriptors readable, only its own listening sockets count; without, a port the rule names
// counts when something in this namespace listens on it.
func (h *Host) candidates(p procfs.Proc, rule *Rule, cmd Command, byInode map[uint64]socket, byPort map[int][]net.IP) []candidate {
	named := rule.ports(cmd)
	targets, err := p.FileDescriptorTargets()
	if err != nil {
		if errors.Is(err, fs.ErrPermission) && !h.fdDenied {
			h.fdDenied = true
			h.opts.Logger.Info("Host discovery cannot read other users' file descriptors (run as root, or with CAP_SYS_PTRACE, or as the servers' user): a model server's port is read from its command line or its rule's default",
				zap.Int("process.pid", p.PID))
		}
		var out []candidate
		for _, port := range named {
			if ips, ok := byPort[port]; ok {
				out = append(out, candidate{host: reachAt(ips), port: port})
			}
		}
		return out
	}
	own := map[int][]net.IP{}
	for _, t := range targets {
		inode, ok := listening.SocketInode(t)
		if !ok {
			continue
		}
		if s, ok := byInode[inode]; ok {
			own[s.port] = append(own[s.port], s.ip)
		}
	}
	var out []candidate
	for _, port := range named {
		if ips, ok := own[port]; ok {
			out = append(out, candidate{host: reachAt(ips), port: port})
		}
	}
	rest := make([]int, 0, len(own))
	for port := range own {
		if !slices.Contains(named, port) {
			rest = append(rest, port)
		}
	}
	slices.Sort(rest)
	for _, port := range rest {
		out = append(out, candidate{host: reachAt(own[port]), port: port})
	}
	if len(out) > maxCandidates {
		out = out[:maxCandidates]
	}
	return out
}

// reachAt is the address a socket listening on ips is reached at from this host: loopback for a
// wildcard (IPv4 preferred: Python's asyncio makes IPv6 sockets IPv6-only), else its own address.
func reachAt(ips []net.IP) string {
	var v6 net.IP
	for _, ip := range ips {
		if ip4 := ip.To4(); ip4 != nil {
			if ip4.IsUnspecified() {
				return "127.0.0.1"
			}
			return ip4.String()
		}
		if v6 == nil {
			v6 = ip
		}
	}
	if v6 == nil || v6.IsUnspecified() {
		return "::1"
	}
	return v6.String()
}

// endpoints are the endpoints found, one per URL (the processes sharing one listening socket, as
// vLLM's API servers do, are one server).
func (h *Host) endpoints() []Endpoint {
	byURL := map[string]*Endpoint{}
	for key, hp := range h.procs {
		if hp.found == nil {
			continue
		}
		if e, ok := byURL[hp.url]; ok {
			e.PIDs = append(e.PIDs, key.pid)
			continue
		}
		byURL[hp.url] = &Endpoint{
			URL:    hp.url,
			Name:   hp.rule.Name + "-" + strconv.Itoa(hp.found.port),
			Flavor: hp.rule.Flavor,
			Source: SourceHost,
			Rule:   hp.rule.Name,
			Resource: map[string]string{
				"process.executable.name": hp.comm,
			},
			PIDs: []int{key.pid},
		}
	}
	out := make([]Endpoint, 0, len(byURL))
	names := map[string]int{}
	for _, e := range byURL {
		slices.Sort(e.PIDs)
		e.Resource["process.pid"] = strconv.Itoa(e.PIDs[0])
		names[e.Name]++
		out = append(out, *e)
	}
	for i := range out {
		if names[out[i].Name] > 1 {
			// The same port on two addresses: the address tells them apart.
			out[i].Name += "-" + hostOf(out[i].URL)
		}
	}
	sortEndpoints(out)
	return out
}

func hostOf(rawURL string) string {
	_, rest, _ := strings.Cut(rawURL, "://")
	host, _, _ := strings.Cut(rest, "/")
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	return h
}

// environ reads KEY=value pairs.
func environ(env []string) map[string]string {
	out := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

func (r *Rule) needsEnv() bool {
	for _, p := range r.Ports {
		if len(p.Env) > 0 {
			return true
		}
	}
	return false
}
