package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

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

	_ struct{}
}

// ServerConfig is one scraped model server. Every confighttp client option applies (headers, auth,
// tls, timeout, compression).
type ServerConfig struct {
	confighttp.ClientConfig `mapstructure:",squash"`

	// Name becomes the resource attribute inference.server.name. Optional, unique when set.
	Name string `mapstructure:"name"`
	// Flavor is the kind of server: vllm or prometheus.
	Flavor string `mapstructure:"flavor"`
	// Passthrough says which exposed metrics are also emitted under their own names: unmapped (the
	// default: everything the flavor does not map), all, or none.
	Passthrough string `mapstructure:"passthrough"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration and names the key of every problem.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Servers) == 0 {
		errs = append(errs, errors.New(`"servers" must list at least one server`))
	}
	names := make(map[string]int)
	for i := range cfg.Servers {
		s := &cfg.Servers[i]
		where := fmt.Sprintf("servers[%d]", i)
		if s.Name != "" {
			where = fmt.Sprintf("server %q", s.Name)
			if j, dup := names[s.Name]; dup {
				errs = append(errs, fmt.Errorf(`%s: "name" is used by servers[%d] too; names must be unique`, where, j))
			}
			names[s.Name] = i
		}
		if err := validateEndpoint(s.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		switch {
		case s.Flavor == "":
			errs = append(errs, fmt.Errorf(`%s: "flavor" must be specified (one of %s)`, where, strings.Join(schema.Names(), ", ")))
		case schema.Lookup(s.Flavor) == nil:
			errs = append(errs, fmt.Errorf(`%s: unknown "flavor" %q (use one of %s)`, where, s.Flavor, strings.Join(schema.Names(), ", ")))
		}
		if _, err := convert.ParsePassthrough(s.Passthrough); err != nil {
			errs = append(errs, fmt.Errorf(`%s: "passthrough": %w`, where, err))
		}
	}
	return errors.Join(errs...)
}

func validateEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New(`"endpoint" must be specified, e.g. http://127.0.0.1:8000/metrics`)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf(`"endpoint" %q is not a URL: %w`, endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf(`"endpoint" %q must start with http:// or https://`, endpoint)
	}
	if u.Host == "" {
		return fmt.Errorf(`"endpoint" %q has no host`, endpoint)
	}
	return nil
}
