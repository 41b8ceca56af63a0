package fifo

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// mapClient is a storage.Client over a map that outlives the Queue, as a file would a process.
type mapClient struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *mapClient) Get(_ context.Context, k string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k], nil
}

func (c *mapClient) Set(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = append([]byte(nil), v...)
	return nil
}

func (c *mapClient) Delete(_ context.Context, k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	return nil
}

func (c *mapClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		switch op.Type {
		case storage.Set:
			_ = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			_ = c.Delete(ctx, op.Key)
		case storage.Get:
			op.Value, _ = c.Get(ctx, op.Key)
		}
	}
	return nil
}

func (*mapClient) Close(context.Context) error { return nil }

func TestResumesInOrderAfterRestart(t *testing.T) {
	ctx := context.Background()
	disk := &mapClient{m: map[string][]byte{}}
	q, err := Open(ctx, disk, 100)
	require.NoError(t, err)
	for _, s := range []string{"a", "b", "c", "d"} {
		require.NoError(t, q.Put(ctx, []byte(s)))
	}
	items, err := q.Peek(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("a"), []byte("b")}, items)
	require.NoError(t, q.Remove(ctx, 1)) // "a" delivered; "b" was in flight when the process died

	q2, err := Open(ctx, disk, 100)
	require.NoError(t, err)
	assert.Equal(t, 3, q2.Len())
	items, err = q2.Peek(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("b"), []byte("c"), []byte("d")}, items, "the one in flight comes first, not last")
	require.NoError(t, q2.Remove(ctx, 3))
	assert.Equal(t, 0, q2.Len())
	assert.Len(t, disk.m, 2, "only head and tail stay on disk")
}

func TestFullAndMemory(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, nil, 2)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, []byte("1")))
	require.NoError(t, q.Put(ctx, []byte("2")))
	require.ErrorIs(t, q.Put(ctx, []byte("3")), ErrFull)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	require.NoError(t, q.Remove(ctx, 2))
	_, err = q.Peek(cctx, 1)
	require.ErrorIs(t, err, context.Canceled, "an empty queue waits until canceled")
}
