package inferenceprobereceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// hostile is an OpenAI-compatible endpoint that answers chat completions with what mode says: a
// 100 MiB body, an endless stream, or one 10 MiB stream line. It counts the bytes it got out.
func hostile(t *testing.T, mode string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var sent atomic.Int64
	chunk := []byte(`data: {"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"4"}}]}` + "\n\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write := func(b []byte) bool {
			n, err := w.Write(b)
			sent.Add(int64(n))
			return err == nil && r.Context().Err() == nil
		}
		switch mode {
		case "huge-body":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"`))
			filler := bytes.Repeat([]byte("4"), 1<<20)
			for i := 0; i < 100; i++ {
				if !write(filler) {
					break
				}
			}
			_, _ = w.Write([]byte(`"},"finish_reason":"stop"}]}`))
		case "endless-stream":
			w.Header().Set("Content-Type", "text/event-stream")
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if !write(chunk) {
					break
				}
			}
		case "long-line":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte(`data: {"id":"x","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"`))
			filler := bytes.Repeat([]byte("4"), 1<<20)
			for i := 0; i < 10; i++ {
				if !write(filler) {
					break
				}
			}
			_, _ = w.Write([]byte("\"}}]}\n\n"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &sent
}

// A hostile endpoint cannot grow the collector's memory: a 100 MiB answer, an endless stream and a
// 10 MiB stream line each end the probe as invalid_response after at most maxBody bytes read, well
// before the probe's timeout, with a heap that grew by a few MiB, not by what the endpoint sent.
func TestHostileEndpointsAreBounded(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		stream bool
	}{
		{"huge-body", false},
		{"endless-stream", true},
		{"long-line", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			srv, sent := hostile(t, tc.mode)
			core, logs := observer.New(zap.InfoLevel)
			p := probe("hostile", srv.URL+"/v1", KindChat)
			p.Model = "m"
			p.Stream = tc.stream
			p.Timeout = 20 * time.Second
			r := newTestReceiver(t, zap.New(core), p)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			stop := make(chan struct{})
			var peak atomic.Uint64
			go func() {
				var m runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
				}
			}()
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
			md, err := r.scrape(ctx)
			cancel()
			close(stop)
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Less(t, time.Since(began), 15*time.Second, "ended by the bound, not by the timeout")
			assert.Equal(t, map[string]int64{"error/invalid_response": 1}, checks(md, "hostile"))
			grew := int64(peak.Load()) - int64(before.HeapInuse)
			t.Logf("%s: the endpoint sent %.1f MiB; the heap grew by at most %.1f MiB", tc.mode, float64(sent.Load())/(1<<20), float64(grew)/(1<<20))
			assert.Less(t, grew, int64(32<<20), "bounded memory")
			said := logs.FilterMessageSnippet("got no usable answer").All()
			require.Len(t, said, 1)
			assert.Contains(t, fmt.Sprint(said[0].ContextMap()["error"]), "answer too large", "the log says which bound")
			want := "larger than"
			if tc.mode == "long-line" {
				want = "a line of the response is longer than"
			}
			assert.Contains(t, fmt.Sprint(said[0].ContextMap()["error"]), want)
		})
	}
}
