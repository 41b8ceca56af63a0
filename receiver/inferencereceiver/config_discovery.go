package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"errors"
	"fmt"
	"time"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/discovery"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// DiscoveryConfig finds model servers without a list: this host's processes, this Kubernetes
// node's pods. A discovered server is scraped as a listed one (its own schedule, timeout,
// detection and errors); a listed server on the same endpoint wins.
type DiscoveryConfig struct {
	// Host finds model-server processes of this host by their command lines and listening ports.
	Host HostDiscoveryConfig `mapstructure:"host"`
	// Kubernetes finds model-server pods of this node through the Kubernetes API.
	Kubernetes KubernetesDiscoveryConfig `mapstructure:"kubernetes"`
	// RefreshInterval is how often processes are read again (pods are watched), and how often a
	// recognized server that served no metrics yet is probed again at first (default 10s).
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// ProbeTimeout bounds one probe of a candidate metrics endpoint (default 2s).
	ProbeTimeout time.Duration `mapstructure:"probe_timeout"`
	// Rules add to the built-in rules; one named like a built-in replaces it, and `enabled: false`
	// turns it off.
	Rules []RuleConfig `mapstructure:"rules"`
	// Server is how every discovered server is scraped: the confighttp client options (headers,
	// auth, tls, timeout), passthrough, max_body_size, max_series, mappings. Its endpoint, name and
	// flavor come from discovery.
	Server ServerConfig `mapstructure:"server"`

	_ struct{}
}

// HostDiscoveryConfig turns host discovery on.
type HostDiscoveryConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// ProcRoot is where /proc is read (a container that mounts the host's elsewhere sets it).
	ProcRoot string `mapstructure:"proc_root"`

	_ struct{}
}

// KubernetesDiscoveryConfig turns Kubernetes discovery on.
type KubernetesDiscoveryConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// AuthType is serviceAccount (in a pod, the default) or kubeConfig.
	AuthType string `mapstructure:"auth_type"`
	// KubeConfig is the kubeconfig file for auth_type kubeConfig (default $KUBECONFIG, else
	// ~/.kube/config).
	KubeConfig string `mapstructure:"kube_config"`
	// Node is this node's name: only its pods are watched (the chart sets ${env:K8S_NODE_NAME}).
	Node string `mapstructure:"node"`
	// Annotations scrapes pods annotated prometheus.io/scrape: "true" where prometheus.io/port and
	// prometheus.io/path say (default true).
	Annotations bool `mapstructure:"annotations"`

	_ struct{}
}

// RuleConfig is a discovery rule (see discovery.Rule): what it recognizes, where it looks.
type RuleConfig struct {
	Name string `mapstructure:"name"`
	// Enabled false turns a rule (a built-in one, by its name) off.
	Enabled *bool `mapstructure:"enabled"`
	// Flavor pins the flavor; omitted, it is detected from the payload.
	Flavor string `mapstructure:"flavor"`
	// Executables, Modules, Args: the program (comm, argv[0] or a Python script's name; or a
	// Python module run with -m) and the arguments right after it.
	Executables []string `mapstructure:"executables"`
	Modules     []string `mapstructure:"modules"`
	Args        []string `mapstructure:"args"`
	// Images are container image repositories (Kubernetes), path.Match patterns.
	Images []string `mapstructure:"images"`
	// PortFlags and PortEnv say where its command line or environment gives its metrics port;
	// Ports are the defaults, in the order tried.
	PortFlags []string `mapstructure:"port_flags"`
	PortEnv   []string `mapstructure:"port_env"`
	Ports     []int    `mapstructure:"ports"`
	// Paths are the metrics paths tried on each port (default /metrics).
	Paths []string `mapstructure:"paths"`

	_ struct{}
}

func (d *DiscoveryConfig) enabled() bool { return d.Host.Enabled || d.Kubernetes.Enabled }

func (d *DiscoveryConfig) refreshInterval() time.Duration {
	if d.RefreshInterval > 0 {
		return d.RefreshInterval
	}
	return 10 * time.Second
}

func (d *DiscoveryConfig) probeTimeout() time.Duration {
	if d.ProbeTimeout > 0 {
		return d.ProbeTimeout
	}
	return 2 * time.Second
}

// rule is a configured rule as the discovery package reads it.
func (rc *RuleConfig) rule() discovery.Rule {
	r := discovery.Rule{Name: rc.Name, Flavor: rc.Flavor, Executables: rc.Executables, Modules: rc.Modules, Args: rc.Args, Images: rc.Images, Paths: rc.Paths}
	switch {
	case len(rc.Ports) == 0 && (len(rc.PortFlags) > 0 || len(rc.PortEnv) > 0):
		r.Ports = []discovery.PortSource{{Flags: rc.PortFlags, Env: rc.PortEnv}}
	default:
		for i, p := range rc.Ports {
			ps := discovery.PortSource{Default: p}
			if i == 0 {
				ps.Flags, ps.Env = rc.PortFlags, rc.PortEnv
			}
			r.Ports = append(r.Ports, ps)
		}
	}
	return r
}

// rules are the rules in force: the configured ones first (in order), then the built-in ones that
// no configured rule replaces or turns off.
func (d *DiscoveryConfig) rules() []discovery.Rule {
	replaced := map[string]bool{}
	var out []discovery.Rule
	for i := range d.Rules {
		rc := &d.Rules[i]
		replaced[rc.Name] = true
		if rc.Enabled != nil && !*rc.Enabled {
			continue
		}
		out = append(out, rc.rule())
	}
	for _, r := range discovery.Builtin() {
		if !replaced[r.Name] {
			out = append(out, r)
		}
	}
	return out
}

func (d *DiscoveryConfig) validate(interval time.Duration) []error {
	var errs []error
	if d.RefreshInterval < 0 {
		errs = append(errs, errors.New(`discovery: "refresh_interval" must be positive; leave it out for 10s`))
	}
	if d.ProbeTimeout < 0 {
		errs = append(errs, errors.New(`discovery: "probe_timeout" must be positive; leave it out for 2s`))
	}
	builtin := map[string]bool{}
	for _, r := range discovery.Builtin() {
		builtin[r.Name] = true
	}
	seen := map[string]bool{}
	for i := range d.Rules {
		rc := &d.Rules[i]
		where := fmt.Sprintf("discovery: rules[%d]", i)
		if rc.Name != "" {
			where = fmt.Sprintf("discovery: rule %q", rc.Name)
		}
		if seen[rc.Name] && rc.Name != "" {
			errs = append(errs, fmt.Errorf(`%s: "name" is used by another rule too`, where))
		}
		seen[rc.Name] = true
		if rc.Enabled != nil && !*rc.Enabled {
			if !builtin[rc.Name] {
				errs = append(errs, fmt.Errorf(`%s: "enabled: false" turns off a built-in rule, and there is none of that name (built-in: %v)`, where, builtinNames()))
			}
			continue
		}
		r := rc.rule()
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if rc.Flavor != "" && !schema.Valid(rc.Flavor) {
			errs = append(errs, fmt.Errorf(`%s: unknown "flavor" %q`, where, rc.Flavor))
		}
	}
	s := d.Server
	switch {
	case s.Endpoint != "" || s.Name != "" || s.Flavor != "":
		errs = append(errs, errors.New(`discovery: "server" is how discovered servers are scraped: its "endpoint", "name" and "flavor" come from discovery and must not be set`))
	default:
		s.Endpoint = "http://127.0.0.1/metrics" // what discovery gives
		errs = append(errs, s.validate("discovery: server", interval)...)
	}
	if d.Kubernetes.Enabled {
		switch d.Kubernetes.AuthType {
		case "", discovery.AuthServiceAccount, discovery.AuthKubeConfig:
		default:
			errs = append(errs, fmt.Errorf(`discovery.kubernetes: unknown "auth_type" %q (use %s or %s)`, d.Kubernetes.AuthType, discovery.AuthServiceAccount, discovery.AuthKubeConfig))
		}
		if d.Kubernetes.Node == "" {
			errs = append(errs, errors.New(`discovery.kubernetes: "node" must be this node's name, e.g. node: ${env:K8S_NODE_NAME} with K8S_NODE_NAME from the downward API (spec.nodeName)`))
		}
	}
	return errs
}

func builtinNames() []string {
	var out []string
	for _, r := range discovery.Builtin() {
		out = append(out, r.Name)
	}
	return out
}
