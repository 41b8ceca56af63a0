package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/translator/prometheusremotewrite"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/fifo"
	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

type rwExporter struct {
	cfg       *Config
	set       exporter.Settings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	client    *http.Client
	settings  prometheusremotewrite.Settings
	userAgent string

	// logged remembers the drop reasons already logged: each is logged once, then only counted.
	mu     sync.Mutex
	logged map[string]bool

	queue  *fifo.Queue
	cancel context.CancelFunc
	done   chan struct{}
}

const (
	// batchesPerSend bounds how many queued batches one round of sending merges, and bytesPerSend
	// how much encoded data (so that a large backlog is sent in rounds, not decoded all at once).
	batchesPerSend = 64
	bytesPerSend   = 4 << 20
	// resourcesPerItem splits a large push (one scrape of many servers) into queue items of at most
	// this many resources, which bounds the memory one round of sending takes.
	resourcesPerItem = 64
)

func newExporter(cfg *Config, set exporter.Settings) (*rwExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &rwExporter{
		cfg:       cfg,
		set:       set,
		logger:    set.Logger,
		telemetry: tb,
		settings: prometheusremotewrite.Settings{
			Namespace:         cfg.Namespace,
			ExternalLabels:    cfg.ExternalLabels,
			DisableTargetInfo: !cfg.TargetInfo.Enabled,
			AddMetricSuffixes: cfg.AddMetricSuffixes,
		},
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		logged:    map[string]bool{},
	}, nil
}

func (e *rwExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("remote_write: cannot make the HTTP client: %w", err)
	}
	e.client = client
	var sc storage.Client
	if id := e.cfg.QueueConfig.Storage; id != nil {
		ext, ok := host.GetExtensions()[*id]
		if !ok {
			return fmt.Errorf(`remote_write: "sending_queue.storage": no extension %q (add it under extensions and service.extensions)`, id)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf(`remote_write: "sending_queue.storage": %q is not a storage extension (use file_storage)`, id)
		}
		if sc, err = se.GetClient(ctx, component.KindExporter, e.set.ID, "metrics"); err != nil {
			return fmt.Errorf("remote_write: opening the queue's storage: %w", err)
		}
	}
	if e.queue, err = fifo.Open(ctx, sc, e.cfg.QueueConfig.QueueSize); err != nil {
		return err
	}
	if n := e.queue.Len(); n > 0 {
		e.logger.Info("Resuming the remote_write queue left by the previous run", zap.Int("batches", n))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go e.run(runCtx)
	return nil
}

func (e *rwExporter) shutdown(ctx context.Context) error {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	var err error
	if e.queue != nil {
		if n := e.queue.Len(); n > 0 && e.cfg.QueueConfig.Storage == nil {
			e.logger.Warn("Shutting down with data not delivered; without sending_queue.storage it is lost", zap.Int("batches", n))
		}
		err = e.queue.Close(ctx)
	}
	e.telemetry.Shutdown()
	return err
}

// enqueue is the pipeline's side: the batch is stored (durably with storage) before it returns, so
// what the pipeline was told is accepted survives a crash.
func (e *rwExporter) enqueue(ctx context.Context, md pmetric.Metrics) error {
	for _, part := range splitResources(md, resourcesPerItem) {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(part)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		if err := e.queue.Put(ctx, b); err != nil {
			if errors.Is(err, fifo.ErrFull) {
				return fmt.Errorf("%w (%d batches waiting: is the backend down? raise sending_queue.queue_size to wait longer)", err, e.cfg.QueueConfig.QueueSize)
			}
			return err
		}
	}
	return nil
}

// splitResources cuts md into parts of at most n resources each, in order (md itself when small).
func splitResources(md pmetric.Metrics, n int) []pmetric.Metrics {
	rms := md.ResourceMetrics()
	if rms.Len() <= n {
		return []pmetric.Metrics{md}
	}
	var parts []pmetric.Metrics
	for i := 0; i < rms.Len(); i += n {
		part := pmetric.NewMetrics()
		for j := i; j < min(i+n, rms.Len()); j++ {
			rms.At(j).CopyTo(part.ResourceMetrics().AppendEmpty())
		}
		parts = append(parts, part)
	}
	return parts
}

// run is the one sender: it takes the oldest batches, merges them, sends them in order, and removes
// them from the queue only once the backend took them (or refused them for good). Nothing overtakes:
// the next batches wait while the oldest is retried.
func (e *rwExporter) run(ctx context.Context) {
	defer close(e.done)
	for {
		items, err := e.queue.Peek(ctx, batchesPerSend)
		if err != nil {
			if ctx.Err() == nil {
				e.logger.Error("Cannot read the remote_write queue", zap.Error(err))
			}
			return
		}
		size := 0
		for i, item := range items {
			if size += len(item); size > bytesPerSend && i > 0 {
				items = items[:i]
				break
			}
		}
		if !e.deliver(ctx, items) {
			return // shutting down: the batches stay queued
		}
		if err := e.queue.Remove(ctx, len(items)); err != nil {
			e.logger.Error("Cannot update the remote_write queue", zap.Error(err))
			return
		}
	}
}

// deliver translates and sends some queued batches as requests of at most max_samples_per_request
// samples. It retries each request until the backend takes it, refuses it for good, or the retries
// run out (max_elapsed_time); it returns false when shutdown interrupted it.
func (e *rwExporter) deliver(ctx context.Context, items [][]byte) bool {
	var merged map[string]*prompb.TimeSeries
	for i, b := range items {
		md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
		if err != nil {
			e.logOnce("corrupt", "A queued batch cannot be read; it is dropped", zap.Error(err))
			continue
		}
		tsMap, err := prometheusremotewrite.FromMetrics(md, e.settings)
		if err != nil {
			e.logOnce("translation", "Some metrics could not be translated to Prometheus series and were dropped", zap.Error(err))
		}
		if i == 0 && len(items) == 1 {
			merged = tsMap // one batch: nothing to merge
			break
		}
		if merged == nil {
			merged = make(map[string]*prompb.TimeSeries, len(tsMap))
		}
		for _, ts := range tsMap {
			key := signature(ts.Labels)
			if m, ok := merged[key]; ok {
				m.Samples = append(m.Samples, ts.Samples...)
				m.Histograms = append(m.Histograms, ts.Histograms...)
			} else {
				merged[key] = ts
			}
		}
	}
	for _, req := range split(merged, e.cfg.MaxSamplesPerRequest) {
		if !e.sendWithRetry(ctx, req) {
			return false
		}
	}
	return true
}

func signature(ls []prompb.Label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Name)
		b.WriteByte(0xff)
		b.WriteString(l.Value)
		b.WriteByte(0xfe)
	}
	return b.String()
}

// sendWithRetry sends one request, retrying retryable failures with exponential backoff (or the
// backend's Retry-After). It returns false only when shutdown interrupted it.
func (e *rwExporter) sendWithRetry(ctx context.Context, req *prompb.WriteRequest) bool {
	bo := e.cfg.BackOffConfig
	wait := bo.InitialInterval
	began := time.Now()
	for {
		err := e.send(ctx, req)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var throttle interface{ Delay() time.Duration }
		delay := wait
		if errors.As(err, &throttle) {
			delay = throttle.Delay()
		}
		if !bo.Enabled || (bo.MaxElapsedTime > 0 && time.Since(began)+delay > bo.MaxElapsedTime) {
			samples := int64(samplesIn(req))
			e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, samples, metric.WithAttributes(attribute.String("reason", "retries_exhausted")))
			e.logOnce("retries_exhausted", "Giving up on samples after retry_on_failure.max_elapsed_time; they are dropped", zap.Error(err))
			return true
		}
		e.logger.Debug("remote_write: retrying", zap.Error(err), zap.Duration("in", delay))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		wait = time.Duration(float64(wait) * max(bo.Multiplier, 1))
		if bo.MaxInterval > 0 {
			wait = min(wait, bo.MaxInterval)
		}
	}
}

// split orders each series' samples by time and packs the series into requests of at most max
// samples; a series with more samples than that is cut into consecutive pieces, in time order. (The
// order of different series does not matter to the backend.)
func split(tsMap map[string]*prompb.TimeSeries, maxSamples int) []*prompb.WriteRequest {
	var out []*prompb.WriteRequest
	newRequest := func() *prompb.WriteRequest {
		return &prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, min(len(tsMap), maxSamples))}
	}
	cur := newRequest()
	n := 0
	flush := func() {
		if len(cur.Timeseries) > 0 {
			out = append(out, cur)
			cur, n = newRequest(), 0
		}
	}
	for _, ts := range tsMap {
		if !sort.SliceIsSorted(ts.Samples, func(i, j int) bool { return ts.Samples[i].Timestamp < ts.Samples[j].Timestamp }) {
			sort.SliceStable(ts.Samples, func(i, j int) bool { return ts.Samples[i].Timestamp < ts.Samples[j].Timestamp })
		}
		samples := ts.Samples
		histograms := ts.Histograms
		for len(samples) > 0 || len(histograms) > 0 {
			room := maxSamples - n
			if room <= 0 {
				flush()
				room = maxSamples
			}
			piece := prompb.TimeSeries{Labels: ts.Labels}
			take := min(room, len(samples))
			piece.Samples, samples = samples[:take], samples[take:]
			if take < room {
				h := min(room-take, len(histograms))
				piece.Histograms, histograms = histograms[:h], histograms[h:]
				take += h
			}
			cur.Timeseries = append(cur.Timeseries, piece)
			n += take
		}
	}
	flush()
	return out
}

func samplesIn(req *prompb.WriteRequest) int {
	n := 0
	for _, ts := range req.Timeseries {
		n += len(ts.Samples) + len(ts.Histograms)
	}
	return n
}

// send posts one request. 2xx: sent. 429 and 5xx: retryable (Retry-After honoured). Any other 4xx: the
// backend will never take these samples (out of order, duplicate, too old, malformed): they are
// dropped and counted by reason, and the rest of the batch goes on.
func (e *rwExporter) send(ctx context.Context, req *prompb.WriteRequest) error {
	raw, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("remote_write: cannot encode the request: %w", err)
	}
	body := snappy.Encode(nil, raw)
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	httpReq.Header.Set("Content-Encoding", "snappy")
	httpReq.Header.Set("Content-Type", "application/x-protobuf")
	httpReq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	httpReq.Header.Set("User-Agent", e.userAgent)
	resp, err := e.client.Do(httpReq)
	if err != nil {
		return fmt.Errorf("remote_write: POST %s: %w (the backend is unreachable; retrying)", e.cfg.Endpoint, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	samples := int64(samplesIn(req))
	switch {
	case resp.StatusCode/100 == 2:
		e.telemetry.ExporterRemoteWriteSamplesSent.Add(ctx, samples)
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5:
		err := fmt.Errorf("remote_write: POST %s: %s: %s", e.cfg.Endpoint, resp.Status, strings.TrimSpace(string(msg)))
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return throttleError{err: err, delay: d}
		}
		return err
	default:
		reason := dropReason(string(msg))
		e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, samples, metric.WithAttributes(attribute.String("reason", reason)))
		e.logOnce(reason, "The remote-write backend refused samples; they are dropped, not retried (counted in otelcol_exporter_remote_write_samples_dropped)",
			zap.String("reason", reason), zap.String("status", resp.Status), zap.String("backend_message", strings.TrimSpace(string(msg))))
		return nil
	}
}

// dropReason names a 4xx by the backend's message (Prometheus, Mimir, Thanos and VictoriaMetrics use
// these words).
func dropReason(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "out of order"):
		return "out_of_order"
	case strings.Contains(m, "duplicate"):
		return "duplicate"
	case strings.Contains(m, "out of bounds"), strings.Contains(m, "too old"):
		return "too_old"
	}
	return "bad_request"
}

// throttleError is a retryable failure with the backend's own delay.
type throttleError struct {
	err   error
	delay time.Duration
}

func (t throttleError) Error() string        { return t.err.Error() }
func (t throttleError) Unwrap() error        { return t.err }
func (t throttleError) Delay() time.Duration { return t.delay }

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

func (e *rwExporter) logOnce(reason, msg string, fields ...zap.Field) {
	e.mu.Lock()
	first := !e.logged[reason]
	e.logged[reason] = true
	e.mu.Unlock()
	if first {
		e.logger.Warn(msg, fields...)
	}
}
