// Package fifo owns the remote_write exporter's queue: a strictly first-in first-out log of encoded
// batches, kept in a storage extension (file_storage) when one is configured, in memory otherwise.
// Items are removed only after they were delivered, and a restart resumes from the oldest item not
// delivered, so nothing is lost and nothing is reordered across crashes. (exporterhelper's persistent
// queue puts requests that were in flight at a crash back at the end of the queue, which makes a
// backend that refuses out-of-order samples drop them.)
package fifo // import "github.com/otel-inference/collector/exporter/remotewriteexporter/internal/fifo"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ErrFull is returned by Put when the queue holds its capacity.
var ErrFull = errors.New("the remote_write queue is full")

// ErrCorrupt wraps what a damaged queue file did: a storage call that panicked (bbolt panics on some
// damaged pages) or indexes that make no sense. The caller moves the file aside and starts afresh.
var ErrCorrupt = errors.New("the remote_write queue's storage is damaged")

// safely runs one storage call, turning a panic into an ErrCorrupt error.
func safely(f func() error) (err error) {
	// A damaged file can make bbolt read past the end of its memory map: with this, the fault is a
	// panic recovered here instead of a crash of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return f()
}

const (
	keyHead = "head"
	keyTail = "tail"
)

// Queue is a FIFO of byte items. One consumer reads it (Peek, then Remove); any number of producers
// Put.
type Queue struct {
	mu       sync.Mutex
	nonEmpty chan struct{} // signaled (non-blocking) when an item is added
	client   storage.Client
	mem      map[uint64][]byte
	head     uint64 // the oldest item not delivered
	tail     uint64 // the next item's index
	capacity uint64
	// putAt is when each item put by this process was put; opened is when the queue was opened (the
	// age of items a previous run left counts from there).
	putAt  map[uint64]time.Time
	opened time.Time
}

// Open returns a queue over client (nil: in memory), resuming where the previous process stopped.
func Open(ctx context.Context, client storage.Client, capacity int) (*Queue, error) {
	q := &Queue{client: client, nonEmpty: make(chan struct{}, 1), capacity: uint64(max(capacity, 1)), putAt: map[uint64]time.Time{}, opened: time.Now()}
	if client == nil {
		q.mem = map[uint64][]byte{}
		return q, nil
	}
	var err error
	if q.head, err = q.readIndex(ctx, keyHead); err != nil {
		return nil, err
	}
	if q.tail, err = q.readIndex(ctx, keyTail); err != nil {
		return nil, err
	}
	if q.tail < q.head {
		return nil, fmt.Errorf("%w: head %d after tail %d", ErrCorrupt, q.head, q.tail)
	}
	if q.tail > q.head {
		q.signal()
	}
	return q, nil
}

func (q *Queue) readIndex(ctx context.Context, key string) (uint64, error) {
	var b []byte
	err := safely(func() (err error) { b, err = q.client.Get(ctx, key); return err })
	if err != nil {
		return 0, fmt.Errorf("reading the remote_write queue's %s: %w", key, err)
	}
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: its %s is %d bytes, not 8", ErrCorrupt, key, len(b))
	}
	return binary.LittleEndian.Uint64(b), nil
}

func itemKey(i uint64) string { return "item-" + strconv.FormatUint(i, 10) }

func encodeIndex(i uint64) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], i)
	return b[:]
}

// Len is the number of items not delivered yet.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.tail - q.head)
}

// Put appends an item. It is durable when Put returns (with a storage client).
func (q *Queue) Put(ctx context.Context, item []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail-q.head >= q.capacity {
		return ErrFull
	}
	if q.client == nil {
		q.mem[q.tail] = item
	} else if err := safely(func() error {
		return q.client.Batch(ctx,
			storage.SetOperation(itemKey(q.tail), item),
			storage.SetOperation(keyTail, encodeIndex(q.tail+1)),
		)
	}); err != nil {
		return fmt.Errorf("writing to the remote_write queue: %w", err)
	}
	q.putAt[q.tail] = time.Now()
	q.tail++
	q.signal()
	return nil
}

// Oldest is when the oldest item waiting was put (when the queue was opened, for an item a previous
// run left); false when the queue is empty.
func (q *Queue) Oldest() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tail == q.head {
		return time.Time{}, false
	}
	if t, ok := q.putAt[q.head]; ok {
		return t, true
	}
	return q.opened, true
}

func (q *Queue) signal() {
	select {
	case q.nonEmpty <- struct{}{}:
	default:
	}
}

// Peek returns up to n of the oldest items, waiting for one while the queue is empty. The items stay
// in the queue until Remove.
func (q *Queue) Peek(ctx context.Context, n int) ([][]byte, error) {
	for {
		q.mu.Lock()
		avail := q.tail - q.head
		if avail > 0 {
			k := min(uint64(n), avail)
			items := make([][]byte, 0, k)
			for i := q.head; i < q.head+k; i++ {
				item, err := q.get(ctx, i)
				if err != nil {
					q.mu.Unlock()
					return nil, err
				}
				items = append(items, item)
			}
			q.mu.Unlock()
			return items, nil
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.nonEmpty:
		}
	}
}

func (q *Queue) get(ctx context.Context, i uint64) ([]byte, error) {
	if q.client == nil {
		return q.mem[i], nil
	}
	var b []byte
	err := safely(func() (err error) { b, err = q.client.Get(ctx, itemKey(i)); return err })
	if err != nil {
		return nil, fmt.Errorf("reading the remote_write queue: %w", err)
	}
	return b, nil
}

// Remove drops the n oldest items (delivered, or never deliverable).
func (q *Queue) Remove(ctx context.Context, n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(uint64(n), q.tail-q.head)
	if q.client == nil {
		for i := q.head; i < q.head+k; i++ {
			delete(q.mem, i)
			delete(q.putAt, i)
		}
		q.head += k
		return nil
	}
	ops := make([]*storage.Operation, 0, k+1)
	for i := q.head; i < q.head+k; i++ {
		ops = append(ops, storage.DeleteOperation(itemKey(i)))
	}
	ops = append(ops, storage.SetOperation(keyHead, encodeIndex(q.head+k)))
	if err := safely(func() error { return q.client.Batch(ctx, ops...) }); err != nil {
		return fmt.Errorf("updating the remote_write queue: %w", err)
	}
	for i := q.head; i < q.head+k; i++ {
		delete(q.putAt, i)
	}
	q.head += k
	return nil
}

// Head is the index of the oldest item not delivered, Tail the next item's.
func (q *Queue) Head() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head
}

// Tail is the index the next item will get.
func (q *Queue) Tail() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.tail
}

// Close releases the storage client.
func (q *Queue) Close(ctx context.Context) error {
	if q.client == nil {
		return nil
	}
	return safely(func() error { return q.client.Close(ctx) })
}
