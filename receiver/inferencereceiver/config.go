package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otel-inference/collector/internal/confcheck"
	"github.com/otel-inference/collector/internal/redact"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/convert"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/metadata"
	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/schema"
)

// Config is the inference receiver's configuration.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Servers are the model servers to scrape.
	Servers []ServerConfig `mapstructure:"servers"`
	// Discovery finds more servers: this host's model-server processes, this node's pods.
	Discovery DiscoveryConfig `mapstructure:"discovery"`
	// GPU reads this host's NVIDIA GPUs through NVML and AMD GPUs through sysfs.
	GPU GPUConfig `mapstructure:"gpu"`

	_ struct{}
}

// GPUConfig configures the GPU scraper.
type GPUConfig struct {
	// Enabled is true by default; without a GPU or driver the receiver logs once and goes on.
	Enabled bool `mapstructure:"enabled"`
	// Devices is "all" or a list of GPU indexes and UUIDs; unset means all.
	Devices any `mapstructure:"devices"`
	// Processes turns on per-process GPU memory and utilization, joined to the configured servers.
	Processes bool `mapstructure:"processes"`
	// PCIeThroughput turns on PCIe throughput (NVML samples for 20 ms per call and GPU).
	PCIeThroughput bool `mapstructure:"pcie_throughput"`
	// LibraryPath is libnvidia-ml's path; empty means libnvidia-ml.so.1 from the loader's path.
	LibraryPath string `mapstructure:"library_path"`
	// SysfsRoot is where AMD GPUs are read from (default /sys; a container that mounts the host's
	// /sys elsewhere sets it, e.g. /host/sys).
	SysfsRoot string `mapstructure:"sysfs_root"`
	// PodResourcesSocket is the kubelet's pod-resources socket, which names the pod and container
	// each GPU is allocated to (on Kubernetes; when absent nothing is added). "" turns it off.
	PodResourcesSocket string `mapstructure:"pod_resources_socket"`
	// LocalAddresses are more addresses of this host that server endpoints use, for the join of GPU
	// processes to servers (loopback and the hostname always count): on Kubernetes, the node's IP.
	LocalAddresses []string `mapstructure:"local_addresses"`

	_ struct{}
}

// deviceList reads Devices: nil for all GPUs, else the indexes and UUIDs given.
func (g *GPUConfig) deviceList() ([]string, error) {
	switch d := g.Devices.(type) {
	case nil:
		return nil, nil
	case string:
		if d == "all" || d == "" {
			return nil, nil
		}
		return []string{d}, nil
	case int:
		return []string{strconv.Itoa(d)}, nil
	case []any:
		out := make([]string, 0, len(d))
		for _, x := range d {
			switch v := x.(type) {
			case string:
				out = append(out, v)
			case int:
				out = append(out, strconv.Itoa(v))
			case uint64:
				out = append(out, strconv.FormatUint(v, 10))
			default:
				return nil, fmt.Errorf(`"gpu.devices" entries must be GPU indexes or UUIDs, got %v`, x)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf(`"gpu.devices" must be "all" or a list of GPU indexes and UUIDs, got %v`, g.Devices)
}

// ServerConfig is one scraped model server. Every confighttp client option applies (headers, auth,
// tls, timeout, compression).
type ServerConfig struct {
	confighttp.ClientConfig `mapstructure:",squash"`

	// Name becomes the resource attribute inference.server.name. Optional, unique when set.
	Name string `mapstructure:"name"`
	// Flavor is the kind of server (vllm, sglang, tgi, tei, triton, nim, llamacpp, ollama, json,
	// prometheus). Omitted: detected from the first payload (never ollama or json).
	Flavor string `mapstructure:"flavor"`
	// Passthrough says which exposed metrics are also emitted under their own names: unmapped (the
	// default: everything the flavor does not map), all, or none.
	Passthrough string `mapstructure:"passthrough"`
	// MaxBodySize bounds one response, in bytes (default 4 MiB).
	MaxBodySize int64 `mapstructure:"max_body_size"`
	// MaxSeries bounds the series kept from one scrape (default 50,000); the excess is dropped and
	// counted.
	MaxSeries int `mapstructure:"max_series"`
	// Mappings put an exporter's own metrics onto the schema (any Prometheus flavor; they take
	// precedence over the flavor's table).
	Mappings []MappingConfig `mapstructure:"mappings"`
	// Fields map a JSON stats endpoint's fields to metrics (flavor json).
	Fields []FieldConfig `mapstructure:"fields"`

	_ struct{}
}

// MappingConfig maps one exposed family onto a metric.
type MappingConfig struct {
	// From is the exposed family name, as in its TYPE line (e.g. myapp_requests_total).
	From string `mapstructure:"from"`
	// To is the metric to emit, e.g. inference.requests; schema metrics keep their unit and type.
	To string `mapstructure:"to"`
	// Unit of To when it is not a schema metric.
	Unit string `mapstructure:"unit"`
	// Scale multiplies values (0.001 for ms → s).
	Scale float64 `mapstructure:"scale"`
	// Labels renames labels to attributes, e.g. {model: gen_ai.request.model}.
	Labels map[string]string `mapstructure:"labels"`
	// Attributes are added to every point, e.g. {inference.outcome: error}.
	Attributes map[string]string `mapstructure:"attributes"`

	_ struct{}
}

// FieldConfig maps one field of a JSON document to a metric.
type FieldConfig struct {
	// Field is a dotted path into the document: "requests", "stats.latency_ms", "workers.0.busy".
	Field string `mapstructure:"field"`
	// Metric is the metric to emit.
	Metric string `mapstructure:"metric"`
	// Type is gauge (default) or sum (a cumulative counter).
	Type string `mapstructure:"type"`
	// Unit in UCUM, e.g. s, By, {request}.
	Unit string `mapstructure:"unit"`
	// Scale multiplies the value (0.001 for ms → s).
	Scale float64 `mapstructure:"scale"`
	// Attributes are added to the point.
	Attributes map[string]string `mapstructure:"attributes"`

	_ struct{}
}

const (
	defaultMaxBodySize = 4 << 20
	defaultMaxSeries   = 50_000
	// defaultMaxTimeout is the longest scrape timeout given when none is set; shorter intervals
	// give their interval, as Prometheus's scrape_timeout defaults do.
	defaultMaxTimeout = 10 * time.Second
)

// scrapeTimeout is how long one scrape may take when the server sets no timeout of its own: the
// receiver's "timeout", or min(collection_interval, 10s) when that is unset.
func (cfg *Config) scrapeTimeout() time.Duration {
	if cfg.Timeout > 0 {
		return cfg.Timeout
	}
	return min(cfg.CollectionInterval, defaultMaxTimeout)
}

// serverTimeout is the deadline of each scrape of one server: its own "timeout" when set, else the
// receiver's. Validate keeps both within the collection interval.
func (cfg *Config) serverTimeout(s *ServerConfig) time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return cfg.scrapeTimeout()
}

func (s *ServerConfig) maxBodySize() int64 {
	if s.MaxBodySize > 0 {
		return s.MaxBodySize
	}
	return defaultMaxBodySize
}

func (s *ServerConfig) maxSeries() int {
	if s.MaxSeries > 0 {
		return s.MaxSeries
	}
	return defaultMaxSeries
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration and names the key of every problem.
func (cfg *Config) Validate() error {
	var errs []error
	switch {
	case cfg.Timeout < 0:
		errs = append(errs, fmt.Errorf(`"timeout" (%s) must be positive; leave it out for min(collection_interval, 10s)`, cfg.Timeout))
	case cfg.CollectionInterval > 0 && cfg.Timeout > cfg.CollectionInterval:
		errs = append(errs, fmt.Errorf(`"timeout" (%s) must not be longer than "collection_interval" (%s): a server would be scraped again before its last scrape gave up`, cfg.Timeout, cfg.CollectionInterval))
	}
	if len(cfg.Servers) == 0 && !cfg.GPU.Enabled && !cfg.Discovery.enabled() {
		errs = append(errs, errors.New(`"servers" must list at least one server (or enable "discovery" or "gpu")`))
	}
	errs = append(errs, cfg.Discovery.validate(cfg.CollectionInterval)...)
	if _, err := cfg.GPU.deviceList(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, confcheck.EachNamed(cfg.Servers, "servers", "server", "", func(s *ServerConfig) string { return s.Name },
		func(s *ServerConfig, where string) []error { return s.validate(where, cfg.CollectionInterval) })...)
	return errors.Join(errs...)
}

// validate checks one server; where names it in the errors.
func (s *ServerConfig) validate(where string, interval time.Duration) []error {
	var errs []error
	if err := validateEndpoint(s.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", where, err))
	}
	if s.Flavor != "" && !schema.Valid(s.Flavor) {
		errs = append(errs, fmt.Errorf(`%s: unknown "flavor" %q (use one of %s, or omit it to detect it)`, where, s.Flavor, strings.Join(schema.Names(), ", ")))
	}
	if _, err := convert.ParsePassthrough(s.Passthrough); err != nil {
		errs = append(errs, fmt.Errorf(`%s: "passthrough": %w`, where, err))
	}
	switch {
	case s.Timeout < 0:
		errs = append(errs, fmt.Errorf(`%s: "timeout" (%s) must be positive; leave it out for the receiver's`, where, s.Timeout))
	case interval > 0 && s.Timeout > interval:
		errs = append(errs, fmt.Errorf(`%s: "timeout" (%s) must not be longer than "collection_interval" (%s)`, where, s.Timeout, interval))
	}
	if s.MaxBodySize < 0 {
		errs = append(errs, fmt.Errorf(`%s: "max_body_size" must not be negative`, where))
	}
	if s.MaxSeries < 0 {
		errs = append(errs, fmt.Errorf(`%s: "max_series" must not be negative`, where))
	}
	errs = append(errs, s.validateFlavorOptions(where)...)
	return errs
}

func (s *ServerConfig) validateFlavorOptions(where string) []error {
	var errs []error
	switch s.Flavor {
	case schema.FlavorJSON:
		if len(s.Fields) == 0 {
			errs = append(errs, fmt.Errorf(`%s: flavor json needs "fields" (field path → metric)`, where))
		}
		if len(s.Mappings) > 0 {
			errs = append(errs, fmt.Errorf(`%s: "mappings" apply to Prometheus endpoints; a json server uses "fields"`, where))
		}
	case schema.FlavorOllama:
		if len(s.Fields) > 0 || len(s.Mappings) > 0 {
			errs = append(errs, fmt.Errorf(`%s: flavor ollama takes neither "fields" nor "mappings"`, where))
		}
	default:
		if len(s.Fields) > 0 {
			errs = append(errs, fmt.Errorf(`%s: "fields" apply to flavor json only`, where))
		}
	}
	for i, f := range s.Fields {
		if f.Field == "" {
			errs = append(errs, fmt.Errorf(`%s: fields[%d]: "field" must be specified`, where, i))
		}
		if f.Metric == "" {
			errs = append(errs, fmt.Errorf(`%s: fields[%d]: "metric" must be specified`, where, i))
		}
		if f.Type != "" && f.Type != "gauge" && f.Type != "sum" {
			errs = append(errs, fmt.Errorf(`%s: fields[%d]: "type" %q must be gauge or sum`, where, i, f.Type))
		}
	}
	for i, m := range s.Mappings {
		if m.From == "" || m.To == "" {
			errs = append(errs, fmt.Errorf(`%s: mappings[%d]: "from" and "to" must both be specified`, where, i))
		}
	}
	return errs
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New(`"endpoint" must be specified, e.g. http://127.0.0.1:8000/metrics`)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf(`"endpoint" %q is not a URL: %w`, redact.URL(endpoint), redact.Wrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf(`"endpoint" %q must start with http:// or https://`, redact.URL(endpoint))
	}
	if u.Host == "" {
		return fmt.Errorf(`"endpoint" %q has no host`, redact.URL(endpoint))
	}
	return nil
}
