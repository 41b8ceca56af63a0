package inferenceprobereceiver // import "github.com/otel-inference/collector/receiver/inferenceprobereceiver"

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/otel-inference/collector/internal/redact"

	"github.com/otel-inference/collector/internal/redirect"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/internal/names"
	"github.com/otel-inference/collector/receiver/inferenceprobereceiver/internal/metadata"
)

// defaultTimeout bounds a probe without its own timeout (and never beyond the interval).
const defaultTimeout = 30 * time.Second

// maxLoggedAnswer bounds the part of an answer a failing check logs.
const maxLoggedAnswer = 200

type probeReceiver struct {
	cfg     *Config
	set     receiver.Settings
	logger  *zap.Logger
	slots   chan struct{}
	started time.Time

	// stop ends the probes in flight at shutdown.
	stop     context.Context
	stopFunc context.CancelFunc

	probes []*probeState
	// histograms are the histogram metrics turned on under `metrics:`, by name.
	histograms map[string]bool
}

// probeState is a probe and what it has measured since the collector started (cumulative).
type probeState struct {
	p       *prober
	timeout time.Duration

	mu        sync.Mutex
	checks    map[[2]string]int64 // (result, error.type) → count
	born      map[[2]string]bool  // series first counted since the last emission
	lastEmit  pcommon.Timestamp   // when the metrics were last emitted (0: never)
	hists     map[string]*histSeries
	lastState string // the last result logged ("" after a pass), so each change is logged once
	lastErr   error  // the error of the last run, for the scrape's partial error
}

func newProbeReceiver(cfg *Config, set receiver.Settings) *probeReceiver {
	stop, cancel := context.WithCancel(context.Background())
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = defaultMaxConcurrent
	}
	m := cfg.Metrics
	return &probeReceiver{
		cfg: cfg, set: set, logger: set.Logger, slots: make(chan struct{}, n), stop: stop, stopFunc: cancel,
		histograms: map[string]bool{
			names.GenAIClientOperationDuration.Name:           m.GenAiClientOperationDuration.Enabled,
			names.GenAIClientOperationTimeToFirstChunk.Name:   m.GenAiClientOperationTimeToFirstChunk.Enabled,
			names.GenAIClientOperationTimePerOutputChunk.Name: m.GenAiClientOperationTimePerOutputChunk.Enabled,
			names.GenAIClientTokenUsage.Name:                  m.GenAiClientTokenUsage.Enabled,
		},
	}
}

func (r *probeReceiver) start(ctx context.Context, host component.Host) error {
	r.started = time.Now()
	for i := range r.cfg.Probes {
		pc := r.cfg.Probes[i]
		timeout := pc.Timeout
		if timeout <= 0 {
			timeout = min(defaultTimeout, r.cfg.CollectionInterval)
			pc.Timeout = timeout
		}
		client, err := pc.ToClient(ctx, host.GetExtensions(), r.set.TelemetrySettings)
		if err != nil {
			return fmt.Errorf("probe %q: HTTP client: %w", pc.Name, err)
		}
		// Redirects within the endpoint's host only (its key and headers would follow), and bounded
		// answers (bounded.go).
		client.CheckRedirect = redirect.SameHost
		client.Transport = bounded{next: client.Transport}
		p, err := newProber(pc, client)
		if err != nil {
			return fmt.Errorf("probe %q: %w", pc.Name, err)
		}
		r.probes = append(r.probes, &probeState{p: p, timeout: timeout, checks: map[[2]string]int64{}, born: map[[2]string]bool{}, hists: map[string]*histSeries{}})
	}
	return nil
}

func (r *probeReceiver) shutdown(context.Context) error {
	r.stopFunc()
	return nil
}

// scrape runs every probe not still running, at most max_concurrent at once, each under its
// timeout, waits for them (or the scrape's deadline), and reports everything measured so far. A
// probe that got no answer makes the scrape a partial error; the others' data still flows.
func (r *probeReceiver) scrape(ctx context.Context) (pmetric.Metrics, error) {
	var wg sync.WaitGroup
	for _, ps := range r.probes {
		if !ps.p.running.CompareAndSwap(false, true) {
			continue // still running (a scrape that stopped waiting); never twice at once
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ps.p.running.Store(false)
			select {
			case r.slots <- struct{}{}:
			case <-r.stop.Done():
				return
			}
			defer func() { <-r.slots }()
			pctx, cancel := context.WithTimeout(r.stop, ps.timeout)
			o := ps.p.run(pctx)
			cancel()
			if r.stop.Err() != nil {
				return // shut down mid-probe: not the endpoint's failure
			}
			ps.record(o, r.logger)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	case <-r.stop.Done():
	}

	md := pmetric.NewMetrics()
	now := pcommon.NewTimestampFromTime(time.Now())
	start := pcommon.NewTimestampFromTime(r.started)
	var errs []error
	failed := 0
	for _, ps := range r.probes {
		if err := ps.emit(md, r.cfg, r.histograms, start, now); err != nil {
			errs = append(errs, err)
			failed++
		}
	}
	if failed > 0 {
		return md, scrapererror.NewPartialScrapeError(errors.Join(errs...), failed)
	}
	return md, nil
}

// record adds one run's outcome, and logs a change of state once: the first failure with the
// answer (truncated), the first error of a kind, the return to passing.
func (ps *probeState) record(o outcome, logger *zap.Logger) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.checks) == 0 {
		// pass and fail exist from the first report on, at zero: their first increase counts.
		ps.checks[[2]string{resultPass, ""}] = 0
		ps.checks[[2]string{resultFail, ""}] = 0
	}
	key := [2]string{o.result, o.errType}
	if _, ok := ps.checks[key]; !ok && ps.lastEmit != 0 {
		ps.born[key] = true
	}
	ps.checks[key]++
	p := ps.p
	base := []string{names.AttrGenAIOperationName, p.op, names.AttrGenAIRequestModel, o.requestModel}
	if o.responseModel != "" {
		base = append(base, "gen_ai.response.model", o.responseModel)
	}
	dur := base
	if o.result == resultError {
		dur = append(append([]string(nil), base...), names.AttrErrorType, o.errType)
	}
	if o.result != resultError || o.duration > 0 {
		ps.observe(names.GenAIClientOperationDuration, dur, o.duration)
	}
	if o.firstChunk >= 0 {
		ps.observe(names.GenAIClientOperationTimeToFirstChunk, base, o.firstChunk)
	}
	for _, g := range o.chunkGaps {
		ps.observe(names.GenAIClientOperationTimePerOutputChunk, base, g)
	}
	if o.hasUsage {
		ps.observe(names.GenAIClientTokenUsage, append(append([]string(nil), base...), names.AttrGenAITokenType, "input"), float64(o.inputTokens))
		if p.cfg.Kind == KindChat || p.cfg.Kind == KindCompletion {
			ps.observe(names.GenAIClientTokenUsage, append(append([]string(nil), base...), names.AttrGenAITokenType, "output"), float64(o.outputTokens))
		}
	}

	ps.lastErr = nil
	state := o.result
	if o.result == resultError {
		state += "/" + o.errType
		ps.lastErr = fmt.Errorf("probe %q: %s: %w", p.cfg.Name, o.errType, redact.Wrap(o.err))
	}
	if state == ps.lastState {
		return
	}
	switch o.result {
	case resultPass:
		if ps.lastState != "" {
			logger.Info(fmt.Sprintf("Probe %q passes again", p.cfg.Name))
		}
		state = ""
	case resultFail:
		logger.Warn(fmt.Sprintf("Probe %q failed its check; it counts inference.probe.checks{inference.probe.result=fail} until it passes", p.cfg.Name),
			zap.String("why", redact.Error(o.err)), zap.String("answer", truncate(o.answer, maxLoggedAnswer)))
	case resultError:
		logger.Warn(fmt.Sprintf("Probe %q got no usable answer; it counts inference.probe.checks{inference.probe.result=error} until it does", p.cfg.Name),
			zap.String("error.type", o.errType), zap.String("error", redact.Error(o.err)))
	}
	ps.lastState = state
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// observe adds a value to the histogram of metric d with these attributes (key/value pairs).
func (ps *probeState) observe(d names.Metric, kv []string, v float64) {
	key := d.Name + "\x00" + strings.Join(kv, "\x00")
	h, ok := ps.hists[key]
	if !ok {
		h = &histSeries{metric: d, attrs: append([]string(nil), kv...), counts: make([]uint64, len(d.Bounds)+1), min: v, max: v}
		ps.hists[key] = h
	}
	h.add(v)
}

// histSeries is one cumulative histogram.
type histSeries struct {
	metric   names.Metric
	attrs    []string
	counts   []uint64
	count    uint64
	sum      float64
	min, max float64
}

func (h *histSeries) add(v float64) {
	i := sort.SearchFloat64s(h.metric.Bounds, v) // first bound ≥ v: buckets are (prev, bound]
	h.counts[i]++
	h.count++
	h.sum += v
	h.min, h.max = min(h.min, v), max(h.max, v)
}

// emit appends the probe's resource and its cumulative metrics; it returns the last run's error.
func (ps *probeState) emit(md pmetric.Metrics, cfg *Config, enabled map[string]bool, start, now pcommon.Timestamp) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.checks) == 0 {
		return ps.lastErr
	}
	p := ps.p
	rm := md.ResourceMetrics().AppendEmpty()
	ra := cfg.ResourceAttributes
	res := rm.Resource().Attributes()
	if ra.InferenceProbeName.Enabled {
		res.PutStr("inference.probe.name", p.cfg.Name)
	}
	if ra.ServerAddress.Enabled {
		res.PutStr("server.address", p.address)
	}
	if ra.ServerPort.Enabled {
		res.PutInt("server.port", p.port)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	ms := sm.Metrics()

	if cfg.Metrics.InferenceProbeChecks.Enabled {
		m := ms.AppendEmpty()
		setDescriptor(m, names.InferenceProbeChecks)
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		keys := make([][2]string, 0, len(ps.checks))
		for k := range ps.checks {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
		for _, k := range keys {
			if ps.born[k] {
				// A series born since the last report (the first error of a kind) is reported at
				// zero at that report's time too: a rate or ratio over the window (the ratio
				// processor's, Prometheus's increase()) then counts its first check.
				zero := sum.DataPoints().AppendEmpty()
				zero.SetStartTimestamp(start)
				zero.SetTimestamp(ps.lastEmit)
				zero.SetIntValue(0)
				checkAttrs(zero.Attributes(), p.cfg.Name, k)
			}
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			dp.SetIntValue(ps.checks[k])
			checkAttrs(dp.Attributes(), p.cfg.Name, k)
		}
	}
	clear(ps.born)
	ps.lastEmit = now
	keys := make([]string, 0, len(ps.hists))
	for k := range ps.hists {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byName := map[string]pmetric.HistogramDataPointSlice{}
	for _, k := range keys {
		h := ps.hists[k]
		if !enabled[h.metric.Name] {
			continue
		}
		dps, ok := byName[h.metric.Name]
		if !ok {
			m := ms.AppendEmpty()
			setDescriptor(m, h.metric)
			hist := m.SetEmptyHistogram()
			hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = hist.DataPoints()
			byName[h.metric.Name] = dps
		}
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(now)
		dp.SetCount(h.count)
		dp.SetSum(h.sum)
		dp.SetMin(h.min)
		dp.SetMax(h.max)
		dp.ExplicitBounds().FromRaw(h.metric.Bounds)
		dp.BucketCounts().FromRaw(h.counts)
		for i := 0; i+1 < len(h.attrs); i += 2 {
			dp.Attributes().PutStr(h.attrs[i], h.attrs[i+1])
		}
		dp.Attributes().PutStr("server.address", p.address)
		dp.Attributes().PutInt("server.port", p.port)
		dp.Attributes().PutStr("inference.probe.name", p.cfg.Name)
	}
	return ps.lastErr
}

func setDescriptor(m pmetric.Metric, d names.Metric) {
	m.SetName(d.Name)
	m.SetUnit(d.Unit)
	m.SetDescription(d.Description)
}

func checkAttrs(m pcommon.Map, probe string, k [2]string) {
	m.PutStr("inference.probe.name", probe)
	m.PutStr("inference.probe.result", k[0])
	if k[1] != "" {
		m.PutStr(names.AttrErrorType, k[1])
	}
}
