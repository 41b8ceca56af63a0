package remotewriteexporter

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/metadata"
)

// flakyStorage is a storage extension whose client keeps items in memory and fails every write
// while failWrites is set, as a full disk does.
type flakyStorage struct {
	component.StartFunc
	component.ShutdownFunc
	failWrites atomic.Bool
	mu         sync.Mutex
	data       map[string][]byte
}

var errNoSpace = errors.New("write /var/lib/otelcol/queue: no space left on device")

func (f *flakyStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return f, nil
}

func (f *flakyStorage) Get(_ context.Context, key string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data[key], nil
}

func (f *flakyStorage) Set(ctx context.Context, key string, value []byte) error {
	return f.Batch(ctx, storage.SetOperation(key, value))
}

func (f *flakyStorage) Delete(ctx context.Context, key string) error {
	return f.Batch(ctx, storage.DeleteOperation(key))
}

func (f *flakyStorage) Batch(_ context.Context, ops ...*storage.Operation) error {
	if f.failWrites.Load() {
		return errNoSpace
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = f.data[op.Key]
		case storage.Set:
			f.data[op.Key] = op.Value
		case storage.Delete:
			delete(f.data, op.Key)
		}
	}
	return nil
}

func (f *flakyStorage) Close(context.Context) error { return nil }

// hostWith is a host with extensions.
type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

var queueStorageID = component.MustNewID("file_storage")

// switchBackend answers 503 while down, else stores like backend.
type switchBackend struct {
	backend
	down atomic.Bool
}

func (b *switchBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.down.Load() {
		http.Error(w, "tsdb unavailable", http.StatusServiceUnavailable)
		return
	}
	b.backend.ServeHTTP(w, r)
}

func startWithStorage(t *testing.T, b http.Handler, host component.Host, logger *zap.Logger) exporter.Metrics {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL + "/api/v1/write"
	cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 50 * time.Millisecond
	id := queueStorageID
	cfg.QueueConfig.Storage = &id
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "q") // the same queue file from run to run
	if logger != nil {
		set.Logger = logger
	}
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), host))
	return exp
}

// The disk fills while the backend is down, the backend comes back before the space does: new data
// is refused (an error the pipeline sees), the sender keeps trying to update the queue instead of
// stopping for good, and once space returns everything that was accepted is delivered, in order,
// without a restart.
func TestStorageFullThenBackAllDeliveredInOrder(t *testing.T) {
	st := &flakyStorage{data: map[string][]byte{}}
	b := &switchBackend{}
	b.down.Store(true)
	core, logs := observer.New(zapcore.InfoLevel)
	exp := startWithStorage(t, b, hostWith{queueStorageID: st}, zap.New(core))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	accepted := 0
	for i := 0; i < 5; i++ {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(int64(i), float64(i), 1)))
		accepted++
	}
	st.failWrites.Store(true) // the disk is full
	err := exp.ConsumeMetrics(context.Background(), gauge(5, 5, 1))
	require.ErrorContains(t, err, "no space left", "new data is refused while the queue cannot store it")
	b.down.Store(false) // the backend is back; the sender sends, but cannot remove what it sent
	time.Sleep(500 * time.Millisecond)
	assert.Len(t, logs.FilterMessageSnippet("Cannot update the remote_write queue").All(), 1, "said once")
	st.failWrites.Store(false) // space is back
	for i := 5; i < 8; i++ {
		require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(int64(i), float64(i), 1)))
		accepted++
	}
	require.Eventually(t, func() bool { return len(b.stepsOf()) == accepted }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []float64{0, 1, 2, 3, 4, 5, 6, 7}, b.stepsOf(), "everything accepted, in order, once each")
	assert.Len(t, logs.FilterMessageSnippet("queue's storage works again").All(), 1)
}

// During an outage a warn line names the endpoint and the error; the queue length rises and falls
// back to 0 once the backend recovers, which is said at info.
func TestOutageVisible(t *testing.T) {
	b := &switchBackend{}
	b.down.Store(true)
	srv := httptest.NewServer(b)
	defer srv.Close()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL + "/api/v1/write"
	cfg.BackOffConfig.InitialInterval = 10 * time.Millisecond
	cfg.BackOffConfig.MaxInterval = 50 * time.Millisecond
	core, logs := observer.New(zapcore.InfoLevel)
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	set.Logger = zap.New(core)
	e, err := newExporter(cfg, set)
	require.NoError(t, err)
	e.warnAfter = 200 * time.Millisecond
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, e.shutdown(context.Background())) }()

	queueLength := func() int64 {
		m, err := tel.GetMetric("otelcol_exporter_remote_write_queue_length")
		require.NoError(t, err)
		g, ok := m.Data.(metricdata.Gauge[int64])
		require.True(t, ok)
		require.Len(t, g.DataPoints, 1)
		return g.DataPoints[0].Value
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, e.enqueue(context.Background(), gauge(int64(i), float64(i), 1)))
	}
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Cannot deliver to the remote-write backend").Len() == 1 }, 5*time.Second, 10*time.Millisecond)
	warn := logs.FilterMessageSnippet("Cannot deliver to the remote-write backend").All()[0]
	assert.Equal(t, cfg.Endpoint, warn.ContextMap()["endpoint"])
	assert.Contains(t, warn.ContextMap()["error"], "503")
	assert.Equal(t, int64(3), queueLength(), "otelcol_exporter_remote_write_queue_length")
	b.down.Store(false)
	require.Eventually(t, func() bool { return queueLength() == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("works again").Len() == 1 }, 5*time.Second, 10*time.Millisecond)
}

// fileStorage starts a real file_storage extension on dir.
func fileStorage(t *testing.T, dir string) extension.Extension {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return ext
}

// Each kind of damaged queue file (left by a crash, a full disk or a bad block): the exporter starts,
// says once where the old file went, and delivers new data.
func TestDamagedQueueFiles(t *testing.T) {
	damage := map[string]func(t *testing.T, path string){
		"cut in half": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		},
		"garbage mid-file": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			overwrite(t, path, fi.Size()/4096/2, bytesOf(0x5a, 4096))
		},
		"zeroed pages":   func(t *testing.T, path string) { overwrite(t, path, 2, bytesOf(0, 3*4096)) },
		"garbage header": func(t *testing.T, path string) { overwrite(t, path, 0, bytesOf(0xa5, 2*4096)) },
		"empty":          func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) },
	}
	for name, hurt := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			// A run whose backend is down leaves batches in the queue file.
			ext := fileStorage(t, dir)
			down := &switchBackend{}
			down.down.Store(true)
			exp := startWithStorage(t, down, hostWith{queueStorageID: ext}, nil)
			for i := 0; i < 20; i++ {
				require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(int64(i), float64(i), 50)))
			}
			require.NoError(t, exp.Shutdown(context.Background()))
			require.NoError(t, ext.Shutdown(context.Background()))
			path := filepath.Join(dir, "exporter_remote_write_q_metrics")
			_, err := os.Stat(path)
			require.NoError(t, err, "file_storage's file for this exporter")
			hurt(t, path)

			core, logs := observer.New(zapcore.InfoLevel)
			ext = fileStorage(t, dir)
			defer func() { _ = ext.Shutdown(context.Background()) }()
			up := &switchBackend{}
			exp = startWithStorage(t, up, hostWith{queueStorageID: ext}, zap.New(core))
			defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
			require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(100, 100, 1)))
			require.Eventually(t, func() bool {
				steps := up.stepsOf()
				return len(steps) > 0 && steps[len(steps)-1] == 100
			}, 10*time.Second, 20*time.Millisecond, "new data is delivered")

			said := logs.FilterLevelExact(zapcore.ErrorLevel).All()
			if len(said) == 0 && name == "garbage mid-file" {
				// The garbage may land where bbolt keeps nothing (a free page) or inside a queued
				// batch: then the file opens, a damaged batch is skipped (said once), the rest is sent.
				skipped := logs.FilterMessageSnippet("cannot be read (damaged)").Len()
				assert.True(t, skipped == 1 || len(up.stepsOf()) == 21, "either a damaged batch is skipped and said, or everything arrives")
				return
			}
			require.Len(t, said, 1, "one error line says what happened: %v", said)
			assert.Equal(t, path, said[0].ContextMap()["file"])
			if name != "empty" {
				aside, ok := said[0].ContextMap()["moved_to"].(string)
				require.True(t, ok, "it says where the file went")
				assert.True(t, strings.HasPrefix(aside, path+".corrupt-"))
				_, err := os.Stat(aside)
				assert.NoError(t, err, "the damaged file is kept for inspection")
			}
		})
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// overwrite writes data over page n of the file (4 KiB pages).
func overwrite(t *testing.T, path string, page int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(data, page*4096)
	require.NoError(t, err)
}

// oooBackend refuses its first request as out of order (what Prometheus answers for samples older
// than what it has), then stores like backend.
type oooBackend struct {
	backend
	refused atomic.Int64
}

func (b *oooBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.refused.Add(1) == 1 {
		http.Error(w, "out of order sample", http.StatusBadRequest)
		return
	}
	b.backend.ServeHTTP(w, r)
}

// After a restart, a batch that was in flight when the collector stopped is sent again; the backend,
// which stored it then, refuses it as out of order. That is counted as duplicates, not as drops.
func TestResentAfterRestartAreDuplicates(t *testing.T) {
	dir := t.TempDir()
	ext := fileStorage(t, dir)
	down := &switchBackend{}
	down.down.Store(true)
	exp := startWithStorage(t, down, hostWith{queueStorageID: ext}, nil)
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(1, 1, 3)))
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))

	ext = fileStorage(t, dir)
	defer func() { _ = ext.Shutdown(context.Background()) }()
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	b := &oooBackend{}
	srv := httptest.NewServer(b)
	defer srv.Close()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL + "/api/v1/write"
	id := queueStorageID
	cfg.QueueConfig.Storage = &id
	set := exportertest.NewNopSettings(metadata.Type)
	set.ID = component.NewIDWithName(metadata.Type, "q")
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), hostWith{queueStorageID: ext}))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(2, 2, 3)))
	require.Eventually(t, func() bool { return len(b.stepsOf()) == 1 }, 5*time.Second, 10*time.Millisecond, "the new batch arrives")

	sum := func(name string) int64 {
		m, err := tel.GetMetric(name)
		if err != nil {
			return 0
		}
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			n += dp.Value
		}
		return n
	}
	assert.Equal(t, int64(3), sum("otelcol_exporter_remote_write_samples_duplicate"), "the re-sent samples")
	assert.Equal(t, int64(0), sum("otelcol_exporter_remote_write_samples_dropped"), "nothing dropped")
}

// A Retry-After of an hour is capped by max_retry_after: sending resumes once the backend is back.
func TestRetryAfterCapped(t *testing.T) {
	var calls atomic.Int64
	b := &backend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		b.ServeHTTP(w, r)
	}))
	defer srv.Close()
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.Endpoint = srv.URL + "/api/v1/write"
	cfg.MaxRetryAfter = 100 * time.Millisecond
	core, logs := observer.New(zapcore.InfoLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	exp, err := f.CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), gauge(1, 1, 1)))
	require.Eventually(t, func() bool { return len(b.stepsOf()) == 1 }, 5*time.Second, 10*time.Millisecond)
	capped := logs.FilterMessageSnippet("longer than max_retry_after").All()
	require.Len(t, capped, 1)
	assert.Equal(t, time.Hour, capped[0].ContextMap()["retry_after"])
}
