// Package envprovider is the distribution's "env" confmap provider: the collector's own, plus
// `${env:NAME:?message}`, which fails the start (and `validate`) when NAME is unset or empty, naming
// the variable and the message, as a shell's ${NAME:?message} does. The shipped configurations use
// it for every secret, so that no default token ever stands in for a missing one.
package envprovider // import "github.com/otel-inference/collector/confmapprovider/envprovider"

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/collector/confmap"
	upstream "go.opentelemetry.io/collector/confmap/provider/envprovider"
)

const schemeName = "env"

// requiredSuffix separates a variable's name from the message said when it is missing.
const requiredSuffix = ":?"

type provider struct {
	next confmap.Provider
}

// NewFactory returns the env provider: `${env:NAME}`, `${env:NAME:-default}` (the collector's) and
// `${env:NAME:?message}` (required).
func NewFactory() confmap.ProviderFactory {
	return confmap.NewProviderFactory(func(ps confmap.ProviderSettings) confmap.Provider {
		return &provider{next: upstream.NewFactory().Create(ps)}
	})
}

func (p *provider) Retrieve(ctx context.Context, uri string, watcher confmap.WatcherFunc) (*confmap.Retrieved, error) {
	rest, ok := strings.CutPrefix(uri, schemeName+":")
	if !ok {
		return nil, fmt.Errorf("%q uri is not supported by %q provider", uri, schemeName)
	}
	if name, message, required := strings.Cut(rest, requiredSuffix); required {
		if v, set := os.LookupEnv(name); !set || v == "" {
			if message == "" {
				message = "it is required"
			}
			return nil, fmt.Errorf("environment variable %s is not set: %s", name, message)
		}
		uri = schemeName + ":" + name
	}
	return p.next.Retrieve(ctx, uri, watcher)
}

func (*provider) Scheme() string { return schemeName }

func (p *provider) Shutdown(ctx context.Context) error { return p.next.Shutdown(ctx) }
