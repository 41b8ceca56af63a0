package inferencereceiver

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLookup(t *testing.T) {
	doc, err := decodeJSON([]byte(`{"a": {"b": [1, {"c": "2.5"}, true]}, "n": null, "big": 1e300}`))
	require.NoError(t, err)
	for _, tt := range []struct {
		path string
		want float64
		ok   bool
	}{
		{"a.b.0", 1, true},
		{"a.b.1.c", 2.5, true},
		{"a.b.2", 1, true},
		{"a.b.3", 0, false},
		{"a.b.-1", 0, false},
		{"a.x", 0, false},
		{"n", 0, false},
		{"a", 0, false},
		{"big", 1e300, true},
	} {
		got, ok := lookup(doc, strings.Split(tt.path, "."))
		assert.Equal(t, tt.ok, ok, tt.path)
		assert.InDelta(t, tt.want, got, 1e-9, tt.path)
	}
}

// FuzzJSONPath: no document or path may panic the JSON source.
func FuzzJSONPath(f *testing.F) {
	if b, err := os.ReadFile("testdata/payloads/stats.json"); err == nil {
		f.Add(b, "queue.depth")
		f.Add(b, "workers.1.inflight")
	}
	f.Add([]byte(`[[[]]]`), "0.0.0")
	f.Add([]byte(`{"a":`), "a")
	f.Fuzz(func(_ *testing.T, b []byte, path string) {
		doc, err := decodeJSON(b)
		if err != nil {
			return
		}
		_, _ = lookup(doc, strings.Split(path, "."))
	})
}
