package discovery // import "github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Rule says how one kind of model server is recognized and where its metrics are: by the program a
// process or container runs (its executable, or the Python module or script an interpreter runs,
// then the subcommand), or by a container's image; then which of its ports and paths to probe.
type Rule struct {
	// Name names the rule in logs and in the discovered servers' names (vllm-8000).
	Name string
	// Flavor pins the flavor of what it finds; "" detects it from the payload (ollama, whose API is
	// not a Prometheus payload, must be pinned).
	Flavor string
	// Executables are program names: a process's comm, its argv[0]'s base name, or the script an
	// interpreter runs (a Python console script such as `vllm` runs as
	// `/usr/bin/python3 /usr/local/bin/vllm …`, with comm "vllm"). The kernel keeps 15 characters of
	// comm (text-generation-router's is "text-generation", as is its launcher's), so a longer name is
	// matched on argv[0]. They are path.Match patterns (text-embeddings-router*: TEI's CUDA images
	// name the binary after the GPU architecture, text-embeddings-router-89).
	Executables []string
	// Modules are Python modules run with `python -m MODULE`.
	Modules []string
	// Args are the arguments that must come right after an executable (a subcommand: `serve`).
	Args []string
	// Images are container image repositories (registry and tag left out), path.Match patterns:
	// "vllm/vllm-openai", "nim/*/*".
	Images []string
	// Ports are where its metrics may be served, in the order they are tried.
	Ports []PortSource
	// Paths are the metrics paths tried on each port, in order (default /metrics).
	Paths []string
	// Hint is said when a recognized server serves no metrics (the flag that turns them on).
	Hint string
	// NotUnder are the programs whose children are not this server (Ollama runs its models in
	// llama-server children that serve no metrics).
	NotUnder []string
}

// PortSource is one way a server says which port it serves its metrics on: a command-line flag, an
// environment variable (a port, host:port or URL), else a default.
type PortSource struct {
	Flags   []string
	Env     []string
	Default int
}

// paths are the rule's metrics paths, /metrics when it names none.
func (r *Rule) paths() []string {
	if len(r.Paths) == 0 {
		return []string{"/metrics"}
	}
	return r.Paths
}

// Validate names what is wrong with a rule (a user's rule: the built-in ones are checked by a test).
func (r *Rule) Validate() error {
	switch {
	case r.Name == "":
		return fmt.Errorf(`"name" must be set`)
	case len(r.Executables) == 0 && len(r.Modules) == 0 && len(r.Images) == 0:
		return fmt.Errorf(`rule %q matches nothing: give "executables", "modules" or "images"`, r.Name)
	}
	for _, p := range r.Paths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf(`rule %q: path %q must start with "/"`, r.Name, p)
		}
	}
	for _, pat := range slices.Concat(r.Images, r.Executables, r.NotUnder) {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf(`rule %q: pattern %q: %w`, r.Name, pat, err)
		}
	}
	for _, ps := range r.Ports {
		if ps.Default < 0 || ps.Default > 65535 {
			return fmt.Errorf(`rule %q: port %d is not a TCP port`, r.Name, ps.Default)
		}
	}
	return nil
}

// Command is what a process or container runs: its argv, and its program's names.
type Command struct {
	// Comm is /proc/PID/comm ("" for a container).
	Comm string
	Argv []string
	// Env is the environment where it is known (a container's spec; /proc/PID/environ when
	// readable), nil otherwise.
	Env map[string]string
}

var pythonExe = regexp.MustCompile(`^(python|pypy)[0-9.]*$`)

// program is what a command runs: its names (comm, argv[0], the script an interpreter runs), the
// Python module, and the arguments after the program.
type program struct {
	names  []string
	module string
	rest   []string
}

// parse reads the program of argv, looking through a Python interpreter's options.
func parse(comm string, argv []string) program {
	var p program
	if comm != "" {
		p.names = append(p.names, comm)
	}
	if len(argv) == 0 {
		return p
	}
	exe := path.Base(argv[0])
	p.names = append(p.names, exe)
	p.rest = argv[1:]
	if !pythonExe.MatchString(exe) {
		return p
	}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-m" && i+1 < len(argv):
			p.module, p.rest = argv[i+1], argv[i+2:]
			return p
		case strings.HasPrefix(a, "-m") && len(a) > 2:
			p.module, p.rest = a[2:], argv[i+1:]
			return p
		case a == "-c":
			p.rest = nil
			return p
		case a == "-X" || a == "-W" || a == "--check-hash-based-pycs":
			i++ // an option with a value
		case strings.HasPrefix(a, "-"):
			// -u, -O, -B, -E, -s, -S, -I, -q, -b: no value
		default:
			p.names = append(p.names, path.Base(a))
			p.rest = argv[i+1:]
			return p
		}
	}
	p.rest = nil
	return p
}

// MatchCommand reports whether the rule recognizes the command.
func (r *Rule) MatchCommand(c Command) bool {
	p := parse(c.Comm, c.Argv)
	return r.matchProgram(p)
}

func (r *Rule) matchProgram(p program) bool {
	if p.module != "" && slices.Contains(r.Modules, p.module) {
		return true // the module is the server: no subcommand follows it
	}
	named := false
	for _, n := range p.names {
		for _, e := range r.Executables {
			if ok, _ := path.Match(e, n); ok {
				named = true
			}
		}
	}
	if !named || len(r.Args) > len(p.rest) {
		return false
	}
	for i, a := range r.Args {
		if p.rest[i] != a {
			return false
		}
	}
	return true
}

// under reports whether a parent program (its comm) is one the rule is not recognized under.
func (r *Rule) under(parentComm string) bool {
	for _, pat := range r.NotUnder {
		if ok, _ := path.Match(pat, parentComm); ok {
			return true
		}
	}
	return false
}

// MatchImage reports whether the rule recognizes a container image
// (registry/repository[:tag][@digest]).
func (r *Rule) MatchImage(image string) bool {
	repo := imageRepository(image)
	for _, im := range r.Images {
		if ok, _ := path.Match(im, repo); ok {
			return true
		}
	}
	return false
}

// imageRepository is an image reference without its registry, tag and digest:
// "ghcr.io/huggingface/text-generation-inference:3.3" → "huggingface/text-generation-inference";
// Docker Hub's "library/" is dropped too.
func imageRepository(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i >= 0 && !strings.Contains(image[i:], "/") {
		image = image[:i]
	}
	if first, rest, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		image = rest
	}
	return strings.TrimPrefix(image, "library/")
}

// ports are the ports a command says its rule's metrics are on, in the rule's order: a flag's
// value, else an environment variable's, else the default.
func (r *Rule) ports(c Command) []int {
	p := parse(c.Comm, c.Argv)
	var out []int
	for _, ps := range r.Ports {
		port := flagPort(p.rest, ps.Flags)
		if port == 0 {
			for _, e := range ps.Env {
				if port = envPort(c.Env[e]); port != 0 {
					break
				}
			}
		}
		if port == 0 {
			port = ps.Default
		}
		if port != 0 {
			out = appendPort(out, port)
		}
	}
	return out
}

func appendPort(ports []int, port int) []int {
	for _, p := range ports {
		if p == port {
			return ports
		}
	}
	return append(ports, port)
}

// flagPort reads `--flag N` or `--flag=N` (the last one given wins, as argparse and clap read them).
func flagPort(args, flags []string) int {
	port := 0
	for i, a := range args {
		for _, f := range flags {
			switch {
			case a == f && i+1 < len(args):
				if n := parsePort(args[i+1]); n != 0 {
					port = n
				}
			case strings.HasPrefix(a, f+"="):
				if n := parsePort(a[len(f)+1:]); n != 0 {
					port = n
				}
			}
		}
	}
	return port
}

// envPort reads a port from "8000", "0.0.0.0:8000", ":8000" or "http://host:8000".
func envPort(v string) int {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	v = strings.TrimSuffix(v, "/")
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	return parsePort(v)
}

func parsePort(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}
