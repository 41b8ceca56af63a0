package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
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
	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/prw"
	"github.com/otel-inference/collector/internal/redact"
)

type rwExporter struct {
	cfg       *Config
	set       exporter.Settings
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	client    *http.Client
	// endpoint is the endpoint as logs and errors show it (credentials hidden).
	endpoint string
	// encoder translates to remote write, keeping each stream's encoded labels; zbuf is the reused
	// compressed request and bodies the bodies sent from it. The sender owns them.
	encoder   *prw.Encoder
	zbuf      []byte
	bodies    []*sentBody
	userAgent string

	// logged remembers the drop reasons already logged: each is logged once, then only counted.
	mu     sync.Mutex
	logged map[string]bool

	// storageExt is the queue's storage extension (nil: in memory). qmu guards queue, which a
	// damaged file found while sending replaces with a fresh one.
	storageExt storage.Extension
	qmu        sync.RWMutex
	queue      *fifo.Queue
	// inMemory: no storage; then memq holds the pushes themselves, in queue order (the queue keeps an
	// empty item for each, for its length, capacity and age): an in-memory queue need not encode
	// them and decode them again. memMu keeps a push and its item together.
	inMemory      bool
	memMu         sync.Mutex
	memq          []pmetric.Metrics
	pointsPerSend int
	// resumedTail: items below it were queued by a previous run (one of them may have been in flight
	// at a crash, and reached the backend already).
	resumedTail uint64
	cancel      context.CancelFunc
	done        chan struct{}

	// v2Worked: a 2.0 request was taken (a later 400 is a refusal, not a receiver without 2.0);
	// fellBack: the receiver does not take 2.0, and 1.0 is sent instead.
	v2Worked, fellBack atomic.Bool

	// failingSince is when delivery (or the queue's storage) started failing; zero while it works.
	failingSince time.Time
	failingWarn  bool
	warnAfter    time.Duration
}

// failingWarnAfter: delivery failing for longer than this is said at warn (and its recovery at info).
const failingWarnAfter = 10 * time.Second

func (e *rwExporter) q() *fifo.Queue {
	e.qmu.RLock()
	defer e.qmu.RUnlock()
	return e.queue
}

const (
	// batchesPerSend bounds how many queued batches one round of sending merges, and bytesPerSend
	// how much encoded data (so that a large backlog is sent in rounds, not decoded all at once).
	batchesPerSend = 64
	bytesPerSend   = 4 << 20
	// pointsPerSend bounds a round of an in-memory queue (whose items are the pushes themselves).
	pointsPerSend = 200_000
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
		encoder: prw.New(prw.Settings{
			Namespace:         cfg.Namespace,
			ExternalLabels:    cfg.ExternalLabels,
			DisableTargetInfo: !cfg.TargetInfo.Enabled,
			AddMetricSuffixes: cfg.AddMetricSuffixes,

			ResourceToTelemetry:      cfg.ResourceToTelemetry.Enabled,
			ExcludeServiceAttributes: cfg.ResourceToTelemetry.ExcludeServiceAttributes,
		}),
		userAgent: fmt.Sprintf("%s/%s", set.BuildInfo.Command, set.BuildInfo.Version),
		logged:    map[string]bool{},
		warnAfter: failingWarnAfter,

		pointsPerSend: pointsPerSend,
		endpoint:      redact.URL(cfg.Endpoint),
	}, nil
}

func (e *rwExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set.TelemetrySettings)
	if err != nil {
		return fmt.Errorf("remote_write: cannot make the HTTP client: %w", err)
	}
	// Remote write never follows a redirect: a POST redirected becomes a GET whose 2xx would count
	// the samples as delivered when nothing stored them, and credentials would follow to wherever
	// it points. A 3xx is a failed send (see send).
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	e.client = client
	if id := e.cfg.QueueConfig.Storage; id != nil {
		ext, ok := host.GetExtensions()[*id]
		if !ok {
			return fmt.Errorf(`remote_write: "sending_queue.storage": no extension %q (add it under extensions and service.extensions)`, id)
		}
		se, ok := ext.(storage.Extension)
		if !ok {
			return fmt.Errorf(`remote_write: "sending_queue.storage": %q is not a storage extension (use file_storage)`, id)
		}
		e.storageExt = se
	}
	q, err := e.openQueue(ctx)
	if err != nil {
		return err
	}
	e.queue = q
	e.inMemory = e.storageExt == nil
	e.resumedTail = q.Tail()
	if n := q.Len(); n > 0 {
		e.logger.Info("Resuming the remote_write queue left by the previous run", zap.Int("batches", n))
	}
	if err := e.telemetry.RegisterExporterRemoteWriteQueueLengthCallback(func(_ context.Context, o metric.Int64Observer) error {
		if q := e.q(); q != nil {
			o.Observe(int64(q.Len()))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := e.telemetry.RegisterExporterRemoteWriteQueueOldestAgeCallback(func(_ context.Context, o metric.Float64Observer) error {
		age := 0.0
		if q := e.q(); q != nil {
			if t, ok := q.Oldest(); ok {
				age = time.Since(t).Seconds()
			}
		}
		o.Observe(age)
		return nil
	}); err != nil {
		return err
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
	if q := e.q(); q != nil {
		if n := q.Len(); n > 0 && e.cfg.QueueConfig.Storage == nil {
			e.logger.Warn("Shutting down with data not delivered; without sending_queue.storage it is lost", zap.Int("batches", n))
		}
		err = q.Close(ctx)
	}
	e.telemetry.Shutdown()
	return err
}

// enqueue is the pipeline's side: the batch is stored (durably with storage) before it returns, so
// what the pipeline was told is accepted survives a crash.
func (e *rwExporter) enqueue(ctx context.Context, md pmetric.Metrics) error {
	if e.inMemory {
		e.memMu.Lock()
		defer e.memMu.Unlock()
		if err := e.q().Put(ctx, nil); err != nil {
			return e.refused(ctx, err)
		}
		e.memq = append(e.memq, md) // the pipeline hands it over (MutatesData false: it is only read)
		return nil
	}
	for _, part := range splitResources(md, resourcesPerItem) {
		b, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(part)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		if err := e.q().Put(ctx, b); err != nil {
			return e.refused(ctx, err)
		}
	}
	return nil
}

// refused counts and explains a push the queue did not take.
func (e *rwExporter) refused(ctx context.Context, err error) error {
	if errors.Is(err, fifo.ErrFull) {
		e.telemetry.ExporterRemoteWriteBatchesRefused.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "queue_full")))
		return fmt.Errorf("%w (%d batches waiting: is the backend down? raise sending_queue.queue_size to wait longer)", err, e.cfg.QueueConfig.QueueSize)
	}
	e.telemetry.ExporterRemoteWriteBatchesRefused.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "storage_error")))
	e.logOnce("storage_write", "The remote_write queue cannot store new data (is its disk full?); new data is refused until it can, the backlog is still sent", zap.Error(err))
	return err
}

// memTake returns the n oldest pushes of an in-memory queue; memDrop forgets them once sent.
func (e *rwExporter) memTake(n int) []pmetric.Metrics {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	return e.memq[:min(n, len(e.memq))]
}

func (e *rwExporter) memDrop(n int) {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	n = min(n, len(e.memq))
	clear(e.memq[:n])
	e.memq = e.memq[n:]
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
// the next batches wait while the oldest is retried. It never gives up while the collector runs: a
// storage error (a full disk) is retried with backoff until it clears, and a damaged queue file is
// moved aside.
func (e *rwExporter) run(ctx context.Context) {
	defer close(e.done)
	retry := e.newStorageRetry()
	for {
		q := e.q()
		items, err := q.Peek(ctx, batchesPerSend)
		if err != nil {
			if ctx.Err() != nil || !retry.wait(ctx, "read", err) {
				return
			}
			continue
		}
		if e.cfg.BatchSendDeadline > 0 {
			var ok bool
			if items, ok = e.gather(ctx, q, items); !ok {
				return
			}
		}
		items = e.round(items)
		// What the previous run left goes in rounds of its own: a backend's refusal of samples it
		// already had must not take this run's new samples with it.
		resumed := q.Head() < e.resumedTail
		if resumed {
			items = items[:min(uint64(len(items)), e.resumedTail-q.Head())]
		}
		if !e.deliver(ctx, items, resumed) {
			return // shutting down: the batches stay queued
		}
		for {
			err := q.Remove(ctx, len(items))
			if err == nil {
				if e.inMemory {
					e.memDrop(len(items))
				}
				break
			}
			if ctx.Err() != nil || !retry.wait(ctx, "update", err) {
				return
			}
			if e.q() != q {
				break // the damaged queue was replaced: what it held is gone with it
			}
		}
		retry.ok()
	}
}

// gather waits, up to batch_send_deadline after the oldest queued batch came, for more batches to
// send with it, unless a round is already full; it returns the batches queued then (false when
// shutting down).
func (e *rwExporter) gather(ctx context.Context, q *fifo.Queue, items [][]byte) ([][]byte, bool) {
	oldest, ok := q.Oldest()
	if !ok || len(e.round(items)) < len(items) {
		return items, true // nothing to wait for, or more than a round already
	}
	if e.inMemory {
		points := 0
		for _, md := range e.memTake(len(items)) {
			points += md.DataPointCount()
		}
		if points >= e.cfg.MaxSamplesPerRequest {
			return items, true
		}
	}
	wait := time.Until(oldest.Add(e.cfg.BatchSendDeadline))
	if wait <= 0 {
		return items, true
	}
	select {
	case <-ctx.Done():
		return nil, false
	case <-time.After(wait):
	}
	more, err := q.Peek(ctx, batchesPerSend)
	if err != nil {
		return items, true // the batches peeked before are still there; the next round reads again
	}
	return more, true
}

// round is how many of the oldest batches one round of sending takes: at most bytesPerSend of
// encoded batches, or, in memory (the pushes themselves), at most pointsPerSend points; always one.
func (e *rwExporter) round(items [][]byte) [][]byte {
	size := 0
	for i, item := range items {
		if size += len(item); size > bytesPerSend && i > 0 {
			return items[:i]
		}
	}
	if e.inMemory {
		points := 0
		for i, md := range e.memTake(len(items)) {
			if points += md.DataPointCount(); points > e.pointsPerSend && i > 0 {
				return items[:i]
			}
		}
	}
	return items
}

// storageRetry waits between tries of a failing queue operation: exponential backoff with jitter,
// 100 ms to 30 s; each kind of failure is logged once, at warn, and the recovery at info. A damaged
// queue is replaced by a fresh one.
type storageRetry struct {
	e      *rwExporter
	delay  time.Duration
	failed bool
}

func (e *rwExporter) newStorageRetry() *storageRetry {
	return &storageRetry{e: e, delay: 100 * time.Millisecond}
}

func (r *storageRetry) wait(ctx context.Context, op string, err error) bool {
	e := r.e
	e.telemetry.ExporterRemoteWriteRetries.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", "storage")))
	if errors.Is(err, fifo.ErrCorrupt) {
		e.replaceDamagedQueue(ctx, err)
		return ctx.Err() == nil
	}
	if !r.failed {
		e.logger.Warn("Cannot "+op+" the remote_write queue; retrying until its storage works again (is its disk full?)", zap.Error(err))
		r.failed = true
	}
	jitter := time.Duration(rand.Int64N(int64(r.delay)/2 + 1)) //nolint:gosec // G404: retry jitter needs spread, not secrecy
	select {
	case <-ctx.Done():
		return false
	case <-time.After(r.delay + jitter):
	}
	r.delay = min(2*r.delay, 30*time.Second)
	return true
}

func (r *storageRetry) ok() {
	if r.failed {
		r.e.logger.Info("The remote_write queue's storage works again")
	}
	r.failed, r.delay = false, 100*time.Millisecond
}

// replaceDamagedQueue moves a queue file that broke while it was read aside and opens a fresh one.
func (e *rwExporter) replaceDamagedQueue(ctx context.Context, cause error) {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	old := e.queue
	_ = old.Close(ctx)
	path := e.queueFile()
	if path != "" {
		if aside, err := moveAside(path); err == nil {
			e.logger.Error("The remote_write queue file broke while it was read; it was moved aside and a fresh queue started. The batches it held are not sent; the file is kept for inspection",
				zap.String("file", path), zap.String("moved_to", aside), zap.Int("batches_lost", old.Len()), zap.Error(cause))
		}
	}
	q, err := e.tryOpenQueue(ctx)
	if err != nil {
		e.logger.Error("Cannot open a fresh remote_write queue; keeping it in memory until the collector restarts", zap.Error(err))
		q, _ = fifo.Open(ctx, nil, e.cfg.QueueConfig.QueueSize)
	}
	e.queue = q
	e.resumedTail = 0
}

// deliver translates and sends some queued batches as requests of at most max_samples_per_request
// samples. It retries each request until the backend takes it, refuses it for good, or the retries
// run out (max_elapsed_time); it returns false when shutdown interrupted it.
func (e *rwExporter) deliver(ctx context.Context, items [][]byte, resumed bool) bool {
	if e.cfg.Protocol == protocolV2 && !e.fellBack.Load() {
		ok, err := e.deliverV2(ctx, items, resumed)
		var unsupported unsupportedV2
		if !errors.As(err, &unsupported) {
			return ok
		}
		e.fellBack.Store(true)
		e.logger.Warn("The remote-write backend does not accept remote write 2.0; sending 1.0 from now on (restart the collector to try 2.0 again)",
			zap.String("endpoint", e.endpoint), zap.String("status", unsupported.status), zap.String("backend_message", unsupported.msg))
	}
	e.addItems(ctx, items)
	return e.encoder.Flush(prw.V1, e.cfg.MaxSamplesPerRequest, func(raw []byte, samples int) bool {
		ok, _ := e.sendWithRetry(ctx, request{raw: raw, samples: samples}, resumed)
		return ok
	})
}

// addItems decodes queued batches into the encoder; a damaged one is skipped, and what cannot be
// translated is logged once.
func (e *rwExporter) addItems(ctx context.Context, items [][]byte) {
	var batches []pmetric.Metrics
	if e.inMemory {
		batches = e.memTake(len(items))
	} else {
		for _, b := range items {
			if md, ok := e.readBatch(ctx, b); ok {
				batches = append(batches, md)
			}
		}
	}
	for _, md := range batches {
		if err := e.encoder.Add(md); err != nil {
			e.logOnce("translation", "Some metrics could not be translated to Prometheus series and were dropped", zap.Error(err))
		}
	}
}

// readBatch decodes one queued batch; a damaged one is skipped, counted and logged once.
func (e *rwExporter) readBatch(ctx context.Context, b []byte) (pmetric.Metrics, bool) {
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
	if err != nil {
		e.telemetry.ExporterRemoteWriteBatchesSkipped.Add(ctx, 1)
		e.logOnce("corrupt", "A queued batch cannot be read (damaged); it is skipped (counted in otelcol_exporter_remote_write_batches_skipped)", zap.Error(err))
		return md, false
	}
	return md, true
}

// sendWithRetry sends one request, retrying retryable failures with exponential backoff (or the
// backend's Retry-After, capped by max_retry_after). It returns false only when shutdown interrupted
// it. Delivery failing for longer than failingWarnAfter is said once at warn, with the endpoint and
// the error, and its recovery at info.
func (e *rwExporter) sendWithRetry(ctx context.Context, req request, resumed bool) (bool, error) {
	bo := e.cfg.BackOffConfig
	wait := bo.InitialInterval
	began := time.Now()
	req.body = e.compress(req.raw)
	for {
		err := e.send(ctx, req, resumed)
		if err == nil {
			e.delivered()
			return true, nil
		}
		var unsupported unsupportedV2
		if errors.As(err, &unsupported) {
			return true, err
		}
		if ctx.Err() != nil {
			return false, nil
		}
		e.failing(ctx, err)
		var throttle interface{ Delay() time.Duration }
		delay := wait
		if errors.As(err, &throttle) {
			delay = throttle.Delay()
			if limit := e.cfg.MaxRetryAfter; limit > 0 && delay > limit {
				e.logOnce("retry_after_capped", "The remote-write backend asked to wait longer than max_retry_after; waiting max_retry_after instead",
					zap.Duration("retry_after", delay), zap.Duration("max_retry_after", limit))
				delay = limit
			} else if delay > time.Minute {
				e.logOnce("retry_after", "The remote-write backend asked to wait before sending again", zap.Duration("retry_after", delay))
			}
		}
		if !bo.Enabled || (bo.MaxElapsedTime > 0 && time.Since(began)+delay > bo.MaxElapsedTime) {
			e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, int64(req.samples), metric.WithAttributes(attribute.String("reason", "retries_exhausted")))
			e.logOnce("retries_exhausted", "Giving up on samples after retry_on_failure.max_elapsed_time; they are dropped", zap.Error(err))
			return true, nil
		}
		e.logger.Debug("remote_write: retrying", zap.Error(err), zap.Duration("in", delay))
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(delay):
		}
		wait = time.Duration(float64(wait) * max(bo.Multiplier, 1))
		if bo.MaxInterval > 0 {
			wait = min(wait, bo.MaxInterval)
		}
	}
}

// failing counts a failed send by reason and says, once, when delivery has failed for long.
func (e *rwExporter) failing(ctx context.Context, err error) {
	e.telemetry.ExporterRemoteWriteRetries.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", retryReason(err))))
	now := time.Now()
	if e.failingSince.IsZero() {
		e.failingSince = now
	}
	if !e.failingWarn && now.Sub(e.failingSince) >= e.warnAfter {
		e.failingWarn = true
		waiting := 0
		if q := e.q(); q != nil {
			waiting = q.Len()
		}
		e.logger.Warn("Cannot deliver to the remote-write backend; retrying, nothing is dropped while the queue has room",
			zap.String("endpoint", e.endpoint), zap.Duration("failing_for", now.Sub(e.failingSince).Round(time.Second)),
			zap.Int("batches_waiting", waiting), zap.Error(err))
	}
}

func (e *rwExporter) delivered() {
	if e.failingWarn {
		e.logger.Info("Delivery to the remote-write backend works again",
			zap.String("endpoint", e.endpoint), zap.Duration("failed_for", time.Since(e.failingSince).Round(time.Second)))
	}
	e.failingSince, e.failingWarn = time.Time{}, false
}

// retryReason names a retryable failure for otelcol_exporter_remote_write_retries.
func retryReason(err error) string {
	var se statusError
	if errors.As(err, &se) {
		switch {
		case se.code == http.StatusTooManyRequests:
			return "http_429"
		case se.code/100 == 3:
			return "redirect"
		case se.code == http.StatusUnauthorized || se.code == http.StatusForbidden:
			return "auth"
		}
		return "http_5xx"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "network"
}

// statusError is a retryable HTTP answer.
type statusError struct {
	code int
	err  error
}

func (s statusError) Error() string { return s.err.Error() }
func (s statusError) Unwrap() error { return s.err }

// send posts one request. 2xx: sent. 429 and 5xx: retryable (Retry-After honored). Any other 4xx: the
// backend will never take these samples (out of order, duplicate, too old, malformed): they are
// dropped and counted by reason, and the rest of the batch goes on.
func (e *rwExporter) send(ctx context.Context, req request, resumed bool) error {
	body := &sentBody{Reader: bytes.NewReader(req.body)}
	e.bodies = append(e.bodies, body)
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, body)
	if err != nil {
		return err
	}
	httpReq.ContentLength = int64(len(req.body))
	httpReq.Header.Set("Content-Encoding", "snappy")
	if req.v2 {
		httpReq.Header.Set("Content-Type", contentTypeV2)
		httpReq.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	} else {
		httpReq.Header.Set("Content-Type", "application/x-protobuf")
		httpReq.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	httpReq.Header.Set("User-Agent", e.userAgent)
	resp, err := e.client.Do(httpReq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the URL, with its user name
		}
		return fmt.Errorf("remote_write: POST %s: %w (the backend is unreachable; retrying)", e.endpoint, redact.Wrap(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	samples := int64(req.samples)
	switch {
	case resp.StatusCode/100 == 2:
		if req.v2 {
			if !hasWrittenHeaders(resp.Header) && !e.v2Worked.Load() {
				// A 2.0 receiver says what it wrote; one that does not is older than 2.0 (Prometheus
				// 2.x answers 204 to a 2.0 request it read as 1.0, and stored nothing of it).
				return unsupportedV2{status: resp.Status, msg: "no X-Prometheus-Remote-Write-Samples-Written header: a receiver older than remote write 2.0"}
			}
			e.v2Worked.Store(true)
			samples = e.writtenV2(ctx, resp.Header, samples)
		}
		e.telemetry.ExporterRemoteWriteSamplesSent.Add(ctx, samples)
		return nil
	case req.v2 && (resp.StatusCode == http.StatusUnsupportedMediaType || (resp.StatusCode == http.StatusBadRequest && !e.v2Worked.Load())):
		// 415: the receiver does not take 2.0 (Prometheus 3 without it in its accepted messages). A
		// 400 before any 2.0 request worked: a receiver older than 2.0 read it as a 1.0 request.
		return unsupportedV2{status: resp.Status, msg: strings.TrimSpace(string(msg))}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5:
		err := statusError{code: resp.StatusCode, err: fmt.Errorf("remote_write: POST %s: %s: %s", e.endpoint, resp.Status, strings.TrimSpace(string(msg)))}
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return throttleError{err: err, delay: d}
		}
		return err
	case resp.StatusCode/100 == 3:
		// Not followed (see start): a failed send, retried until the endpoint is fixed.
		location := redact.URL(resp.Header.Get("Location"))
		err := statusError{code: resp.StatusCode, err: fmt.Errorf("remote_write: POST %s: %s to %q: remote write never follows a redirect (a POST redirected is not stored); set the endpoint to where the backend writes; retrying", e.endpoint, resp.Status, location)}
		e.logOnce("redirect", "The remote-write endpoint answers with a redirect, which is not followed: nothing is delivered and the queue is kept (retrying) until the endpoint is set to where it points",
			zap.String("endpoint", e.endpoint), zap.String("status", resp.Status), zap.String("location", location))
		return err
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return e.authFailed(ctx, resp.StatusCode, resp.Status, strings.TrimSpace(string(msg)), samples)
	default:
		reason := dropReason(string(msg))
		if resumed && (reason == "out_of_order" || reason == "duplicate") {
			// A batch left by the previous run was in flight when it stopped: the backend stored it
			// then, and refuses it now as older than what it has. Nothing is lost.
			e.telemetry.ExporterRemoteWriteSamplesDuplicate.Add(ctx, samples)
			e.logOnce("resent", "The remote-write backend already had samples re-sent after a restart (in flight when the collector stopped); counted as duplicates, not lost",
				zap.String("status", resp.Status), zap.String("backend_message", strings.TrimSpace(string(msg))))
			return nil
		}
		e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, samples, metric.WithAttributes(attribute.String("reason", reason)))
		e.logOnce(reason, "The remote-write backend refused samples; they are dropped, not retried (counted in otelcol_exporter_remote_write_samples_dropped)",
			zap.String("reason", reason), zap.String("status", resp.Status), zap.String("backend_message", strings.TrimSpace(string(msg))))
		return nil
	}
}

// authFailed handles a 401 or 403: as the remote-write spec says, that request is not retried (its
// samples are dropped, reason unauthorized or forbidden), unless on_auth_failure is hold: then it is
// retried, and the queue kept, until the credential works. Either way an error names the credential.
func (e *rwExporter) authFailed(ctx context.Context, code int, status, msg string, samples int64) error {
	reason := "unauthorized"
	if code == http.StatusForbidden {
		reason = "forbidden"
	}
	fix := e.credential()
	if e.cfg.OnAuthFailure == authHold {
		e.logErrorOnce(reason, "The remote-write backend refuses our credentials; the queue is held and the request retried until they work (on_auth_failure: hold)",
			zap.String("endpoint", e.endpoint), zap.String("status", status), zap.String("credential", fix), zap.String("backend_message", msg))
		return statusError{code: code, err: fmt.Errorf("remote_write: POST %s: %s: %s (check %s)", e.endpoint, status, msg, fix)}
	}
	e.telemetry.ExporterRemoteWriteSamplesDropped.Add(ctx, samples, metric.WithAttributes(attribute.String("reason", reason)))
	e.logErrorOnce(reason, "The remote-write backend refuses our credentials; the samples are dropped, not retried, as the remote-write spec says (counted in otelcol_exporter_remote_write_samples_dropped; on_auth_failure: hold keeps them until the credential works)",
		zap.String("endpoint", e.endpoint), zap.String("status", status), zap.String("credential", fix), zap.String("backend_message", msg))
	return nil
}

// credential says which configured credential a 401 or 403 is about.
func (e *rwExporter) credential() string {
	var what []string
	if e.cfg.Auth.HasValue() {
		what = append(what, fmt.Sprintf("the %q authenticator (auth.authenticator)", e.cfg.Auth.Get().AuthenticatorID.String()))
	}
	for k := range e.cfg.Headers.Iter {
		if strings.EqualFold(k, "Authorization") || strings.Contains(strings.ToLower(k), "token") || strings.Contains(strings.ToLower(k), "key") {
			what = append(what, fmt.Sprintf("the %s header (headers)", k))
		}
	}
	if u, err := url.Parse(e.cfg.Endpoint); err == nil && u.User != nil {
		what = append(what, "the user and password in the endpoint")
	}
	if len(what) == 0 {
		return "no credential is configured: the backend wants one (auth with bearertokenauth or basicauth, or headers)"
	}
	return strings.Join(what, " and ")
}

// compress snappy-compresses a request into a buffer reused from one request to the next, unless
// the transport may still be reading the previous one (it closes a request's body when done with it,
// possibly after Do returned): then that buffer is left to it and a new one is made.
func (e *rwExporter) compress(raw []byte) []byte {
	for _, b := range e.bodies {
		if !b.closed.Load() {
			e.zbuf = nil
			break
		}
	}
	clear(e.bodies)
	e.bodies = e.bodies[:0]
	e.zbuf = s2.EncodeSnappy(e.zbuf[:cap(e.zbuf)], raw)
	return e.zbuf
}

// sentBody is a request body that says when the transport closed it.
type sentBody struct {
	*bytes.Reader
	closed atomic.Bool
}

func (b *sentBody) Close() error {
	b.closed.Store(true)
	return nil
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
	if e.first(reason) {
		e.logger.Warn(msg, fields...)
	}
}

// logErrorOnce is logOnce at error level (what a person must fix).
func (e *rwExporter) logErrorOnce(reason, msg string, fields ...zap.Field) {
	if e.first(reason) {
		e.logger.Error(msg, fields...)
	}
}

func (e *rwExporter) first(reason string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	first := !e.logged[reason]
	e.logged[reason] = true
	return first
}
