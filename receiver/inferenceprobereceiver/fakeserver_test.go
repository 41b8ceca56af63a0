package inferenceprobereceiver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeOpenAI is an OpenAI-compatible server over real HTTP whose behavior a test sets: the answer,
// a failure mode, the delay before the first streamed chunk and between chunks.
type fakeOpenAI struct {
	srv *httptest.Server

	mu         sync.Mutex
	answer     string        // content of a chat or completion
	mode       string        // "", "500", "429", "malformed", "cut", "unfinished", "hang"
	firstDelay time.Duration // before the first content chunk (after an immediate role chunk)
	chunkGap   time.Duration
	embedding  []float64
	rerankTEI  bool // answer rerank as TEI does: [{index, score}]
	models     []string

	requests atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
	lastBody atomic.Value // map[string]any
	lastAuth atomic.Value // string
}

func newFakeOpenAI(t *testing.T) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{answer: "4", embedding: []float64{0.6, 0.8, 0}, models: []string{"fake-model", "other"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", f.modelsList)
	mux.HandleFunc("POST /v1/chat/completions", f.generate)
	mux.HandleFunc("POST /v1/completions", f.generate)
	mux.HandleFunc("POST /v1/embeddings", f.embeddings)
	mux.HandleFunc("POST /v1/rerank", f.rerank)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOpenAI) url() string { return f.srv.URL + "/v1" }

func (f *fakeOpenAI) set(fn func(f *fakeOpenAI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeOpenAI) state() (answer, mode string, first, gap time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answer, f.mode, f.firstDelay, f.chunkGap
}

func (f *fakeOpenAI) modelsList(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	models := f.models
	f.mu.Unlock()
	var data []map[string]any
	for _, m := range models {
		data = append(data, map[string]any{"id": m, "object": "model", "created": 0, "owned_by": "test"})
	}
	writeJSON(w, map[string]any{"object": "list", "data": data})
}

// begin counts the request, reads its body, and applies the failure modes every endpoint shares. It
// returns false when the response is already written (or never will be).
func (f *fakeOpenAI) begin(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	f.requests.Add(1)
	n := f.inFlight.Add(1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.lastBody.Store(body)
	f.lastAuth.Store(r.Header.Get("Authorization"))
	_, mode, _, _ := f.state()
	switch mode {
	case "500":
		http.Error(w, `{"error":{"message":"engine dead","type":"InternalServerError"}}`, http.StatusInternalServerError)
		return nil, false
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"message":"too many requests"}}`, http.StatusTooManyRequests)
		return nil, false
	case "malformed":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","choices":[{"index":0,"message":{"content":"4"`)
		return nil, false
	case "hang":
		<-r.Context().Done()
		return nil, false
	}
	return body, true
}

func (f *fakeOpenAI) end() { f.inFlight.Add(-1) }

func (f *fakeOpenAI) generate(w http.ResponseWriter, r *http.Request) {
	defer f.end()
	body, ok := f.begin(w, r)
	if !ok {
		return
	}
	answer, mode, first, gap := f.state()
	chat := strings.HasSuffix(r.URL.Path, "/chat/completions")
	model, _ := body["model"].(string)
	usage := map[string]any{"prompt_tokens": 12, "completion_tokens": len(strings.Fields(answer)), "total_tokens": 12 + len(strings.Fields(answer))}
	if stream, _ := body["stream"].(bool); !stream {
		if first > 0 {
			time.Sleep(first)
		}
		choice := map[string]any{"index": 0, "finish_reason": "stop", "text": answer}
		object := "text_completion"
		if chat {
			choice = map[string]any{"index": 0, "finish_reason": "stop", "message": map[string]any{"role": "assistant", "content": answer}}
			object = "chat.completion"
		}
		writeJSON(w, map[string]any{"id": "cmpl-1", "object": object, "created": 1, "model": model, "choices": []any{choice}, "usage": usage})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	chunk := func(content string, finish any) map[string]any {
		if chat {
			return map[string]any{
				"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": content}, "finish_reason": finish}},
			}
		}
		return map[string]any{
			"id": "c", "object": "text_completion", "created": 1, "model": model,
			"choices": []any{map[string]any{"index": 0, "text": content, "finish_reason": finish}},
		}
	}
	if chat {
		// As vLLM does: the role at once, before any token.
		send(map[string]any{
			"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "finish_reason": nil}},
		})
	}
	time.Sleep(first)
	parts := strings.SplitAfter(answer, " ")
	for i, p := range parts {
		if i > 0 {
			time.Sleep(gap)
		}
		if mode == "cut" && i == 1 {
			// The connection drops mid-stream: no terminating chunk of the chunked encoding.
			hj, ok := w.(http.Hijacker)
			if ok {
				conn, _, err := hj.Hijack()
				if err == nil {
					conn.Close()
				}
			}
			return
		}
		send(chunk(p, nil))
	}
	if mode == "unfinished" {
		return // ends cleanly, but without a finish reason or [DONE]
	}
	send(chunk("", "stop"))
	u := chunk("", nil)
	u["choices"] = []any{}
	u["usage"] = usage
	send(u)
	fmt.Fprint(w, "data: [DONE]\n\n")
	fl.Flush()
}

func (f *fakeOpenAI) embeddings(w http.ResponseWriter, r *http.Request) {
	defer f.end()
	body, ok := f.begin(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	v := f.embedding
	f.mu.Unlock()
	writeJSON(w, map[string]any{
		"object": "list", "model": body["model"],
		"data":  []any{map[string]any{"object": "embedding", "index": 0, "embedding": v}},
		"usage": map[string]any{"prompt_tokens": 2, "total_tokens": 2},
	})
}

func (f *fakeOpenAI) rerank(w http.ResponseWriter, r *http.Request) {
	defer f.end()
	body, ok := f.begin(w, r)
	if !ok {
		return
	}
	docs, _ := body["documents"].([]any)
	query, _ := body["query"].(string)
	type res struct {
		i     int
		score float64
	}
	var rs []res
	for i, d := range docs {
		s, _ := d.(string)
		score := 0.01
		if strings.Contains(s, query) {
			score = 0.97
		}
		rs = append(rs, res{i, score})
	}
	f.mu.Lock()
	tei := f.rerankTEI
	f.mu.Unlock()
	if tei {
		var out []any
		for _, x := range rs {
			out = append(out, map[string]any{"index": x.i, "score": x.score})
		}
		writeJSON(w, out)
		return
	}
	var out []any
	for _, x := range rs {
		out = append(out, map[string]any{"index": x.i, "relevance_score": x.score, "document": map[string]any{"text": docs[x.i]}})
	}
	writeJSON(w, map[string]any{"id": "rerank-1", "model": body["model"], "usage": map[string]any{"total_tokens": 9}, "results": out})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
