package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/fifo"
)

// openQueue opens the queue: in memory, or on the storage extension. A queue file that cannot be
// read (bbolt refuses it or panics on it: cut short, garbage inside, zeroed pages, a bad header) is
// moved aside as <file>.corrupt-<time>, said once at error level with where it went, and the
// exporter starts with an empty queue: a damaged file must never keep the collector from starting.
func (e *rwExporter) openQueue(ctx context.Context) (*fifo.Queue, error) {
	size := e.cfg.QueueConfig.QueueSize
	if e.storageExt == nil {
		return fifo.Open(ctx, nil, size)
	}
	path := e.queueFile()
	var err error
	if path != "" {
		if fi, statErr := os.Stat(path); statErr == nil && fi.Size() == 0 {
			e.logger.Error("The remote_write queue file is empty (cut short, e.g. by a full disk or a crash while it was written): whatever it held is lost; starting with an empty queue",
				zap.String("file", path))
		} else if statErr == nil {
			err = checkQueueFile(ctx, path)
		}
	}
	var q *fifo.Queue
	if err == nil {
		q, err = e.tryOpenQueue(ctx)
		if err == nil || !damaged(err) {
			return q, err
		}
	}
	if path == "" {
		e.logger.Error("The remote_write queue's storage cannot be read and is not a file this exporter can move aside; the queue is kept in memory until the storage is repaired (a crash now loses what is queued)",
			zap.Error(err))
		return fifo.Open(ctx, nil, size)
	}
	aside, moveErr := moveAside(path)
	if moveErr != nil {
		return nil, fmt.Errorf("remote_write: the queue file %s is damaged (%w) and cannot be moved aside: %w; move or remove it by hand", path, err, moveErr)
	}
	e.logger.Error("The remote_write queue file is damaged; it was moved aside and the exporter starts with an empty queue. The batches it held (how many cannot be read) are not sent; the file is kept for inspection",
		zap.String("file", path), zap.String("moved_to", aside), zap.Error(err))
	return e.tryOpenQueue(ctx)
}

func (e *rwExporter) tryOpenQueue(ctx context.Context) (q *fifo.Queue, err error) {
	var sc storage.Client
	err = safely(func() (err error) {
		sc, err = e.storageExt.GetClient(ctx, component.KindExporter, e.set.ID, "metrics")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("remote_write: opening the queue's storage: %w", err)
	}
	q, err = fifo.Open(ctx, sc, e.cfg.QueueConfig.QueueSize)
	if err != nil {
		_ = safely(func() error { return sc.Close(ctx) })
		return nil, err
	}
	return q, nil
}

// damaged tells a queue file that cannot be read from other failures (a directory that is missing
// or not writable is not the file's fault, and moving the file would not help).
func damaged(err error) bool {
	if errors.Is(err, fifo.ErrCorrupt) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"invalid database", "version mismatch", "checksum error", "file size too small", "unexpected EOF", "page "} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// safely runs f, turning a panic (bbolt's, on a damaged file) into an error.
func safely(f func() error) (err error) {
	// A damaged file can make bbolt read past the end of its memory map: with this, the fault is a
	// panic recovered here instead of a crash of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", fifo.ErrCorrupt, r)
		}
	}()
	return f()
}

func moveAside(path string) (string, error) {
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000Z")
	return aside, os.Rename(path, aside)
}

// queueFile is where file_storage keeps this exporter's queue ("" for another storage extension):
// its directory (read from the extension's configuration) and the file name it gives an exporter's
// client, exporter_<type>_<name>_metrics with unsafe characters escaped as file_storage does.
func (e *rwExporter) queueFile() string {
	v := reflect.ValueOf(e.storageExt)
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if !v.IsValid() || v.Kind() != reflect.Struct {
		return ""
	}
	cfg := v.FieldByName("cfg")
	for cfg.IsValid() && cfg.Kind() == reflect.Pointer {
		if cfg.IsNil() {
			return ""
		}
		cfg = cfg.Elem()
	}
	if !cfg.IsValid() || cfg.Kind() != reflect.Struct {
		return ""
	}
	dir := cfg.FieldByName("Directory")
	if !dir.IsValid() || dir.Kind() != reflect.String || dir.String() == "" {
		return ""
	}
	return filepath.Join(dir.String(), sanitizeFileName(fmt.Sprintf("exporter_%s_%s_metrics", e.set.ID.Type(), e.set.ID.Name())))
}

// sanitizeFileName escapes what file_storage escapes in a client's file name: any rune but letters,
// digits, '.', '-' and '_' becomes ~ and its code point in hex.
func sanitizeFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "~%04X", r)
		}
	}
	return b.String()
}
