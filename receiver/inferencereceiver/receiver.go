package inferencereceiver // import "github.com/otel-inference/collector/receiver/inferencereceiver"

import (
	"context"
	"errors"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otel-inference/collector/receiver/inferencereceiver/internal/gpu"
)

// inferenceReceiver runs one scraperhelper controller per model server, each on its own schedule
// and deadline, and one for the GPUs. A server that hangs holds its own controller's goroutine until
// its timeout and nothing else; Shutdown cancels the scrapes in flight first, so that it returns at
// once.
type inferenceReceiver struct {
	servers    *serverGroup
	discovered *discoveredServers
	parts      []receiver.Metrics
	started    []receiver.Metrics
}

// scrapeErrorMessage is what scraperhelper logs, at error level and with a stack trace, for every
// failed scrape. The servers' controllers drop it: each server logs its own failure once per kind,
// at warn, and scraperhelper still counts every one.
const scrapeErrorMessage = "Error scraping metrics"

func newInferenceReceiver(cfg *Config, set receiver.Settings, next consumer.Metrics) (*inferenceReceiver, error) {
	r := &inferenceReceiver{}
	// The GPUs' energy, attributed to the servers whose processes use them, is reported by each
	// server's scrape on its own resource (so that a ratio of energy to tokens can be taken there).
	energy := gpu.NewServerLedger()
	local := localNames(cfg)
	if len(cfg.Servers) > 0 || cfg.Discovery.enabled() {
		g, err := newServerGroup(cfg, set)
		if err != nil {
			return nil, err
		}
		g.energy = energy
		r.servers = g
		quiet := set
		quiet.Logger = set.Logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return dropMessage{Core: c, message: scrapeErrorMessage}
		}))
		for _, t := range g.targets {
			sc, err := scraper.NewMetrics(t.scrape, scraper.WithStart(t.start), scraper.WithShutdown(t.shutdown))
			if err != nil {
				g.close()
				return nil, err
			}
			cc := cfg.ControllerConfig
			cc.Timeout = t.timeout
			ctrl, err := scraperhelper.NewMetricsController(&cc, quiet, next, scraperhelper.AddMetricsScraper(serversScraperType, sc))
			if err != nil {
				g.close()
				return nil, err
			}
			r.parts = append(r.parts, ctrl)
		}
		if cfg.Discovery.enabled() {
			r.discovered = newDiscoveredServers(cfg, g, quiet, next, local)
		}
	}
	if cfg.GPU.Enabled {
		listed := localServers(cfg.Servers, local)
		servers := fixedServers(listed)
		if d := r.discovered; d != nil {
			servers = func() []gpu.Server { return append(slices.Clone(listed), d.joinServers()...) }
		}
		gs := newGPUScraper(cfg, set, energy, servers)
		sc, err := scraper.NewMetrics(gs.scrape, scraper.WithStart(gs.start), scraper.WithShutdown(gs.shutdown))
		if err != nil {
			return nil, err
		}
		cc := cfg.ControllerConfig
		cc.Timeout = cfg.scrapeTimeout()
		ctrl, err := scraperhelper.NewMetricsController(&cc, set, next, scraperhelper.AddMetricsScraper(gpuScraperType, sc))
		if err != nil {
			return nil, err
		}
		r.parts = append(r.parts, ctrl)
	}
	return r, nil
}

func (r *inferenceReceiver) Start(ctx context.Context, host component.Host) error {
	for _, p := range r.parts {
		if err := p.Start(ctx, host); err != nil {
			return errors.Join(err, r.Shutdown(ctx))
		}
		r.started = append(r.started, p)
	}
	if r.discovered != nil {
		if err := r.discovered.start(ctx, host); err != nil {
			return errors.Join(err, r.Shutdown(ctx))
		}
	}
	return nil
}

// Shutdown cancels the scrapes in flight, then stops every controller (at once: each waits for its
// own scrape to return).
func (r *inferenceReceiver) Shutdown(ctx context.Context) error {
	if r.discovered != nil {
		r.discovered.close(ctx)
		r.discovered = nil
	}
	if r.servers != nil {
		r.servers.shutdown()
	}
	errs := make([]error, len(r.started))
	var wg sync.WaitGroup
	for i, p := range r.started {
		wg.Go(func() { errs[i] = p.Shutdown(ctx) })
	}
	wg.Wait()
	r.started = nil
	if r.servers != nil {
		r.servers.close()
		r.servers = nil
	}
	return errors.Join(errs...)
}

// dropMessage is a zap core that drops the entries with one message.
type dropMessage struct {
	zapcore.Core
	message string
}

func (c dropMessage) With(fields []zapcore.Field) zapcore.Core {
	return dropMessage{Core: c.Core.With(fields), message: c.message}
}

func (c dropMessage) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == c.message {
		return ce
	}
	return c.Core.Check(e, ce)
}
